"""The aggregate store: the eventsourcing application that saves Lotline's aggregates
as their pydantic events (through `PydanticMapper`) and loads them back."""

from __future__ import annotations

from typing import Any

from eventsourcing.application import Application


from lotline.infrastructure.eventstore import PydanticMapper


class AggregateStore(Application):
    name = "Lotline"

    def construct_mapper(self) -> Any:
        return PydanticMapper()

    def has_history(self) -> bool:
        """Whether any event has been recorded."""
        return bool(self.recorder.max_notification_id())
