"""The night across machines, on PostgreSQL and a real Kafka-protocol broker (Tansu):
`rebalance --bootstrap` publishes one task per account and waits; `lotline worker`
processes (a consumer group) analyse and record. A worker killed mid-run loses nothing,
every account ends with exactly one decision, and each decision is the one the local
night makes of the same firm and day."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import date, datetime, timezone

from sqlalchemy import create_engine, text

from lotline.application.demo import build_firm
from lotline.application.lotline import Lotline
from lotline.application.replay import replay
from tests.conftest import PINNED_NOW
from tests.helpers import store_contents
from tests.kafka_broker import free_port

START = date(2026, 3, 2)
ACCOUNTS = 30
LOTLINE = [sys.executable, "-m", "lotline.application"]


def _firm(url: str, accounts: int = ACCOUNTS, seed: int = 3) -> None:
    with Lotline(url, clock=lambda: datetime(2026, 3, 2, 12, tzinfo=timezone.utc)) as lotline:
        build_firm(lotline, accounts, seed=seed, start=START)
        lotline.catch_up()


def _decisions_recorded(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return c.execute(text("SELECT count(*) FROM lotline_events WHERE topic LIKE '%DecisionRecorded'")).scalar() or 0
    finally:
        engine.dispose()


def _worker(url: str, broker: str, topic: str, group: str) -> subprocess.Popen:
    return subprocess.Popen([*LOTLINE, "worker", "--bootstrap", broker, "--topic", topic, "--group", group,
                             "--store", url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _shown(result: dict) -> dict:
    return {d["decision_id"]: (d["trade"], d["reasons"], d["benefit"], d["orders"]) for d in result["decisions"]}


def test_two_workers_and_one_killed_decide_every_account_once_as_the_local_night(postgres, kafka_broker, tmp_path):
    url = postgres.fresh_database()
    _firm(url)
    # The same firm in another store, decided by the local night: the reference.
    local_url = f"sqlite:///{tmp_path / 'local.db'}"
    _firm(local_url)
    local = subprocess.run([*LOTLINE, "rebalance", "--date", START.isoformat(), "--workers", "1", "--store", local_url,
                            "--as", "olivia", "--json"], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "LOTLINE_NOW": PINNED_NOW})
    assert local.returncode == 0, local.stderr

    topic, group = f"lotline.analysis.{uuid.uuid4().hex[:8]}", f"night-{uuid.uuid4().hex[:8]}"
    workers = [_worker(url, kafka_broker.bootstrap, topic, group) for _ in range(3)]
    try:
        night = subprocess.Popen([*LOTLINE, "rebalance", "--bootstrap", kafka_broker.bootstrap, "--topic", topic,
                                  "--date", START.isoformat(), "--store", url, "--as", "olivia", "--json",
                                  "--timeout", "150"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Kill the third worker as soon as the first decisions are recorded, long before the last.
        deadline = time.time() + 90
        while _decisions_recorded(url) == 0 and time.time() < deadline and night.poll() is None:
            time.sleep(0.05)
        workers[2].send_signal(signal.SIGKILL)
        workers[2].wait()
        decided_at_kill = _decisions_recorded(url)
        assert 0 < decided_at_kill < ACCOUNTS, "the worker was not killed mid-run"
        out, err = night.communicate(timeout=180)
        assert night.returncode == 0, err
    finally:
        for process in workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        summaries = [process.communicate(timeout=30) for process in workers]
    # The workers still running stop cleanly on SIGTERM and say what they did.
    for process, (stdout, stderr) in zip(workers[:2], summaries[:2]):
        assert process.returncode == 0, stderr
        assert stdout.startswith("decided ")

    distributed = json.loads(out)
    assert distributed["failures"] == []
    assert len(distributed["decisions"]) == ACCOUNTS
    assert _shown(distributed) == _shown(json.loads(local.stdout))
    # Exactly one decision per account and day in the store, redelivery notwithstanding.
    assert _decisions_recorded(url) == ACCOUNTS
    # Each decision a worker made replays identically from the recorded day.
    with Lotline(url) as lotline:
        for decision in distributed["decisions"]:
            assert replay(lotline, decision["decision_id"], "olivia").identical, decision["decision_id"]
    replayed = subprocess.run([*LOTLINE, "replay", distributed["decisions"][0]["decision_id"], "--store", url],
                              capture_output=True, text=True, timeout=120)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr

    # A second night of the same day finds every account decided: no task, same decisions.
    again = subprocess.run([*LOTLINE, "rebalance", "--bootstrap", kafka_broker.bootstrap, "--topic", topic, "--date",
                            START.isoformat(), "--store", url, "--as", "olivia", "--json", "--timeout", "5"],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert _shown(json.loads(again.stdout)) == _shown(distributed)


def test_an_unreachable_broker_is_bad_input_and_records_nothing(postgres):
    url = postgres.fresh_database()
    _firm(url, accounts=3, seed=4)
    before = store_contents(url)
    dead = f"127.0.0.1:{free_port()}"
    started = time.time()
    night = subprocess.run([*LOTLINE, "rebalance", "--bootstrap", dead, "--date", START.isoformat(), "--store", url,
                            "--as", "olivia"], capture_output=True, text=True, timeout=120)
    assert night.returncode == 2, night.stderr
    assert len(night.stderr.strip().splitlines()) == 1 and "bootstrap" in night.stderr and dead in night.stderr
    assert time.time() - started < 30
    worker = subprocess.run([*LOTLINE, "worker", "--bootstrap", dead, "--store", url], capture_output=True, text=True,
                            timeout=120)
    assert worker.returncode == 2, worker.stderr
    assert len(worker.stderr.strip().splitlines()) == 1 and dead in worker.stderr
    malformed = subprocess.run([*LOTLINE, "rebalance", "--bootstrap", "kafka:ninety", "--date", START.isoformat(),
                                "--store", url, "--as", "olivia"], capture_output=True, text=True, timeout=120)
    assert malformed.returncode == 2 and "bootstrap" in malformed.stderr and "kafka:ninety" in malformed.stderr
    assert store_contents(url) == before


def test_without_workers_the_wait_times_out_naming_the_open_accounts(postgres, kafka_broker):
    url = postgres.fresh_database()
    _firm(url, accounts=3, seed=4)
    topic = f"lotline.analysis.{uuid.uuid4().hex[:8]}"
    night = subprocess.run([*LOTLINE, "rebalance", "--bootstrap", kafka_broker.bootstrap, "--topic", topic, "--date",
                            START.isoformat(), "--store", url, "--as", "olivia", "--timeout", "2"],
                           capture_output=True, text=True, timeout=120)
    assert night.returncode == 1, night.stderr
    assert "3 account(s) still open: DEMO-0001, DEMO-0002, DEMO-0003" in night.stderr
    # Workers are system's or an admin's work, not the overlay manager's.
    refused = subprocess.run([*LOTLINE, "worker", "--bootstrap", kafka_broker.bootstrap, "--topic", topic, "--store",
                              url, "--as", "olivia"], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "olivia" in refused.stderr


class _Said:
    """A worker's stderr, read line by line in a thread as it comes (a select on the pipe
    would miss lines the text reader has already buffered)."""

    def __init__(self, process: subprocess.Popen) -> None:
        import queue
        import threading

        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stderr:
            self.lines.append(line.rstrip("\n"))
            self._new.put(line)

    def until(self, wanted: str, seconds: float = 60) -> str:
        """The first line from now on that contains `wanted`."""
        import queue

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self._new.get(timeout=0.5)
            except queue.Empty:
                continue
            if wanted in line:
                return line
        raise AssertionError(f"the worker never said {wanted!r}; it said {self.lines}")

    def all(self) -> str:
        """Everything said, once the worker has ended."""
        self._reader.join(timeout=30)
        return "\n".join(self.lines)


def test_a_worker_started_before_any_night_makes_the_topic_with_every_partition_and_says_what_it_holds(
        postgres, kafka_broker):
    """A standing worker subscribed to a topic not yet made used to create it through the
    broker's auto-creation, with its default partition count (1 on a stock Kafka, 4 on
    Tansu); the night's bootstrap then found it made, and a second worker got nothing."""
    from lotline.infrastructure.kafka_tasks import PARTITIONS

    url = postgres.fresh_database()
    _firm(url, accounts=3, seed=4)
    topic, group = f"lotline.analysis.{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    first = _worker(url, kafka_broker.bootstrap, topic, group)
    first_said, second = _Said(first), None
    try:
        said = first_said.until(f"holds {PARTITIONS} partition(s) of {topic}")
        assert said.startswith("lotline worker: ") and ", ".join(map(str, range(PARTITIONS))) in said
        from kafka import KafkaConsumer

        probe = KafkaConsumer(bootstrap_servers=[kafka_broker.bootstrap])
        try:
            assert probe.partitions_for_topic(topic) == set(range(PARTITIONS))
        finally:
            probe.close()
        # A second member: the group is rebalanced and each holds half.
        second = _worker(url, kafka_broker.bootstrap, topic, group)
        _Said(second).until(f"holds {PARTITIONS // 2} partition(s) of {topic}")
        first_said.until(f"holds {PARTITIONS // 2} partition(s) of {topic}")
    finally:
        for process in (first, second):
            if process is not None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
    assert first.returncode == 0


def test_a_standing_worker_outlives_the_database_dropping_its_connections(postgres, kafka_broker):
    """A worker runs for days; the database restarts, or drops idle connections, in
    between. Its first batch then meets a dead connection: it says so, tries the batch
    again on a new one, and the night ends with every account decided (it used to die
    on that error, leaving the night to time out)."""
    import psycopg

    url = postgres.fresh_database()
    _firm(url, accounts=5, seed=4)
    topic, group = f"lotline.analysis.{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    worker = _worker(url, kafka_broker.bootstrap, topic, group)
    said = _Said(worker)
    try:
        said.until("holds 12 partition(s)")
        database = url.rsplit("/", 1)[1]
        with psycopg.connect(f"host=127.0.0.1 port={postgres.port} user=postgres dbname=postgres",
                             autocommit=True) as c:
            dropped = c.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
                                (database,)).fetchone()[0]
        assert dropped >= 1  # the worker's pooled connection
        night = subprocess.run([*LOTLINE, "rebalance", "--bootstrap", kafka_broker.bootstrap, "--topic", topic,
                                "--date", START.isoformat(), "--store", url, "--as", "olivia", "--json",
                                "--timeout", "90"], capture_output=True, text=True, timeout=180)
        assert night.returncode == 0, night.stderr
        assert len(json.loads(night.stdout)["decisions"]) == 5
        assert worker.poll() is None  # still standing
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    stderr = said.all()
    assert worker.returncode == 0, stderr
    assert "the store cannot be reached (OperationalError" in stderr and "tried again in 1 s" in stderr
    assert worker.stdout.read().startswith("decided 5,")
    assert _decisions_recorded(url) == 5


def test_the_tasks_are_dealt_evenly_over_the_partitions_so_each_worker_gets_as_many(kafka_broker):
    """By the hash of the account id, one of two workers got some 2% more tasks than the
    other, which then sat idle at the night's end."""
    from lotline.infrastructure.kafka_tasks import AnalysisTask, TaskPublisher, ensure_topic

    topic = f"lotline.analysis.{uuid.uuid4().hex[:8]}"
    ensure_topic([kafka_broker.bootstrap], topic, partitions=12)
    publisher = TaskPublisher([kafka_broker.bootstrap], topic)
    try:
        tasks = [AnalysisTask(f"ACC-{n:04d}", START, "m" * 64, "r" * 64, 1, "olivia", "overlay_manager", "password",
                              "night") for n in range(36)]
        assert publisher.publish(tasks) == 36
    finally:
        publisher.close()
    records = kafka_broker.read_all(topic)
    per_partition = {p: sum(1 for r in records if r.partition == p) for p in range(12)}
    assert per_partition == {p: 3 for p in range(12)}
    assert sorted(AnalysisTask.from_bytes(r.value).account for r in records) == [t.account for t in tasks]
    assert all(r.key == AnalysisTask.from_bytes(r.value).account.encode() for r in records)


def test_the_wait_reports_the_decisions_recorded_after_it_began_and_names_the_account_still_open(tmp_path):
    """The bootstrap's wait, in process on SQLite: progress is read from the event store,
    the results from the read models once every account is written."""
    import pytest

    from lotline.application.account_analysis import day_context
    from lotline.application.batch_analysis import rebalance_accounts
    from lotline.application.distributed_night import NightUnfinished, wait_for_accounts
    from lotline.domain.aggregate import Actor
    from lotline.domain.roles import Role

    url = f"sqlite:///{tmp_path / 'night.db'}"
    _firm(url, accounts=3, seed=4)
    with Lotline(url, clock=lambda: datetime(2026, 3, 2, 21, tzinfo=timezone.utc)) as lotline:
        since = lotline.store.recorder.max_notification_id() or 0
        actor = Actor("olivia", Role.OVERLAY_MANAGER, START, lotline.clock())
        decided = rebalance_accounts(lotline, ["DEMO-0001", "DEMO-0002"], day_context(lotline, START), actor)
        advanced: list[int] = []
        with pytest.raises(NightUnfinished, match=r"with 1 account\(s\) still open: DEMO-0003$"):
            wait_for_accounts(lotline, START, {"DEMO-0001", "DEMO-0002", "DEMO-0003"}, since, 0.6, advanced.append)
        assert sum(advanced) == 2
        results = wait_for_accounts(lotline, START, {"DEMO-0001", "DEMO-0002"}, since, 5)
    assert {a: (r.decision_id, r.trade, r.orders) for a, r in results.items()} == {
        r.account: (r.decision_id, r.trade, r.orders) for r in decided}
    assert not any(r.existing or r.failure for r in results.values())
