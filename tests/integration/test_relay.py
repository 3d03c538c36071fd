"""The Kafka relay (`lotline publish`) against a real Kafka-protocol broker (Tansu):
every event published, once or more, with no gap, in order per key, resumed from the
recorded position, and a relay killed at random points loses nothing; the messages
validate against the schemas `lotline schemas` prints; an unreachable broker is one
line and exit 2, fast, with nothing recorded."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from tests.conftest import Cli
from tests.kafka_broker import free_port

# One worker for the module where pytest-xdist can group (not with pytest 9.2, pytest-xdist issue
# 1386): the demo store (a module fixture, built by a subprocess) is then built once.
pytestmark = pytest.mark.xdist_group("relay")

DEMO_DAYS = ("2026-03-02", "2026-03-03")


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo firm (5 accounts, 2 days of the workflow: decisions, approvals, fills),
    built once; each test works on its own copy."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    out = subprocess.run([sys.executable, "-m", "lotline.application", "demo", "--accounts", "5", "--days", "2",
                          "--store", f"sqlite:///{path}", "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return path


@pytest.fixture
def demo_cli(demo_store: Path, tmp_path: Path, capsys, monkeypatch) -> Cli:
    copy = tmp_path / "lotline.db"
    shutil.copy(demo_store, copy)
    return Cli(f"sqlite:///{copy}", capsys, monkeypatch, tmp_path)


def stored_events(url: str) -> list[tuple[int, str]]:
    """(position, stored topic) of every event in the store, oldest first."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [(int(p), t) for p, t in connection.execute(text("SELECT id, topic FROM lotline_events ORDER BY id"))]
    finally:
        engine.dispose()


def published_topics() -> set[str]:
    from lotline.projections.messages import published_by_default, stored_topics

    return set(stored_topics(published_by_default()))


def values(records: list) -> list[dict]:
    return [json.loads(r.value) for r in records]


def assert_per_key_order(records: list) -> None:
    firsts: dict[bytes, list[int]] = defaultdict(list)
    seen: set[int] = set()
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        position = json.loads(record.value)["position"]
        if position not in seen:
            seen.add(position)
            firsts[record.key].append(position)
    for key, positions in firsts.items():
        assert positions == sorted(positions), f"events of {key!r} out of order: {positions}"


def test_publish_sends_every_trade_order_fill_and_decision_event_once_with_the_contracts_fields(
        demo_cli: Cli, kafka_broker):
    from jsonschema import Draft202012Validator

    done = demo_cli("publish", "--bootstrap", kafka_broker.bootstrap, "--topic", "relay-all", "--json")
    assert done.code == 0, done.err
    report = done.json()
    events = stored_events(demo_cli.url)
    expected = [p for p, topic in events if topic in published_topics()]
    assert report["published"] == len(expected) > 0
    assert report["position"] == events[-1][0]

    records = kafka_broker.read_all("relay-all")
    messages = values(records)
    assert sorted(m["position"] for m in messages) == expected  # each once, none missing
    types = {m["type"] for m in messages}
    assert {"Account.TradeExecuted", "Decision.DecisionRecorded", "Decision.OrdersApproved",
            "Decision.OrderFilled"} <= types
    assert_per_key_order(records)

    # The contract's fields, key and headers; the chain digest is the store's.
    engine = create_engine(demo_cli.url)
    with engine.connect() as connection:
        digests = dict(connection.execute(text("SELECT position, digest FROM event_chain")).all())
    engine.dispose()
    schemas = json.loads(demo_cli("schemas", "--json").out)["schemas"]
    for record, message in zip(records, messages):
        assert {"event_id", "position", "type", "account", "version", "timestamp", "effective_date", "actor",
                "role", "data", "chain_digest"} <= message.keys()
        assert record.key.decode() == message["account"]
        assert dict(record.headers) == {"type": message["type"].encode(), "event_id": message["event_id"].encode()}
        assert message["chain_digest"] == digests[message["position"]]
        Draft202012Validator(schemas[message["type"]]).validate(message)

    # The audit trail shows each event as the message does (one function for both).
    trail = {e["position"]: e for e in demo_cli("audit", "DEMO-0001", "--json").json()["events"]}
    for message in messages:
        if message["account"] == "DEMO-0001":
            shown = trail[message["position"]]
            assert (shown["actor"], shown["role"], shown["data"]) == (message["actor"], message["role"], message["data"])
            assert shown["effective_date"] == message["effective_date"]

    # A message that breaks its schema is caught: the validation can fail.
    filled = next(m for m in messages if m["type"] == "Account.TradeExecuted")
    broken = {**filled, "data": {**filled["data"], "quantity": 3}}
    assert not Draft202012Validator(schemas["Account.TradeExecuted"]).is_valid(broken)


def test_each_key_goes_to_its_murmur2_partition_through_an_idempotent_producer(demo_cli: Cli, kafka_broker):
    """Where Kafka's Java client and kafka-python's default partitioner put a key, so
    any producer of the same keys agrees; and the producer is idempotent against the
    broker (retries inside a window neither duplicate nor reorder)."""
    from kafka.partitioner.default import murmur2

    from lotline.infrastructure.kafka_relay import KafkaRelay

    done = demo_cli("publish", "--bootstrap", kafka_broker.bootstrap, "--topic", "relay-placed", "--partitions", "5",
                    "--all", "--json")
    assert done.code == 0, done.err
    records = kafka_broker.read_all("relay-placed")
    assert len({r.partition for r in records}) > 1
    assert all(r.partition == (murmur2(r.key) & 0x7FFFFFFF) % 5 for r in records)

    relay = KafkaRelay(kafka_broker.bootstrap, "relay-placed")
    relay.connect()
    try:
        assert relay.idempotent
    finally:
        relay.close()


def test_event_ids_are_stable_and_all_publishes_every_event(demo_cli: Cli, kafka_broker):
    first = demo_cli("publish", "--bootstrap", kafka_broker.bootstrap, "--topic", "relay-every-a", "--all", "--json")
    second = demo_cli("publish", "--bootstrap", kafka_broker.bootstrap, "--topic", "relay-every-b", "--all", "--json")
    assert first.code == second.code == 0, first.err + second.err
    events = stored_events(demo_cli.url)
    a_records = kafka_broker.read_all("relay-every-a")
    a = values(a_records)
    b = values(kafka_broker.read_all("relay-every-b"))
    assert sorted(m["position"] for m in a) == [p for p, _ in events]
    # Two relays of the same history: the same ids (a consumer can drop what it has seen).
    assert {m["position"]: m["event_id"] for m in a} == {m["position"]: m["event_id"] for m in b}
    assert len({m["event_id"] for m in a}) == len(a)
    schemas = json.loads(demo_cli("schemas", "--json").out)["schemas"]
    from jsonschema import Draft202012Validator

    for message in a:
        Draft202012Validator(schemas[message["type"]]).validate(message)
    # An event of no account is keyed by its aggregate's kind and id.
    users = [(r.key, m) for r, m in zip(a_records, a) if m["type"] == "User.Added"]
    assert users and all(m["account"] is None and key == f"user:{m['id']}".encode() for key, m in users)


def test_publish_resumes_from_the_recorded_position_and_sends_only_new_events(cli: Cli, kafka_broker):
    topic = f"relay-resume-{cli.url.rsplit('/', 1)[-1].replace('.', '-')}"
    built = cli("demo", "--accounts", "3", "--days", "1", "--json")
    assert built.code == 0, built.err
    first = cli("publish", "--bootstrap", kafka_broker.bootstrap, "--topic", topic, "--json")
    assert first.code == 0, first.err
    again = cli("publish", "--bootstrap", kafka_broker.bootstrap, "--topic", topic, "--json")
    assert again.json()["published"] == 0 and again.json()["position"] == first.json()["position"]

    # Another trading day: decisions, approvals and fills are new events.
    for step in (("rebalance", "--date", "2026-03-03", "--as", "olivia"), ("approve", "--date", "2026-03-03", "--as", "olivia"),
                 ("fill", "--date", "2026-03-03", "--as", "olivia")):
        assert cli(*step).code == 0
    later = cli("publish", "--bootstrap", kafka_broker.bootstrap, "--topic", topic, "--json")
    assert later.code == 0, later.err
    events = stored_events(cli.url)
    expected = [p for p, t in events if t in published_topics()]
    new = [p for p in expected if p > first.json()["position"]]
    assert later.json()["published"] == len(new) > 0
    records = kafka_broker.read_all(topic)
    assert sorted(json.loads(r.value)["position"] for r in records) == expected  # no repeat, no gap
    assert_per_key_order(records)


def test_an_unreachable_broker_is_one_line_and_exit_2_fast_with_nothing_recorded(demo_cli: Cli):
    port = free_port()  # nothing listens there
    before = stored_events(demo_cli.url)
    started = time.monotonic()
    done = demo_cli("publish", "--bootstrap", f"127.0.0.1:{port}")
    assert done.code == 2
    assert time.monotonic() - started < 10
    assert done.err.strip() == done.err.strip().splitlines()[0]
    assert f"cannot reach Kafka broker at 127.0.0.1:{port}" in done.err
    assert stored_events(demo_cli.url) == before
    engine = create_engine(demo_cli.url)
    assert "relay_positions" not in inspect(engine).get_table_names()
    engine.dispose()
    # Bad input is refused before any broker is tried; only system and admin publish.
    assert demo_cli("publish", "--bootstrap", "nohost").code == 2
    assert demo_cli("publish", "--bootstrap", f"127.0.0.1:{port}", "--topic", "bad topic").code == 2
    refused = demo_cli("publish", "--bootstrap", f"127.0.0.1:{port}", "--as", "olivia")
    assert refused.code == 1 and "publish" in refused.err


def test_a_relay_killed_at_random_points_loses_nothing_and_resends_at_most_the_unacknowledged_batch(
        tmp_path: Path, kafka_broker):
    from benchmarks.ledger import write_history

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    write_history(url, accounts=40, events=20_000, seed=3)
    topic, batch, kills = "relay-kills", 200, 10
    kafka_broker.create_topic(topic, partitions=6)
    once = [sys.executable, "-m", "lotline.application", "publish", "--bootstrap", kafka_broker.bootstrap,
            "--topic", topic, "--all", "--batch", str(batch), "--store", url]
    command = [*once, "--follow", "--interval", "0.05"]
    env = {**os.environ, "LOTLINE_USER": "system"}
    rng = random.Random(20261127)
    newest = stored_events(url)[-1][0]
    interrupted = 0
    for kill in range(kills):
        before = recorded_position(url, topic)
        relay = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if kill % 2:
            time.sleep(rng.uniform(0.2, 2.0))  # anywhere: starting, connecting, sending
        else:
            # Once it is publishing (however slow the machine), a random short moment later.
            deadline = time.monotonic() + 30
            while recorded_position(url, topic) == before and relay.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.3))
        relay.send_signal(signal.SIGKILL)
        relay.wait()
        interrupted += before < recorded_position(url, topic) < newest
    assert interrupted > 0, "no kill landed while the relay was publishing"
    done = subprocess.run([*once, "--json"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["position"] == newest

    records = kafka_broker.read_all(topic)
    positions = [json.loads(r.value)["position"] for r in records]
    assert set(positions) == {p for p, _ in stored_events(url)}  # every event, no gap
    duplicates = len(positions) - len(set(positions))
    assert duplicates <= kills * batch
    assert_per_key_order(records)
    ids = {}
    for record in records:  # a re-sent event carries the same id
        message = json.loads(record.value)
        assert ids.setdefault(message["position"], message["event_id"]) == message["event_id"]


def recorded_position(url: str, topic: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if "relay_positions" not in inspect(connection).get_table_names():
                return 0
            found = connection.execute(text("SELECT position FROM relay_positions WHERE topic = :t"), {"t": topic}).scalar()
            return int(found or 0)
    finally:
        engine.dispose()


def test_schemas_are_generated_from_the_event_models_with_their_class_version(demo_cli: Cli):
    from lotline.domain.security import Security
    from lotline.projections.messages import event_classes, message_type

    listed = demo_cli("schemas", "--json")
    assert listed.code == 0
    schemas = listed.json()["schemas"]
    assert set(schemas) == {message_type(cls) for cls in event_classes()}
    assert demo_cli("schemas", "--json").json() == listed.json()  # deterministic
    listed_v2 = schemas["Security.Listed"]
    assert listed_v2["$id"].endswith(f"/v{Security.Listed.class_version}.json")
    assert listed_v2["properties"]["class_version"] == {"const": Security.Listed.class_version}
    assert "wash_group" in listed_v2["properties"]["data"]["properties"]
    one = demo_cli("schemas", "Account.TradeExecuted")
    assert json.loads(one.out) == schemas["Account.TradeExecuted"]
    assert demo_cli("schemas", "Account.Nothing").code == 2


def test_the_example_consumer_prints_each_fill_once(demo_cli: Cli, kafka_broker):
    """examples/consumer.py, as the README runs it: every fill the relay sent, once,
    even when the relay sent them twice."""
    topic = "relay-consumer"
    for _ in range(2):  # a second topic position: the same events sent again, as after a kill -9
        assert demo_cli("publish", "--bootstrap", kafka_broker.bootstrap, "--topic", topic).code == 0
        reset_position(demo_cli.url, topic)
    fills = [m for m in values(kafka_broker.read_all(topic)) if m["type"] == "Account.TradeExecuted"]
    assert fills
    example = Path(__file__).resolve().parents[2] / "examples" / "consumer.py"
    out = subprocess.run([sys.executable, str(example), "--bootstrap", kafka_broker.bootstrap, "--topic", topic,
                          "--from-beginning", "--exit-when-idle", "3"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == len(fills) // 2
    for fill in fills:  # each fill on one line, with what was traded
        data = fill["data"]
        shown = [line for line in lines if f"(order {data['order_id']};" in line or f"(order {data['order_id']})" in line]
        assert len(shown) == 1
        assert shown[0].startswith(f"{data['date']} {fill['account']}: {data['side']} {data['quantity']} "
                                   f"{data['symbol']} @ {data['price']}")


def reset_position(url: str, topic: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM relay_positions WHERE topic = :t"), {"t": topic})
    engine.dispose()


def test_the_kafka_clients_load_only_when_the_relay_runs():
    probe = ("import sys, lotline.application.cli; "
             "print(sorted(m for m in ('kafka', 'confluent_kafka') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_messages_built_from_the_stored_json_equal_those_of_the_decoded_events(demo_cli: Cli):
    """The relay's fast path (the stored JSON, not the decoded event) sends exactly the
    message the decoded event makes, for every event of a store that has one."""
    import zlib

    from lotline.application.handlers.publish import Messages
    from lotline.application.lotline import Lotline
    from lotline.infrastructure.eventstore import resolve_event_topic
    from lotline.infrastructure.relay_position import RelayLog
    from lotline.projections.messages import build_message, message_from_stored

    # A reason and a name beyond ASCII, as a person may type them.
    assert demo_cli("settings", "trade_threshold_bp", "7", "--as", "olivia", "--reason", "Überprüfung — 季度").code == 0
    assert demo_cli("load", str(demo_cli.write("u.yaml", "users:\n  - {id: zoë, role: advisor}\n")), "--as", "root").code == 0
    with Lotline(demo_cli.url) as lotline:
        log = RelayLog(lotline.store.recorder)
        window = log.window(0, log.newest_position(), None)
        messages = Messages(lotline, log)
        messages.of(window)  # learns every stream's kind and id
        fast = 0
        for logged in window:
            kind, key = messages._streams[logged.originator_id]
            raw = logged.state
            state = json.loads(zlib.decompress(raw) if raw[:1] == b"x" else raw)
            stored = message_from_stored(resolve_event_topic(logged.topic), state, logged.originator_id,
                                         logged.originator_version, logged.id, kind, key, logged.chain_digest,
                                         logged.recorded_at)
            decoded = build_message(lotline.store.mapper.to_domain_event(logged), logged.id, kind, key,
                                    logged.chain_digest, logged.recorded_at)
            if stored is not None:
                fast += 1
                assert stored == decoded, logged.topic
    assert fast > len(window) / 2


def test_a_following_relay_outlives_a_broker_outage_and_sends_what_was_recorded_meanwhile(demo_cli: Cli, tmp_path: Path):
    from tests.kafka_broker import TansuBroker

    broker = TansuBroker(free_port(), tmp_path / "tansu.log")
    broker.start()
    topic = "relay-outage"
    url = demo_cli.url
    follower = subprocess.Popen(
        [sys.executable, "-m", "lotline.application", "publish", "--bootstrap", broker.bootstrap, "--topic", topic,
         "--all", "--follow", "--interval", "0.1", "--store", url],
        env={**os.environ, "LOTLINE_USER": "system"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "following" in follower.stdout.readline()
        wait_for_position(url, topic, stored_events(url)[-1][0])
        broker.stop()
        # Recorded while the broker is away.
        assert demo_cli("settings", "trade_threshold_bp", "9", "--as", "olivia", "--reason", "outage").code == 0
        newest = stored_events(url)[-1][0]
        time.sleep(1.0)
        assert recorded_position(url, topic) < newest  # not acknowledged: the position stays
        broker.start()
        broker.create_topic(topic, partitions=6)
        wait_for_position(url, topic, newest, seconds=90)
        assert follower.poll() is None  # it kept running through the outage
        positions = {json.loads(r.value)["position"] for r in broker.read_all(topic)}
        assert newest in positions
    finally:
        follower.send_signal(signal.SIGKILL)
        follower.wait()
        broker.stop()


def wait_for_position(url: str, topic: str, position: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while recorded_position(url, topic) < position:
        assert time.monotonic() < deadline, f"the relay did not reach position {position} within {seconds} s"
        time.sleep(0.1)


def test_a_long_backlog_built_in_a_second_process_sends_the_same_and_stops_before_an_unreadable_event(
        tmp_path: Path, kafka_broker):
    """A backlog of more than a few windows is built in two builder processes (every
    second window each) while the relay sends: the same messages in the same order as
    built in one process, and an event either builder cannot read stops the relay
    before it, every window before it acknowledged and recorded, nothing after it sent."""
    from benchmarks.ledger import write_history

    from lotline.application.handlers.publish import PIPELINE_WINDOWS

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    write_history(url, accounts=30, events=3_000, seed=5)
    newest = stored_events(url)[-1][0]
    env = {**os.environ, "LOTLINE_USER": "system"}

    def publish(topic: str, batch: int) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "lotline.application", "publish", "--bootstrap",
                               kafka_broker.bootstrap, "--topic", topic, "--all", "--batch", str(batch), "--store", url,
                               "--json"], env=env, capture_output=True, text=True, timeout=180)

    apart, here = publish("relay-apart", 100), publish("relay-here", newest)
    assert newest > PIPELINE_WINDOWS * 100  # the first was built apart, the second in one process
    assert apart.returncode == here.returncode == 0, apart.stderr + here.stderr
    assert json.loads(apart.stdout)["published"] == json.loads(here.stdout)["published"] == newest
    by_partition = [[(r.partition, r.key, r.value, r.headers) for r in sorted(kafka_broker.read_all(t),
                                                                                  key=lambda r: (r.partition, r.offset))]
                    for t in ("relay-apart", "relay-here")]
    assert by_partition[0] == by_partition[1]

    # Windows of 100 alternate between the two builder processes: 1,234 is in the 13th
    # window (the first builder's), 1,334 in the 14th (the second's).
    for bad, topic in ((1_234, "relay-stopped"), (1_334, "relay-stopped-odd")):
        engine = create_engine(url)
        with engine.begin() as connection:
            kept = connection.execute(text("SELECT state FROM lotline_events WHERE id = :id"), {"id": bad}).scalar()
            connection.execute(text("UPDATE lotline_events SET state = :s WHERE id = :id"), {"s": b"{not json", "id": bad})
        stopped = publish(topic, 100)
        with engine.begin() as connection:
            connection.execute(text("UPDATE lotline_events SET state = :s WHERE id = :id"), {"s": kept, "id": bad})
        engine.dispose()
        assert stopped.returncode == 1, stopped.stderr
        assert f"event {bad} " in stopped.stderr and len(stopped.stderr.strip().splitlines()) == 1, stopped.stderr
        last = bad // 100 * 100  # the last window wholly before the bad event
        assert recorded_position(url, topic) == last
        sent = {json.loads(r.value)["position"] for r in kafka_broker.read_all(topic)}
        assert sent == set(range(1, last + 1))


def test_a_following_relay_on_postgresql_wakes_at_the_stores_notify_not_at_its_interval(postgres, kafka_broker):
    """On PostgreSQL a following relay LISTENs to the store's NOTIFY: an event recorded
    is sent within seconds though the relay's interval is a minute."""
    from benchmarks.ledger import write_history

    url = postgres.fresh_database()
    write_history(url, accounts=3, events=30, seed=2)
    topic = "relay-listen"
    env = {**os.environ, "LOTLINE_USER": "system"}
    follower = subprocess.Popen(
        [sys.executable, "-m", "lotline.application", "publish", "--bootstrap", kafka_broker.bootstrap, "--topic", topic,
         "--all", "--follow", "--interval", "60", "--store", url],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "following" in follower.stdout.readline()
        wait_for_position(url, topic, stored_events(url)[-1][0])
        time.sleep(0.5)  # it is waiting now
        done = subprocess.run([sys.executable, "-m", "lotline.application", "settings", "trade_threshold_bp", "9",
                               "--as", "olivia", "--reason", "listen", "--store", url],
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        recorded = time.monotonic()
        wait_for_position(url, topic, stored_events(url)[-1][0], seconds=15)
        assert time.monotonic() - recorded < 15
        assert follower.poll() is None
    finally:
        follower.send_signal(signal.SIGKILL)
        follower.wait()
