"""The Kafka side of the relay (kafka-python, imported only here): reaching the broker,
creating the topic, and sending one window of messages that counts as sent only when
the broker acknowledged every one of them (`acks=all`, an idempotent producer, so
retries inside a window neither duplicate nor reorder).

A window is handed to the producer as whole record batches, not message by message.
kafka-python's `send` is pure Python, about 24 µs of CPU per message here (partition,
accumulator, a future per record, the record's encoding); it was the relay's largest
cost and ran in the one process that sends. So `record_batches` writes each
partition's records with kafka-python's own batch builder (message format v2: Kafka
0.11 and later) in the process that builds the messages, and `send_batches` puts the
finished batches into the producer's accumulator, where its sender thread does what
it does for batches it filled itself: stamps the producer id, epoch and sequence,
writes the checksum, routes each batch to its partition's leader, retries and keeps
per-partition order (up to 5 requests in flight, as idempotence allows).

Each key's partition is Kafka's murmur2 of the key (what kafka-python's default
partitioner and the Java client compute), worked out once per key. Imported only when
the relay runs."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from lotline.domain.errors import InvalidInput, LotlineError
from lotline.domain.values import shown

DEFAULT_PARTITIONS = 6
# Short enough that a broker that went away is noticed in seconds, not minutes.
REQUEST_TIMEOUT_MS = 10_000
DELIVERY_TIMEOUT_MS = 15_000
CONNECT_TIMEOUT_S = 3.0
LINGER_MS = 5
BATCH_BYTES = 512 * 1024
MAX_REQUEST_BYTES = 8 * 1024 * 1024


class BrokerUnreachable(LotlineError):
    """No broker answers at the bootstrap address (exit 2 at start; retried while following)."""

    def __init__(self, address: str, problem: str) -> None:
        self.address = address
        self.problem = problem
        super().__init__(f"cannot reach Kafka broker at {address} ({problem})")


class DeliveryFailed(LotlineError):
    """The broker did not acknowledge a window: nothing of it counts as published."""


class Message(NamedTuple):
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def parse_bootstrap(text: str) -> list[tuple[str, int]]:
    """`HOST:PORT[,HOST:PORT...]`, checked (InvalidInput on `bootstrap` otherwise)."""
    servers = []
    for part in (text or "").split(","):
        match = re.fullmatch(r"\s*(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})\s*", part)
        if not match or not 0 < int(match.group(2)) < 65536:
            raise InvalidInput(f"must be HOST:PORT (several separated by commas), got {shown(text)}", "bootstrap")
        servers.append((match.group(1).strip("[]"), int(match.group(2))))
    return servers


def probe(servers: Sequence[tuple[str, int]], timeout: float = CONNECT_TIMEOUT_S) -> None:
    """A TCP connection to one of the bootstrap servers, within seconds; else
    BrokerUnreachable naming the first address and why."""
    problems = []
    for host, port in servers:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return
        except OSError as error:
            problems.append(error.strerror or type(error).__name__ if not isinstance(error, socket.timeout)
                            else f"no answer within {timeout:g} s")
    host, port = servers[0]
    raise BrokerUnreachable(f"{host}:{port}", problems[0] if problems else "no address")


class KafkaRelay:
    """One idempotent producer for one topic, and the topic's partition count (which
    `record_batches` needs to place each key)."""

    def __init__(self, bootstrap: str, topic: str, client_id: str = "lotline-relay") -> None:
        self.servers = parse_bootstrap(bootstrap)
        self.bootstrap = ",".join(f"{h}:{p}" for h, p in self.servers)
        self.topic = topic
        self.client_id = client_id
        self.idempotent = False
        self._producer: Any = None
        self._partitions = 0

    def _common(self) -> dict[str, Any]:
        return {"bootstrap_servers": self.bootstrap, "client_id": self.client_id,
                "request_timeout_ms": REQUEST_TIMEOUT_MS, "bootstrap_timeout_ms": REQUEST_TIMEOUT_MS,
                "reconnect_backoff_max_ms": 1000}

    def connect(self, partitions: int = DEFAULT_PARTITIONS, replication: int = 1) -> None:
        """Reaches the broker (BrokerUnreachable within seconds otherwise) and creates
        the topic when it is missing."""
        from kafka.errors import KafkaError

        probe(self.servers)
        try:
            self.ensure_topic(partitions, replication)
            self._producer = self._new_producer()
            found = self._producer.partitions_for(self.topic)
        except KafkaError as error:
            self.close()
            raise BrokerUnreachable(self.bootstrap, f"{type(error).__name__}: {error}") from None
        self._partitions = len(found)
        if self._producer._accumulator.config["message_version"] < 2:
            self.close()
            raise BrokerUnreachable(self.bootstrap, "the broker is older than Kafka 0.11 (no record batches v2)")

    @property
    def partitions(self) -> int:
        """The topic's partition count (known once connected)."""
        return self._partitions

    def _new_producer(self) -> Any:
        """Idempotent where the broker supports it (Kafka 0.11 and later; Tansu does).
        Otherwise one request in flight per connection, so a retried request cannot
        overtake the next one and per-key order still holds (a retry may then duplicate,
        which at-least-once delivery allows: the `event_id` is stable)."""
        from kafka import KafkaProducer
        from kafka.errors import KafkaConfigurationError

        settings = dict(self._common(), acks="all", linger_ms=LINGER_MS, batch_size=BATCH_BYTES,
                        max_request_size=MAX_REQUEST_BYTES, delivery_timeout_ms=DELIVERY_TIMEOUT_MS,
                        max_block_ms=REQUEST_TIMEOUT_MS, compression_type=None)
        try:
            producer = KafkaProducer(**settings, enable_idempotence=True, max_in_flight_requests_per_connection=5)
            self.idempotent = True
        except KafkaConfigurationError:  # a broker older than 0.11: no producer ids
            producer = KafkaProducer(**settings, enable_idempotence=False, max_in_flight_requests_per_connection=1)
            self.idempotent = False
        return producer

    def ensure_topic(self, partitions: int, replication: int) -> bool:
        """Creates the topic with `partitions` partitions when the cluster does not have
        it; True when it was created."""
        from kafka.admin import KafkaAdminClient, NewTopic
        from kafka.errors import TopicAlreadyExistsError

        admin = KafkaAdminClient(**self._common())
        try:
            if self.topic in set(admin.list_topics()):
                return False
            try:
                admin.create_topics([NewTopic(self.topic, num_partitions=partitions, replication_factor=replication)])
            except TopicAlreadyExistsError:
                return False
            return True
        finally:
            admin.close()

    def send_batches(self, batches: Sequence[tuple[int, Any, int]]) -> None:
        """Sends a window's record batches (`record_batches`, in order) through the
        producer and waits until the broker acknowledged every one; DeliveryFailed
        otherwise (then none of the window counts as published)."""
        from kafka.errors import KafkaError
        from kafka.producer.producer_batch import FinalState, ProducerBatch
        from kafka.record.memory_records import MemoryRecordsBuilder
        from kafka.structs import TopicPartition

        if not batches:
            return
        producer = self._producer
        accumulator = producer._accumulator
        handed: list[Any] = []
        try:
            for partition, builder, count in batches:
                # What the accumulator makes when a record does not fit the open batch,
                # with the records already written.
                records = MemoryRecordsBuilder(2, 0, BATCH_BYTES)
                records._builder, records._next_offset = builder, count
                where = TopicPartition(self.topic, partition)
                batch = ProducerBatch(where, records)
                with accumulator._tp_lock(where):
                    accumulator._batches[where].append(batch)
                    accumulator._incomplete.add(batch)
                handed.append(batch)
            producer.flush(timeout=DELIVERY_TIMEOUT_MS / 1000 + 5)
        except KafkaError as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}") from None
        for batch in handed:  # every one acknowledged, or the window does not count
            if not batch.produce_future.is_done:
                raise DeliveryFailed("the broker did not acknowledge the window in time")
            if batch.final_state is not FinalState.SUCCEEDED:  # failed, expired or aborted
                _, _, problem_of = batch.produce_future.value
                problem = problem_of(0) if problem_of is not None else "not acknowledged"
                raise DeliveryFailed(f"{type(problem).__name__}: {problem}")

    @property
    def connected(self) -> bool:
        return self._producer is not None

    def close(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=2)
            except Exception:  # noqa: BLE001 - closing a producer whose broker is gone
                pass
            self._producer = None


def record_batches(messages: Sequence[Message], partitions: int,
                   partition_of: dict[bytes, int] | None = None) -> list[tuple[int, Any, int]]:
    """The messages as Kafka record batches: (partition, kafka-python's batch builder
    with the records written, record count), each batch at most BATCH_BYTES, each
    partition's in the messages' order. The producer id, epoch, sequence and checksum
    are written when the producer sends them. Plain data: built in one process, sent
    from another."""
    from kafka.partitioner.default import murmur2
    from kafka.record.default_records import DefaultRecordBatchBuilder

    if partition_of is None:
        partition_of = {}
    elif len(partition_of) > 200_000:
        partition_of.clear()
    timestamp = int(time.time() * 1000)
    open_batches: dict[int, list[Any]] = {}
    finished: list[tuple[int, Any, int]] = []
    for key, value, headers in messages:
        partition = partition_of.get(key)
        if partition is None:
            partition = partition_of[key] = (murmur2(key) & 0x7FFFFFFF) % partitions
        current = open_batches.get(partition)
        if current is None:
            current = open_batches[partition] = [DefaultRecordBatchBuilder(2, 0, False, -1, -1, -1, BATCH_BYTES), 0]
        if current[0].append(current[1], timestamp, key, value, headers) is None:  # full: the next batch
            finished.append((partition, current[0], current[1]))
            current[0], current[1] = DefaultRecordBatchBuilder(2, 0, False, -1, -1, -1, BATCH_BYTES), 0
            current[0].append(0, timestamp, key, value, headers)
        current[1] += 1
    finished.extend((partition, builder, count) for partition, (builder, count) in open_batches.items())
    return finished
