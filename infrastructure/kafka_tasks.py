"""The night's analysis tasks on Kafka: one message per account on `lotline.analysis`
(key = account id), published by `rebalance --bootstrap` and taken by `lotline worker`
processes, a consumer group. A worker commits a task's offset only after the task's
decision (or failure) is recorded, so a worker killed at any point loses nothing: the
group hands its uncommitted tasks to another worker, and the store keeps one decision
per account and day.

Topic: created with `PARTITIONS` partitions when missing (a consumer group spreads
partitions over its members, so more workers than partitions leaves some idle).
kafka is imported here, never at CLI start."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from lotline.domain.errors import InvalidInput

TOPIC = "lotline.analysis"
PARTITIONS = 12
GROUP = "lotline-workers"

# Short enough that an unreachable broker is reported within seconds, not Kafka's 30 s.
CONNECT_TIMEOUT_MS = 5000
# A member that stops heartbeating is out of the group after 6 s: its partitions (and
# tasks not committed) go to the others. The heartbeat runs in its own thread, so a long
# analysis does not count; `MAX_POLL_INTERVAL_MS` bounds one batch's work instead.
GROUP_TIMEOUTS = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}
MAX_POLL_INTERVAL_MS = 300_000
TASKS_PER_POLL = 25  # one batch of decisions committed together, then the offsets


@dataclass(frozen=True)
class AnalysisTask:
    """Analyse `account` on `date` with the day prepared by the bootstrap: the stored
    market snapshot (`market_digest`), the risk model estimated from it
    (`risk_digest`, checked by the worker), the firm settings at `settings_version`; the
    decision is recorded for `user` acting as `role` (who asked for the night)."""

    account: str
    date: date
    market_digest: str
    risk_digest: str
    settings_version: int
    user: str
    role: str
    auth: str
    night: str

    def to_bytes(self) -> bytes:
        data: dict[str, Any] = dict(vars(self))
        data["date"] = self.date.isoformat()
        return json.dumps(data, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, value: bytes) -> AnalysisTask:
        data = json.loads(value)
        data["date"] = date.fromisoformat(data["date"])
        return cls(**data)


def parse_bootstrap(value: str | None) -> list[str]:
    """`HOST:PORT[,HOST:PORT...]`, as Kafka clients take it."""
    if value is None or not value.strip():
        raise InvalidInput("required: the Kafka bootstrap servers, HOST:PORT", "bootstrap")
    servers = [s.strip() for s in value.split(",")]
    for server in servers:
        match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})", server)
        if match is None or not 0 < int(match.group(2)) < 65536:
            raise InvalidInput(f"must be HOST:PORT, got {server[:80]!r}", "bootstrap")
    return servers


def parse_topic(value: str | None) -> str:
    """A Kafka topic name (default `TOPIC`)."""
    if value is None:
        return TOPIC
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,249}", value) or value in (".", ".."):
        raise InvalidInput(f"must be a Kafka topic name (letters, digits, '.', '_', '-'), got {value[:80]!r}", "topic")
    return value


def _unreachable(servers: list[str], error: Exception) -> InvalidInput:
    return InvalidInput(f"cannot reach the Kafka broker at {','.join(servers)}: {type(error).__name__}", "bootstrap")


def ensure_topic(servers: list[str], topic: str = TOPIC, partitions: int = PARTITIONS) -> None:
    """Creates the topic with `partitions` partitions unless it exists (auto-created
    topics get the broker's default, often too few for the workers)."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    try:
        admin = KafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=CONNECT_TIMEOUT_MS,
                                 bootstrap_timeout_ms=CONNECT_TIMEOUT_MS, client_id="lotline-night")
    except KafkaError as error:
        raise _unreachable(servers, error) from None
    try:
        if topic in set(admin.list_topics()):
            return
        try:
            admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
        except TopicAlreadyExistsError:  # another bootstrap got there first
            pass
    finally:
        admin.close()


class TaskPublisher:
    """Publishes tasks and waits for the broker's acknowledgement (`acks=all`)."""

    def __init__(self, servers: list[str], topic: str = TOPIC) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        self.topic = topic
        try:
            self._producer = KafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=20,
                                           request_timeout_ms=CONNECT_TIMEOUT_MS * 2,
                                           bootstrap_timeout_ms=CONNECT_TIMEOUT_MS, max_block_ms=CONNECT_TIMEOUT_MS * 2,
                                           client_id="lotline-night")
        except KafkaError as error:
            raise _unreachable(servers, error) from None

    def publish(self, tasks: Iterable[AnalysisTask], chunk: int = 2000) -> int:
        """Sends the tasks, `chunk` at a time acknowledged before the next (so a night of
        any size holds one chunk's futures); raises when the broker refused one. The
        tasks are dealt to the partitions in turn, not by the hash of their key: each
        worker then gets as many tasks as the others (give or take one a partition), where
        hashing left one of two workers some 2% more and the other idle at the end."""
        partitions = sorted(self._producer.partitions_for(self.topic) or {0})
        count, sent = 0, []
        for i, task in enumerate(tasks):
            sent.append(self._producer.send(self.topic, key=task.account.encode(), value=task.to_bytes(),
                                            partition=partitions[i % len(partitions)]))
            if len(sent) >= chunk:
                count += self._acknowledged(sent)
        return count + self._acknowledged(sent)

    def _acknowledged(self, sent: list) -> int:
        self._producer.flush()
        for future in sent:
            future.get(timeout=CONNECT_TIMEOUT_MS / 1000)
        count = len(sent)
        sent.clear()
        return count

    def close(self) -> None:
        self._producer.close(timeout=5)


@dataclass
class Received:
    """A record taken from the topic: its task, or why it is not one."""

    task: AnalysisTask | None
    problem: str | None = None


class TaskConsumer:
    """A member of the workers' consumer group. Offsets are committed only by
    `commit()`, after the batch's decisions are recorded. `assigned` is told the
    partitions this member holds after each rebalance of the group.

    The topic is made (with `PARTITIONS`) before joining, and the consumer never creates
    one: a worker started before the first night would otherwise subscribe the topic into
    being with the broker's default partition count (1 on a stock Kafka), and the
    bootstrap would then find it made, leaving every worker but one idle."""

    def __init__(self, servers: list[str], group: str = GROUP, topic: str = TOPIC,
                 assigned: Callable[[list[int]], None] | None = None) -> None:
        from kafka import ConsumerRebalanceListener, KafkaConsumer
        from kafka.errors import KafkaError

        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked: Any) -> None:
                pass

            def on_partitions_assigned(self, partitions: Any) -> None:
                if assigned is not None:
                    assigned(sorted(p.partition for p in partitions))

        ensure_topic(servers, topic)
        try:
            self._consumer = KafkaConsumer(
                bootstrap_servers=servers, group_id=group, enable_auto_commit=False, allow_auto_create_topics=False,
                auto_offset_reset="earliest", max_poll_records=TASKS_PER_POLL, max_poll_interval_ms=MAX_POLL_INTERVAL_MS,
                request_timeout_ms=CONNECT_TIMEOUT_MS * 6, bootstrap_timeout_ms=CONNECT_TIMEOUT_MS,
                client_id="lotline-worker", **GROUP_TIMEOUTS,
            )
        except KafkaError as error:
            raise _unreachable(servers, error) from None
        self._consumer.subscribe([topic], listener=Listener())

    def poll(self, timeout_s: float) -> list[Received]:
        batches = self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=TASKS_PER_POLL)
        out = []
        for records in batches.values():
            for record in records:
                try:
                    out.append(Received(AnalysisTask.from_bytes(record.value)))
                except (ValueError, TypeError, KeyError) as error:
                    out.append(Received(None, f"offset {record.offset} of partition {record.partition}: not a task "
                                              f"({type(error).__name__})"))
        return out

    def commit(self) -> bool:
        """Commits the offsets of what was taken; False when the group was rebalanced
        meanwhile (this member held the batch past `MAX_POLL_INTERVAL_MS`): its tasks
        then go to the partitions' new holders, who find those recorded already done."""
        from kafka.errors import CommitFailedError

        try:
            self._consumer.commit()
        except CommitFailedError:
            return False
        return True

    def close(self) -> None:
        self._consumer.close(autocommit=False)
