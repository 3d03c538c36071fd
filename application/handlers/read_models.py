"""Read models: `rebuild_projections` builds every read model again from the history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lotline.application.authorisation import authorise
from lotline.application.commands import RebuildProjections
from lotline.application.lotline import Lotline, Progress
from lotline.domain.roles import Permission


@dataclass
class Rebuilt:
    events: int  # events read
    failures: list[dict[str, Any]]  # events a read model could not apply (their accounts' reads refuse)


def rebuild_projections(cmd: RebuildProjections, lotline: Lotline, progress: Progress | None = None) -> Rebuilt:
    """Rebuilds every read model; every account but those with an event a read model
    could not apply is rebuilt, and those events are reported."""
    authorise(lotline.fresh(), cmd.user, Permission.REBUILD_PROJECTIONS, lotline.today(), lotline.clock())
    read = lotline.read_models.rebuild(progress)
    return Rebuilt(read, lotline.read_models.failures())
