"""A night worker whose store cannot be reached (a dropped connection, a database
restarting) tries its batch again after a growing wait, saying why each time, and stops
at once when told to, leaving the batch's tasks uncommitted for the next worker."""

from __future__ import annotations

import pytest
import sqlalchemy.exc

from lotline.application.distributed_night import STORE_RETRY_SECONDS, _Stopped, _until_stored


def _unreachable() -> sqlalchemy.exc.OperationalError:
    return sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly\n"
                                                                      "\tThis probably means the server terminated"))


def test_the_batch_is_tried_again_after_growing_waits_until_the_store_answers():
    attempts, said, slept = [], [], []

    def work() -> str:
        attempts.append(1)
        if len(attempts) <= 7:
            raise _unreachable()
        return "recorded"

    assert _until_stored(work, said.append, lambda: False, slept.append) == "recorded"
    assert len(attempts) == 8
    waits = [int(line.rsplit(" in ", 1)[1].split()[0]) for line in said]
    assert waits == [1, 2, 5, 10, 30, 30, 30] and list(STORE_RETRY_SECONDS) == waits[:5]
    assert sum(slept) == pytest.approx(sum(waits))
    # One line each, naming the error and its first line only.
    assert all("OperationalError" in line and "server closed the connection" in line and "\n" not in line
               for line in said)


def test_a_worker_told_to_stop_while_the_store_is_down_stops_within_a_tenth_of_a_second():
    slept: list[float] = []

    def work() -> str:
        raise _unreachable()

    with pytest.raises(_Stopped):
        _until_stored(work, None, lambda: len(slept) >= 3, slept.append)
    assert sum(slept) == pytest.approx(0.3)


def test_an_error_of_the_work_itself_is_not_retried():
    def work() -> str:
        raise ValueError("not the store")

    slept: list[float] = []
    with pytest.raises(ValueError):
        _until_stored(work, None, lambda: False, slept.append)
    assert slept == []
