"""The event store: the eventsourcing library's SQLAlchemy recorder, with pydantic
events mapped to JSON and upcast from any older `class_version` when read."""

from __future__ import annotations

import json
import zlib
from functools import lru_cache
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic

from lotline.domain.aggregate import DomainEvent
from lotline.infrastructure.event_json import decode_event
from lotline.infrastructure.store_urls import check_store_url

COMPRESS_ABOVE = 4096
ENVELOPE_IDS = {"originator_id", "originator_version"}


class PydanticMapper(Mapper[UUID]):
    """Stores an event as its pydantic JSON; reads it back through its upcasters."""

    def __init__(self, transcoder: Transcoder | None = None) -> None:
        super().__init__(transcoder=transcoder)  # type: ignore[arg-type]

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        cls = type(domain_event)
        # pydantic's own JSON writer, in one pass: the same bytes as json.dumps of the
        # dumped state (a third of the time) except where json.dumps escapes non-ASCII
        # text, which keeps its old encoding.
        text = domain_event.model_dump_json(exclude=ENVELOPE_IDS)
        if text.isascii():
            encoded = text.encode()
            if cls.class_version > 1:
                encoded = b"%s%s\"class_version\":%d}" % (encoded[:-1], b"," if len(encoded) > 2 else b"",
                                                          cls.class_version)
        else:
            encoded = legacy_encoding(domain_event)
        if len(encoded) > COMPRESS_ABOVE:
            # Decisions carry every lot and price they read: compressed they take a
            # sixth of the space. zlib's header byte (0x78, "x") never starts JSON.
            encoded = zlib.compress(encoded, 6)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=event_topic(cls),
            state=encoded,
        )

    def to_domain_event(self, stored_event: Any) -> DomainEvent:
        cls: type[DomainEvent] = _resolve(stored_event.topic)
        return decode_event(cls, stored_event.state, stored_event.originator_id, stored_event.originator_version)


def legacy_encoding(domain_event: Any) -> bytes:
    """An event's state as it was always written: json.dumps of its JSON-mode dump,
    `class_version` last when above 1 (ASCII only: other text escaped)."""
    state = domain_event.model_dump(mode="json", exclude=ENVELOPE_IDS)
    if type(domain_event).class_version > 1:
        state["class_version"] = type(domain_event).class_version
    return json.dumps(state, separators=(",", ":")).encode()


PACKAGE = "lotline."


def event_topic(cls: type) -> str:
    """The stored name of an event class, `domain.account:Account.Opened`: independent
    of where the package is installed, so the history stays readable forever."""
    return get_topic(cls).removeprefix(PACKAGE)


@lru_cache(maxsize=None)
def resolve_event_topic(topic: str) -> type[DomainEvent]:
    """The event class a stored topic names (topics written before the `lotline`
    namespace and after it name the same classes)."""
    if not topic.startswith(PACKAGE):
        topic = PACKAGE + topic
    return resolve_topic(topic)


_resolve = resolve_event_topic


def store_env(url: str) -> dict[str, str]:
    """Settings for the eventsourcing application, passed in (not via os.environ) so
    several stores can live in one process."""
    check_store_url(url)
    if url.startswith("sqlite") and "timeout=" not in url:
        # Two processes on one SQLite file wait for each other's write lock.
        url += ("&" if "?" in url else "?") + "timeout=60"
    return {
        # The library's SQLAlchemy persistence, each event chained to the one before it.
        "PERSISTENCE_MODULE": "lotline.infrastructure.integrity:ChainedFactory",
        "SQLALCHEMY_URL": url,
        "CREATE_TABLE": "y",
    }
