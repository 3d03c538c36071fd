"""Kafka relay benchmark: events per second `lotline publish` sends from the ledger
benchmark's store (1,000,000 trade events over 10,000 accounts) to a real
Kafka-protocol broker (Tansu), and the lag of `lotline publish --follow` while a night
runs (rebalance, approve, fill of a demo firm).

    python benchmarks/relay.py                                   # writes the ledger store first
    python benchmarks/relay.py --store sqlite:///PATH/ledger.db  # a store benchmarks/ledger.py wrote
    python benchmarks/relay.py --store ... --skip-lag            # throughput only
    python benchmarks/relay.py --store ... --reference ../main --runs 3   # against another checkout

`publish` runs in a child process of its own (its peak memory is its own), to a fresh
topic each run (so from position 0), on a fresh broker when this script started it
(Tansu keeps every record in memory). Besides the wall-clock rate, each run prints the
CPU time per event of the relay's processes (the sender and its builder processes:
user + system, which a busy machine does not inflate the way it does the wall time)
and of the broker. With `--reference DIR` (another checkout of Lotline), the relay also
runs with that checkout's code, alternating with this one's, and the ratios of the
medians are printed. Then the CPU per event of the relay's stages in one process:
reading the log, writing the messages, encoding the record batches. The store gets a
`relay_positions` row per run's topic; nothing else is written to it. Goal: at least
50,000 events/s."""

from __future__ import annotations

import argparse
import json
import os
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

from benchmarks.cli import reference_path  # noqa: E402
from benchmarks.daily_run import process_stat  # noqa: E402

GOAL = 50_000


def lotline(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lotline.application", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, check=check)


def cpu_seconds_of(pid: int | None) -> float:
    """A running process's CPU time so far (user + system; 0 when unknown)."""
    if pid is None:
        return 0.0
    try:
        return process_stat(pid)[1] / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def measure_publish(url: str, bootstrap: str, topic: str, broker_pid: int | None = None,
                    env: dict[str, str] | None = None) -> dict:
    """The relay in a child process: wall time, and its CPU time with its builder
    processes' (its children, waited for: wait4 counts them with it), its peak memory
    (the largest of them), and the broker's CPU time."""
    broker_before = cpu_seconds_of(broker_pid)
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen([sys.executable, "-m", "lotline.application", "publish", "--bootstrap", bootstrap,
                                    "--topic", topic, "--store", url, "--json"], env={**os.environ, **(env or {})},
                                   stdout=subprocess.PIPE, stderr=errors, text=True)
        out = process.stdout.read()
        process.stdout.close()
        _, status, usage = os.wait4(process.pid, 0)  # reaped here, with its own resource usage
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            errors.seek(0)
            sys.exit(f"publish exited {process.returncode}: {errors.read().strip()}")
    broker_cpu = cpu_seconds_of(broker_pid) - broker_before
    count = json.loads(out)["published"]
    return {"published": count, "seconds": seconds, "events_per_second": count / seconds,
            "cpu_us": (usage.ru_utime + usage.ru_stime) / count * 1e6,
            "broker_cpu_us": broker_cpu / count * 1e6 if broker_pid else None, "peak_mb": usage.ru_maxrss / 1024}


def stage_costs(url: str, count: int = 100_000) -> tuple[float, float, float]:
    """CPU microseconds an event of the relay's stages, in one process: reading the log,
    writing the messages and encoding the record batches (what the builder processes
    do; the sending process only hands the batches to the producer)."""
    from lotline.application.handlers.publish import Messages
    from lotline.application.lotline import Lotline
    from lotline.infrastructure.kafka_relay import DEFAULT_PARTITIONS, record_batches
    from lotline.infrastructure.relay_position import RelayLog
    from lotline.projections.messages import published_by_default, stored_topics

    with Lotline(url) as store:
        log = RelayLog(store.store.recorder)
        topics = set(stored_topics(published_by_default()))
        messages = Messages(store, log)
        record_batches(messages.of(log.window(0, count, topics)), DEFAULT_PARTITIONS)  # imports, caches, streams
        cpu = time.process_time()
        window = log.window(count, 2 * count, topics)
        read = time.process_time() - cpu
        cpu = time.process_time()
        built = messages.of(window)
        build = time.process_time() - cpu
        cpu = time.process_time()
        record_batches(built, DEFAULT_PARTITIONS)
        encode = time.process_time() - cpu
    return read / len(window) * 1e6, build / len(window) * 1e6, encode / len(window) * 1e6


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
    parser.add_argument("--reference", type=Path, help="another checkout of Lotline to run the same relay against")
    parser.add_argument("--runs", type=int, default=1, help="relay runs (each alternating with the reference's)")
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

    def fresh_broker() -> tuple[str, int | None]:
        """A broker emptied for the next run (when this script runs it): Tansu keeps
        every record in memory, and a million events are most of a gigabyte."""
        nonlocal broker
        if args.bootstrap is not None:
            return args.bootstrap, None
        from tests.kafka_broker import TansuBroker, free_port

        if broker is not None:
            broker.stop()
        broker = TansuBroker(free_port(), folder / "tansu.log")
        broker.start()
        return broker.bootstrap, broker.process.pid

    try:
        os.environ["LOTLINE_USER"] = "system"
        other = {"PYTHONPATH": reference_path(args.reference)} if args.reference else None
        ours, theirs = [], []
        for run in range(args.runs):
            for results, env in ((ours, None), (theirs, other)) if other else ((ours, None),):
                bootstrap, broker_pid = fresh_broker()
                results.append(measure_publish(url, bootstrap, f"bench-relay-{time.time_ns()}", broker_pid, env))
        print(f"{'relay (store -> Tansu, acknowledged)':38} {'events':>10} {'seconds':>8} {'events/s':>9} "
              f"{'CPU us/event':>12} {'broker us':>9} {'peak MB':>8}")
        for name, results in (("this checkout", ours), (f"reference ({args.reference})", theirs)):
            for result in results:
                broker_us = f"{result['broker_cpu_us']:>9.1f}" if result["broker_cpu_us"] is not None else f"{'':>9}"
                print(f"{name[:38]:38} {result['published']:>10,} {result['seconds']:>8.1f} "
                      f"{result['events_per_second']:>9,.0f} {result['cpu_us']:>12.1f} {broker_us} "
                      f"{result['peak_mb']:>8.0f}")
        rate = statistics.median(r["events_per_second"] for r in ours)
        cpu_us = statistics.median(r["cpu_us"] for r in ours)
        if theirs:
            their_rate = statistics.median(r["events_per_second"] for r in theirs)
            their_cpu_us = statistics.median(r["cpu_us"] for r in theirs)
            print(f"this / reference (medians): {rate / their_rate:.2f}x the events/s, "
                  f"{their_cpu_us / cpu_us:.2f}x fewer CPU us per event")
        brokers = [r["broker_cpu_us"] for r in ours if r["broker_cpu_us"] is not None]
        broker_us = statistics.median(brokers) if brokers else 0.0
        broker_part = f" and {broker_us:.1f} us of the broker's" if brokers else " (the broker's not known)"
        read_us, build_us, encode_us = stage_costs(url)
        print(f"CPU per event in one process: reading the log {read_us:.1f} us, writing the message {build_us:.1f} us, "
              f"encoding the record batches {encode_us:.1f} us (the builder processes' work)")
        print(f"goal: at least {GOAL:,} events/s; this checkout's median {rate:,.0f} events/s wall-clock, "
              f"{cpu_us:.1f} us of relay CPU per event{broker_part}: at most {2e6 / (cpu_us + broker_us):,.0f} "
              "events/s on two free cores, if every process kept one busy")
        bootstrap, _ = fresh_broker()
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
