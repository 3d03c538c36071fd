"""The Kafka relay (`lotline publish`): the notification log, from the position last
published to the topic, sent window by window. A window's position is recorded only
after the broker acknowledged every message of it, so a relay killed at any point
(kill -9 included) resumes there: nothing is lost, and only the window in flight can
be sent twice (with the same `event_id`s). Each account's events go to one partition
in position order (the key is the account), so per-key order holds."""

from __future__ import annotations

import re
import time
from zlib import decompress
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from orjson import loads

from lotline.application.authorisation import authorise
from lotline.application.commands import Publish
from lotline.application.lotline import Lotline
from lotline.domain.errors import InvalidInput, LotlineError
from lotline.domain.roles import Permission
from lotline.domain.values import shown
from lotline.infrastructure.eventstore import resolve_event_topic
from lotline.projections.messages import build_message, message_from_stored

STREAMS_KEPT = 200_000
BACKOFF_FIRST, BACKOFF_MOST = 1.0, 30.0
TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")


class EventUnreadable(LotlineError):
    """An event the relay cannot decode: it stops before it (nothing after it is sent)."""


@dataclass(frozen=True)
class Published:
    topic: str
    published: int  # messages sent (and acknowledged) by this run
    position: int  # the topic's recorded position now
    head: str | None  # the store's chain head (POSITION:DIGEST) when the run ended


Say = Callable[[str], None]


def check(cmd: Publish) -> None:
    """Bad input before anything is reached or recorded."""
    from lotline.infrastructure.kafka_relay import parse_bootstrap

    parse_bootstrap(cmd.bootstrap)
    if not TOPIC_NAME.fullmatch(cmd.topic) or cmd.topic in (".", ".."):
        raise InvalidInput(f"must be 1 to 249 letters, digits, '.', '_' or '-', got {shown(cmd.topic)}", "topic")
    if not 1 <= cmd.partitions <= 10_000:
        raise InvalidInput(f"must be between 1 and 10000, got {cmd.partitions}", "partitions")
    if not 1 <= cmd.replication <= 100:
        raise InvalidInput(f"must be between 1 and 100, got {cmd.replication}", "replication")
    if not 1 <= cmd.batch <= 1_000_000:
        raise InvalidInput(f"must be between 1 and 1000000, got {cmd.batch}", "batch")
    if not 0 < cmd.interval <= 3600:
        raise InvalidInput(f"must be more than 0 and at most 3600 seconds, got {cmd.interval}", "interval")


def publish(cmd: Publish, lotline: Lotline, say: Say | None = None, warn: Say | None = None) -> Published:
    """Publishes what is there (and with `follow`, keeps polling until stopped).
    BrokerUnreachable when no broker answers at start; while following, a broker that
    goes away is retried with back-off, the recorded position kept."""
    from lotline.infrastructure.kafka_relay import BrokerUnreachable, DeliveryFailed, KafkaRelay
    from lotline.infrastructure.relay_position import NewEvents, RelayLog
    from lotline.projections.messages import published_by_default, stored_topics

    check(cmd)
    authorise(lotline.fresh(), cmd.user, Permission.PUBLISH, lotline.today(), lotline.clock())
    relay = KafkaRelay(cmd.bootstrap, cmd.topic)
    relay.connect(cmd.partitions, cmd.replication)  # a broker out of reach: nothing recorded, not even the table
    log = RelayLog(lotline.store.recorder)
    log.create_table()
    topics = None if cmd.every_event else set(stored_topics(published_by_default()))
    messages = Messages(lotline, log)
    position = log.position(cmd.topic)
    if cmd.follow and say is not None:
        say(f"following the store into {cmd.topic} from position {position}")
    total, backoff = 0, BACKOFF_FIRST
    new_events = None
    try:
        while True:
            sent_now = 0
            try:
                if not relay.connected:
                    relay.connect(cmd.partitions, cmd.replication)
                newest = log.newest_position()
                with windows(lotline, messages, log, topics, position, newest, cmd.batch, relay.partitions) as built:
                    for upto, batches, count in built:
                        relay.send_batches(batches)
                        log.record(cmd.topic, upto)  # only now: the broker has every message up to here
                        position = upto
                        sent_now += count
                backoff = BACKOFF_FIRST
            except (DeliveryFailed, BrokerUnreachable) as error:
                if not cmd.follow:
                    raise
                total += sent_now
                if warn is not None:
                    warn(f"Kafka: {error}; position {position} kept, retrying in {backoff:g} s")
                time.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MOST)
                relay.close()  # connected again at the next turn
                continue
            total += sent_now
            if not cmd.follow:
                break
            if sent_now and say is not None:
                say(f"published {sent_now} events to {cmd.topic}, last position {position}")
            if new_events is None:
                new_events = NewEvents(lotline.store.recorder)
            new_events.wait(cmd.interval)  # on PostgreSQL, woken by the store's NOTIFY as soon as events commit
    finally:
        relay.close()
        if new_events is not None:
            new_events.close()
    head = log.head()
    return Published(cmd.topic, total, position, str(head) if head is not None else None)


PIPELINE_WINDOWS = 3  # a longer backlog is built in other processes while this one sends
BUILDERS = 2  # processes building windows (every second window each): the machine's two cores

Window = tuple[int, list, int]  # (its last position, its record batches, its message count)


@contextmanager
def windows(lotline: Lotline, messages: Messages, log: Any, topics: set[str] | None, after: int, newest: int,
            size: int, partitions: int) -> Iterator[Iterator[Window]]:
    """The windows of messages from `after` to `newest`, in order, each as Kafka record
    batches. A long backlog is built in child processes, each taking every
    `BUILDERS`-th window (reading the log, writing the messages and encoding the
    batches is nearly all the relay's CPU; this process only hands the batches to the
    producer and records positions), so every core works; a short one here."""
    if newest - after <= PIPELINE_WINDOWS * size or not shareable(lotline.url):
        yield built_here(messages, log, topics, window_bounds(after, newest, size), partitions)
        return
    import multiprocessing

    bounds = window_bounds(after, newest, size)
    context = multiprocessing.get_context("spawn")  # no fork of a process running the producer's thread
    builders = []
    for first in range(min(BUILDERS, len(bounds))):
        out = context.Queue(maxsize=2)  # two windows ahead at most
        builder = context.Process(target=build_apart, args=(lotline.url, topics, bounds[first::BUILDERS], partitions,
                                                            out), daemon=True, name=f"lotline-relay-builder-{first}")
        builder.start()
        builders.append((builder, out))
    try:
        yield received(builders, len(bounds))
    finally:
        for builder, out in builders:
            if builder.is_alive():
                builder.terminate()
        for builder, out in builders:
            builder.join(5)
            out.close()
            out.cancel_join_thread()


def shareable(url: str) -> bool:
    """A store a second process can open (not an in-memory one)."""
    return ":memory:" not in url and "mode=memory" not in url


def window_bounds(after: int, newest: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(start + size, newest)) for start in range(after, newest, size)]


def built_here(messages: Messages, log: Any, topics: set[str] | None, bounds: list[tuple[int, int]],
               partitions: int) -> Iterator[Window]:
    """The windows `bounds` names, built in this process, in order."""
    from lotline.infrastructure.kafka_relay import record_batches

    partition_of: dict[bytes, int] = {}
    for start, upto in bounds:
        built = messages.of(log.window(start, upto, topics))
        yield upto, record_batches(built, partitions, partition_of), len(built)


def build_apart(url: str, topics: set[str] | None, bounds: list[tuple[int, int]], partitions: int, out: Any) -> None:
    """A child process: builds its windows in order and hands each over; an event it
    cannot read ends its windows there (the parent raises it after sending those
    before), and so does the parent going away (kill -9 included)."""
    from lotline.infrastructure.relay_position import RelayLog

    try:
        with Lotline(url) as lotline:
            log = RelayLog(lotline.store.recorder)
            for window in built_here(Messages(lotline, log), log, topics, bounds, partitions):
                hand_over(out, ("window", *window))
    except EventUnreadable as error:
        hand_over(out, ("unreadable", str(error)))
    except BaseException as error:  # noqa: BLE001 - told to the parent, which stops with it
        hand_over(out, ("failed", f"{type(error).__name__}: {error}"))
    hand_over(out, ("done",))


def hand_over(out: Any, item: tuple) -> None:
    import os
    import queue
    from multiprocessing import parent_process

    while True:
        try:
            out.put(item, timeout=1)
            return
        except queue.Full:
            parent = parent_process()
            if parent is None or not parent.is_alive():
                os._exit(0)


def received(builders: list[tuple[Any, Any]], count: int) -> Iterator[Window]:
    """The `count` windows in order: window i from builder i mod BUILDERS."""
    import queue

    for index in range(count):
        builder, out = builders[index % len(builders)]
        while True:
            try:
                item = out.get(timeout=1)
                break
            except queue.Empty:
                if not builder.is_alive():
                    raise LotlineError(f"the relay's message builder stopped (exit {builder.exitcode})") from None
        if item[0] == "window":
            yield item[1], item[2], item[3]
        elif item[0] == "unreadable":
            raise EventUnreadable(item[1])
        elif item[0] == "failed":
            raise LotlineError(f"the relay's message builder failed: {item[1]}")
        else:
            raise LotlineError("the relay's message builder ended before its last window")


class Messages:
    """Builds each window's messages: decodes the events and names each stream's kind
    and business id (from its first event, read once per stream)."""

    def __init__(self, lotline: Lotline, log: Any) -> None:
        self._decode = lotline.store.mapper.to_domain_event
        self._log = log
        self._streams: dict[str, tuple[str, str]] = {}
        self._classes: dict[str, Any] = {}  # stored topic -> event class

    def of(self, window: Sequence[Any]) -> list[Any]:
        from lotline.projections.audit import stream_of

        streams = self._streams
        if len(streams) > STREAMS_KEPT:
            streams.clear()
        for logged in window:  # a stream's first event names it
            if logged.originator_version == 1:
                streams[logged.originator_id] = stream_of(self._read(logged))
        unknown = sorted({logged.originator_id for logged in window} - streams.keys())
        for first in self._log.first_events(unknown):
            streams[first.originator_id] = stream_of(self._read(first))
        message = self._message
        return [message(logged) for logged in window]

    def _message(self, logged: Any) -> tuple:
        """(key, value, headers): from the stored JSON where it has today's shape (the
        hot path), else through the decoded event."""
        kind, key = self._streams.get(logged.originator_id) or ("unknown", logged.originator_id)
        try:
            cls = self._classes.get(logged.topic)
            if cls is None:
                cls = self._classes[logged.topic] = resolve_event_topic(logged.topic)
            raw = logged.state
            built = message_from_stored(cls, loads(decompress(raw) if raw[:1] == b"x" else raw), logged.originator_id,
                                        logged.originator_version, logged.id, kind, key, logged.chain_digest,
                                        logged.recorded_at)
        except Exception:  # noqa: BLE001 - not the common shape: decoded through its model below, which names the problem
            built = None
        if built is None:
            built = build_message(self._read(logged), logged.id, kind, key, logged.chain_digest, logged.recorded_at)
        return built

    def _read(self, logged: Any) -> Any:
        try:
            return self._decode(logged)
        except Exception as error:  # noqa: BLE001 - any event that cannot be decoded stops the relay before it
            from lotline.projections.tracking import describe

            where = f"event {logged.id}" if logged.id else f"the first event of stream {logged.originator_id}"
            raise EventUnreadable(f"{where} ({logged.topic}) cannot be read: {describe(error)}; nothing from it on "
                                  "was published") from None
