"""Kafka relay benchmark: events per second `lotline publish` sends from the ledger
benchmark's store (1,000,000 trade events over 10,000 accounts) to a real
Kafka-protocol broker (Tansu), and the lag of `lotline publish --follow` while a night
runs (rebalance, approve, fill of a demo firm).

    python benchmarks/relay.py                                   # writes the ledger store first
    python benchmarks/relay.py --store sqlite:///PATH/ledger.db  # a store benchmarks/ledger.py wrote
    python benchmarks/relay.py --store ... --skip-lag            # throughput only

`publish` runs in a child process of its own (its peak memory is its own), to a fresh
topic each run (so from position 0). Beside it, in this process, the reference: the
same number of messages of the relay's average size sent by the producer alone (no
store, no decoding), which is the ceiling the relay can approach. The store gets a
`relay_positions` row per run's topic; nothing else is written to it. Goal: at least
50,000 events/s."""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GOAL = 50_000


def lotline(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lotline.application", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, check=check)


def measure_publish(url: str, bootstrap: str, topic: str) -> dict:
    """The relay in a child process: wall time, and its CPU time (user + system, which a
    busy machine does not inflate the way it does the wall time)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = lotline("publish", "--bootstrap", bootstrap, "--topic", topic, "--store", url, "--json")
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = json.loads(done.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"published": report["published"], "seconds": seconds, "events_per_second": report["published"] / seconds,
            "cpu_seconds": cpu, "events_per_cpu_second": report["published"] / cpu, "peak_mb": after.ru_maxrss / 1024}


def average_message(url: str, limit: int = 2000) -> tuple[bytes, bytes, list]:
    """A message of the relay's own making (its average size), from the store's trades."""
    from lotline.application.handlers.publish import Messages
    from lotline.application.lotline import Lotline
    from lotline.infrastructure.relay_position import RelayLog
    from lotline.projections.messages import published_by_default, stored_topics

    with Lotline(url) as store:
        log = RelayLog(store.store.recorder)
        window = log.window(0, limit * 5, set(stored_topics(published_by_default())))[:limit]
        built = Messages(store, log).of(window)
    size = sum(len(value) for _, value, _ in built) // max(1, len(built))
    return min(built, key=lambda message: abs(len(message[1]) - size))


def stage_costs(url: str, count: int = 100_000) -> tuple[float, float]:
    """CPU microseconds an event of the relay's two stages outside the producer: reading
    the log, and building the messages (what the second process does for a backlog)."""
    from lotline.application.handlers.publish import Messages
    from lotline.application.lotline import Lotline
    from lotline.infrastructure.relay_position import RelayLog
    from lotline.projections.messages import published_by_default, stored_topics

    with Lotline(url) as store:
        log = RelayLog(store.store.recorder)
        topics = set(stored_topics(published_by_default()))
        Messages(store, log).of(log.window(0, 100, topics))  # imports and caches warm
        cpu = time.process_time()
        window = log.window(0, count, topics)
        read = time.process_time() - cpu
        cpu = time.process_time()
        Messages(store, log).of(window)
        built = time.process_time() - cpu
    return read / len(window) * 1e6, built / len(window) * 1e6


def reference_producer(bootstrap: str, topic: str, count: int, message: tuple[bytes, bytes, list]) -> float:
    """Messages/s of the relay's producer settings alone (no store, no decoding)."""
    from lotline.infrastructure.kafka_relay import KafkaRelay, Message

    relay = KafkaRelay(bootstrap, topic)
    relay.connect()
    key, value, headers = message
    # Keys spread like accounts, so every partition takes its share.
    messages = [Message(f"{key.decode()}-{n % 10_000}".encode(), value, headers) for n in range(count)]
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, count, 10_000):
        relay.send(messages[start:start + 10_000])
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    relay.close()
    return count / seconds, count / cpu


def measure_lag(bootstrap: str, accounts: int, folder: Path) -> dict:
    """The lag of `publish --follow` while a night runs: from the store recording each
    event (`recorded_at`) to a consumer receiving it, for the night's events."""
    from kafka import KafkaConsumer, TopicPartition

    url = f"sqlite:///{folder / 'night.db'}"
    lotline("demo", "--accounts", str(accounts), "--days", "1", "--store", url, "--json")
    topic = f"bench-lag-{int(time.time())}"
    env = {"LOTLINE_USER": "system"}
    # Publish the history first, so the lag measured is the night's only.
    history = json.loads(lotline("publish", "--bootstrap", bootstrap, "--topic", topic, "--store", url, "--json",
                                 env=env).stdout)["position"]
    follower = subprocess.Popen([sys.executable, "-m", "lotline.application", "publish", "--bootstrap", bootstrap,
                                 "--topic", topic, "--follow", "--store", url], env={**os.environ, **env},
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    follower.stdout.readline()  # "following the store into ... from position P": it is connected and polling
    threading.Thread(target=lambda: [None for _ in follower.stdout], daemon=True).start()  # drain what it prints
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=500)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    consumer.assign(partitions)
    consumer.seek_to_end(*partitions)
    for p in partitions:
        consumer.position(p)
    lags: list[float] = []
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            for record in consumer:
                received = time.time()
                message = json.loads(record.value)
                # Only the night's (Tansu's end offsets can put "the end" inside the history's last batch).
                if message["position"] > history:
                    lags.append(received - datetime.fromisoformat(message["recorded_at"]).timestamp())

    reader = threading.Thread(target=consume)
    reader.start()
    night = "2026-03-03"  # the demo's day after its first
    started = time.perf_counter()
    try:
        for step in (("rebalance", "--date", night), ("approve", "--date", night), ("fill", "--date", night)):
            lotline(*step, "--store", url, "--as", "olivia")
        night_seconds = time.perf_counter() - started
        time.sleep(3)  # the last events' way to the consumer
    finally:
        stop.set()
        reader.join()
        consumer.close()
        follower.terminate()
        follower.wait()
    lags.sort()
    return {"events": len(lags), "night_seconds": night_seconds,
            "median_s": statistics.median(lags) if lags else None,
            "p95_s": lags[int(len(lags) * 0.95) - 1] if lags else None, "max_s": lags[-1] if lags else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", help="a ledger store benchmarks/ledger.py wrote (else one is written)")
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--bootstrap", help="a Kafka cluster (else a Tansu broker is started)")
    parser.add_argument("--reference", type=int, default=200_000, help="messages the reference producer sends")
    parser.add_argument("--night-accounts", type=int, default=40)
    parser.add_argument("--skip-lag", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="lotline-relay-bench-"))
    url = args.store
    if url is None:
        from benchmarks.ledger import write_history

        url = f"sqlite:///{folder / 'ledger.db'}"
        started = time.perf_counter()
        written = write_history(url, args.accounts, args.events, 7)
        print(f"wrote {written:,} trade events over {args.accounts:,} accounts in {time.perf_counter() - started:.1f} s ({url})")
    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        from tests.kafka_broker import TansuBroker, free_port

        broker = TansuBroker(free_port(), folder / "tansu.log")
        broker.start()
        bootstrap = broker.bootstrap
    try:
        run = int(time.time())
        os.environ["LOTLINE_USER"] = "system"
        publish = measure_publish(url, bootstrap, f"bench-relay-{run}")
        reference, reference_cpu = reference_producer(bootstrap, f"bench-reference-{run}", args.reference,
                                                      average_message(url))
        print(f"{'measurement':46} {'events':>10} {'seconds':>8} {'events/s':>10} {'per CPU s':>10} {'peak MB':>8}")
        print(f"{'lotline publish (store -> Tansu, acknowledged)':46} {publish['published']:>10,} "
              f"{publish['seconds']:>8.1f} {publish['events_per_second']:>10,.0f} {publish['events_per_cpu_second']:>10,.0f} "
              f"{publish['peak_mb']:>8.0f}")
        print(f"{'reference: the producer alone, same messages':46} {args.reference:>10,} {'':>8} {reference:>10,.0f} "
              f"{reference_cpu:>10,.0f}")
        read_us, build_us = stage_costs(url)
        print(f"CPU per event: reading the log {read_us:.1f} us, building the message {build_us:.1f} us (second "
              f"process); the producer alone {1e6 / reference_cpu:.1f} us; the relay in all {1e6 / publish['events_per_cpu_second']:.1f} us")
        print(f"relay / reference: {publish['events_per_second'] / reference:.2f} (wall), "
              f"{publish['events_per_cpu_second'] / reference_cpu:.2f} (per CPU second); goal: at least {GOAL:,} events/s "
              "(per CPU second: what one free core gives; the broker's own CPU is not counted)")
        if not args.skip_lag:
            lag = measure_lag(bootstrap, args.night_accounts, folder)
            if lag["events"]:
                print(f"publish --follow during a night of {args.night_accounts} accounts ({lag['night_seconds']:.1f} s): "
                      f"{lag['events']} events, lag median {lag['median_s']:.3f} s, p95 {lag['p95_s']:.3f} s, "
                      f"max {lag['max_s']:.3f} s (recorded -> received by a consumer)")
            else:
                print("publish --follow during a night: no events received")
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
