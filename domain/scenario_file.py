"""A scenario file that was applied, known by the SHA-256 of its bytes, so that loading
the very same file again is skipped as a whole (and says when and by whom it was
loaded). Recorded in the same unit of work as the file's own events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lotline.domain.aggregate import Actor, Aggregate, DomainEvent, aggregate_id
from lotline.domain.errors import InvalidInput, RuleRefused


@dataclass(frozen=True)
class EntryKey:
    """A dated entry of a scenario file that carries an `id`: the id, and a digest of
    the entry's content so that a later entry with the same id can be judged the same
    (skipped) or different (refused)."""

    entry_id: str
    digest: str

    def fields(self) -> dict[str, Any]:
        """The fields an event records for this entry."""
        return {"entry_id": self.entry_id, "entry_digest": self.digest}


def already_recorded(recorded: Mapping[str, str | None], entry: EntryKey | None, owner: str) -> bool:
    """True when the entry's id is recorded with the same content (the entry is then a
    no-op); RuleRefused when it is recorded with other content; False when it is new."""
    if entry is None:
        return False
    if not entry.entry_id or not entry.entry_id.strip():
        raise InvalidInput("must not be empty", "id")
    if entry.entry_id not in recorded:
        return False
    if recorded[entry.entry_id] == entry.digest:
        return True
    raise RuleRefused(f"entry id {entry.entry_id!r} is already recorded on {owner} with other content", "id")


class ScenarioFile(Aggregate):
    sha256: str
    file_name: str
    loaded_at: str
    loaded_by: tuple[str, ...]
    events: int

    class Loaded(DomainEvent):
        file_name: str
        sha256: str
        events: int  # the events the file recorded (this one not counted)
        closes: int = 0
        users: tuple[str, ...] = ()  # who acted on the file's entries, in order of first act

        def apply(self, scenario_file: ScenarioFile) -> None:
            scenario_file.sha256 = self.sha256
            scenario_file.file_name = self.file_name
            scenario_file.loaded_at = self.timestamp.isoformat()
            scenario_file.loaded_by = self.users or (self.actor,)
            scenario_file.events = self.events

    @staticmethod
    def id_for(sha256: str):
        return aggregate_id("scenario-file", sha256)

    @classmethod
    def loaded(
        cls, file_name: str, sha256: str, events: int, closes: int, users: tuple[str, ...], actor: Actor
    ) -> ScenarioFile:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise InvalidInput(f"must be a lower-case hex SHA-256, got {sha256!r}", "sha256")
        if events < 0 or closes < 0:
            raise InvalidInput(f"counts must not be negative, got {events} events, {closes} closes", "events")
        return cls._start(
            cls.id_for(sha256), cls.Loaded, actor,
            file_name=file_name, sha256=sha256, events=events, closes=closes, users=tuple(users),
        )
