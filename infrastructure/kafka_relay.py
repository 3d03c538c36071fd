"""The Kafka side of the relay: reaching the broker, creating the topic, and sending
one window of messages that counts as sent only when the broker acknowledged every one
of them (`acks=all`, an idempotent producer, so retries inside a window neither
duplicate nor reorder).

The producer is confluent-kafka (librdkafka, in C): kafka-python's pure-Python
producer tops out near 15,000-30,000 messages/s on the project machine, below the
relay's goal of 50,000 events/s; librdkafka sends the same messages at 50,000/s and
more there. Keys go to partitions by murmur2, as Kafka's Java and kafka-python
clients place them. Imported only when the relay runs."""

from __future__ import annotations

import re
import socket
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
    """One idempotent producer for one topic."""

    def __init__(self, bootstrap: str, topic: str, client_id: str = "lotline-relay") -> None:
        self.servers = parse_bootstrap(bootstrap)
        self.bootstrap = ",".join(f"{h}:{p}" for h, p in self.servers)
        self.topic = topic
        self.client_id = client_id
        self._producer: Any = None
        self._broker_errors: list[str] = []

    def _settings(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.bootstrap,
            "client.id": self.client_id,
            "socket.connection.setup.timeout.ms": int(CONNECT_TIMEOUT_S * 1000),
            # librdkafka logs each failed connection on stderr: the relay says it once itself.
            "log_level": 0,
            "error_cb": lambda error: self._broker_errors.append(str(error)),
        }

    def connect(self, partitions: int = DEFAULT_PARTITIONS, replication: int = 1) -> None:
        """Reaches the broker (BrokerUnreachable within seconds otherwise) and creates
        the topic when it is missing."""
        from confluent_kafka import KafkaException, Producer

        probe(self.servers)
        try:
            self.ensure_topic(partitions, replication)
            self._producer = Producer({
                **self._settings(),
                "acks": "all",
                "enable.idempotence": True,  # retries within a window neither duplicate nor reorder
                "partitioner": "murmur2_random",  # where Java and kafka-python clients put a key
                "linger.ms": LINGER_MS,
                "batch.size": BATCH_BYTES,
                "message.max.bytes": MAX_REQUEST_BYTES,
                "queue.buffering.max.messages": 1_000_000,
                "queue.buffering.max.kbytes": 1_048_576,
                "request.timeout.ms": REQUEST_TIMEOUT_MS,
                "delivery.timeout.ms": DELIVERY_TIMEOUT_MS,
            })
        except KafkaException as error:
            self.close()
            raise BrokerUnreachable(self.bootstrap, _reason(error)) from None

    def ensure_topic(self, partitions: int, replication: int) -> bool:
        """Creates the topic with `partitions` partitions when the cluster does not have
        it; True when it was created."""
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient(self._settings())
        timeout = REQUEST_TIMEOUT_MS / 1000
        if self.topic in admin.list_topics(timeout=timeout).topics:
            return False
        created = admin.create_topics([NewTopic(self.topic, num_partitions=partitions, replication_factor=replication)],
                                      request_timeout=timeout)
        try:
            created[self.topic].result(timeout)
        except KafkaException as error:
            if error.args and getattr(error.args[0], "code", lambda: None)() == KafkaError.TOPIC_ALREADY_EXISTS:
                return False
            raise
        return True

    def send(self, messages: Sequence[Message]) -> None:
        """Sends a window of messages and waits until the broker acknowledged every one;
        DeliveryFailed otherwise (then none of the window counts as published)."""
        if not messages:
            return
        producer, topic = self._producer, self.topic
        failures: list[str] = []

        def delivered(error: Any, _message: Any) -> None:
            if error is not None:
                failures.append(str(error))

        produce, poll = producer.produce, producer.poll
        for message in messages:
            while True:
                try:
                    produce(topic, message.value, message.key, headers=message.headers, on_delivery=delivered)
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    poll(0.05)
        left = producer.flush(DELIVERY_TIMEOUT_MS / 1000 + 5)
        if failures:
            raise DeliveryFailed(failures[0])
        if left:
            raise DeliveryFailed(f"{left} messages not acknowledged in time"
                                 + (f" ({self._broker_errors[-1]})" if self._broker_errors else ""))

    @property
    def connected(self) -> bool:
        return self._producer is not None

    def close(self) -> None:
        if self._producer is not None:
            try:
                self._producer.flush(0)
            except Exception:  # noqa: BLE001 - closing a producer whose broker is gone
                pass
            self._producer = None


def _reason(error: Exception) -> str:
    inner = error.args[0] if error.args else error
    return str(getattr(inner, "str", lambda: inner)())
