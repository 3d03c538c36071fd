"""The eventsourcing application that holds Lotline's aggregates."""

from __future__ import annotations

from typing import Any

from eventsourcing.application import Application

from lotline.infrastructure.eventstore import PydanticMapper


class EventStore(Application):
    name = "Lotline"

    def construct_mapper(self) -> Any:
        return PydanticMapper()
