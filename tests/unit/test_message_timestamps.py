"""A message's `timestamp` is the decoded event's `isoformat()`; the relay writes it
straight from the stored text where pydantic's UTC form allows, and must write the
same."""

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import BaseModel

from lotline.projections.messages import _as_isoformat


class Stamped(BaseModel):
    at: datetime


@pytest.mark.parametrize("moment", [
    datetime(2026, 1, 2, 21, 0, 0, tzinfo=timezone.utc),
    datetime(2026, 1, 2, 21, 0, 0, 400000, tzinfo=timezone.utc),
    datetime(2026, 1, 2, 21, 0, 0, 1, tzinfo=timezone.utc),
    datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
    datetime(2026, 1, 2, 21, 0, 0, 250, tzinfo=timezone(timedelta(hours=-5))),
    datetime(2026, 1, 2, 21, 0, 0),
])
def test_a_stored_timestamp_is_written_as_the_decoded_events_isoformat(moment: datetime):
    stored = Stamped(at=moment).model_dump(mode="json")["at"]
    assert _as_isoformat(stored) == datetime.fromisoformat(stored).isoformat() == moment.isoformat()


def test_forms_pydantic_does_not_write_still_come_out_as_datetime_writes_them():
    for stored in ("2026-01-02T21:00:00.000000Z", "2026-01-02T21:00:00.5Z", "2026-01-02T21:00:00+00:00"):
        assert _as_isoformat(stored) == datetime.fromisoformat(stored).isoformat()
