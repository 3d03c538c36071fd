"""Read commands answered from the read models alone (projections/direct.py), without
opening the event store: `lots`, `holdings` and `orders --account` of a store whose
read models have applied every event.

Each answers exactly as its use case in application/queries.py does, under the same
rules: the acting user is decided as application/identity.py decides it, and reads as
application/authorisation.py lets them. Where this path cannot decide with certainty
from what it reads, it answers None and the command reads the way it always did (which
opens the event store and catches the read models up): read models behind the store, a
key presented, a firm whose authentication is not `asserted` (or whose settings' events
are not the ones known here), an account a read model could not apply an event to, an
`--as-of` before the account's latest recorded date, a missing close or asset class, a
table the store does not have yet."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from lotline.application.read_documents import check_order_status, holdings_document, lots_document, order_document
from lotline.domain.aggregate import replayed
from lotline.domain.errors import UnknownEntity
from lotline.domain.roles import SYSTEM_USER, check_read

# The firm settings' events, by their stored topics (infrastructure/eventstore.py), so a
# read need not build the event classes (a test checks them against domain/settings.py).
SETTINGS_TOPICS = ("domain.settings:FirmSettings.Created", "domain.settings:FirmSettings.SettingChanged")
AUTHENTICATION_TOPIC = "domain.settings:FirmSettings.AuthenticationChanged"


class NotDirect(Exception):
    """This read cannot be answered from the read models alone: read the usual way."""


@dataclass
class DirectRead:
    reads: Any  # projections.direct.DirectReads
    user: str  # the acting user, established as identity.identify would (asserted)
    today: date


def firm_settings_id() -> Any:
    from lotline.domain.aggregate import aggregate_id

    return aggregate_id("settings", "firm")


def _store_problem(error: BaseException) -> bool:
    """An error of the database or its driver (a missing table: an older store)."""
    module = type(error).__module__ or ""
    return module.split(".")[0] in ("sqlalchemy", "sqlite3", "psycopg") or isinstance(error, LookupError)


@contextmanager
def direct_read(url: str, key: str | None, claimed_user: str | None,
                business_day: Callable[[], date] | None) -> Iterator[DirectRead | None]:
    """A read of the store's read models as `claimed_user`, or None (read the usual way).
    Raises NotDirect from inside when the read finds it cannot answer."""
    if key is not None:
        yield None
        return
    from lotline.projections.direct import direct_reads

    try:
        with direct_reads(url) as reads:
            read = _begin(reads, claimed_user, business_day)
            if read is None:
                yield None
                return
            yield read
    except Exception as error:
        if _store_problem(error):
            raise NotDirect(str(error)) from error
        raise


def _begin(reads: Any, claimed_user: str | None,
           business_day: Callable[[], date] | None) -> DirectRead | None:
    if not reads.current():
        return None
    authentication = "asserted"
    try:
        settings_events = reads.stream(firm_settings_id())
    except Exception:  # noqa: BLE001 - a state that cannot be read: the usual path says so
        return None
    for topic, state in settings_events:
        if topic == AUTHENTICATION_TOPIC:
            authentication = state.get("authentication") if isinstance(state, dict) else None
        elif topic not in SETTINGS_TOPICS:
            return None
    if authentication != "asserted":
        return None
    if business_day is not None:
        today = business_day()
    else:
        # The store's clock (application/lotline.py): never before its newest recorded time.
        now = datetime.now(timezone.utc)
        floor = reads.newest_recorded_time()
        today = (floor if floor is not None and now < floor else now).date()
    return DirectRead(reads, claimed_user or SYSTEM_USER, today)


def _readable_account(read: DirectRead, account_id: str) -> Any:
    """The account's directory row, when the acting user may read it (as
    queries.readable_account and authorisation.authorise_read decide)."""
    row = read.reads.account(account_id)
    if row is None:
        raise UnknownEntity(f"unknown account {account_id!r}", "account")
    user_id = read.user
    found = None if user_id == SYSTEM_USER else read.reads.user(user_id)
    check_read(user_id, None if found is None or found[1] else found[0], account_id, row.advisor)
    if read.reads.unreadable(account_id):
        raise NotDirect("a read model could not apply an event of the account")
    return row


def lots_report(read: DirectRead, account_id: str, as_of: date) -> dict[str, Any]:
    _readable_account(read, account_id)
    latest = read.reads.account_cash(account_id)
    if latest is None or (latest[1] is not None and latest[1] > as_of):
        raise NotDirect("the book as of that day is rebuilt from the history")
    open_lots = [r._replace(quantity=Decimal(r.quantity), cost_basis=Decimal(r.cost_basis),
                            wash_sale_adjustment=Decimal(r.wash_sale_adjustment)) for r in read.reads.open_lots(account_id)]
    return lots_document(account_id, as_of, Decimal(latest[0]), open_lots)


@dataclass(frozen=True)
class _Model:
    weights: dict[str, Decimal]
    retired: bool


@dataclass(frozen=True)
class _Template:
    template_id: str
    classes: dict[str, Any]


def holdings_report(read: DirectRead, account_id: str, as_of: date) -> dict[str, Any]:
    _readable_account(read, account_id)
    latest = read.reads.account_cash(account_id)
    if latest is None or latest[1] is None or latest[1] > as_of:
        raise NotDirect("the book as of that day is rebuilt from the history")
    inputs = read.reads.targets_inputs(account_id)
    if inputs is None:
        raise NotDirect("the account's template is not in the targets read model")
    from lotline.domain.parameters import Parameters
    from lotline.domain.targets import security_targets
    from lotline.domain.template import ClassTarget

    template_id, classes_json, parameters_json, models_json = inputs
    template = _Template(template_id, {name: ClassTarget.model_validate(value)
                                       for name, value in json.loads(classes_json).items()})
    models = {m: _Model({s: Decimal(w) for s, w in json.loads(weights).items()}, retired)
              for m, (weights, retired) in models_json.items()}
    targets = security_targets(template, models, Parameters.model_validate_json(parameters_json))  # type: ignore[arg-type]
    # The lots read model keeps the open quantities added up by symbol beside the cash.
    positions = {s: Decimal(q) for s, q in latest[2] if Decimal(q)}
    symbols = sorted(set(positions) | set(targets.weights))
    closes = {s: (day, Decimal(close)) for s, (day, close) in read.reads.closes_on_or_before(as_of, symbols).items()}
    class_of = read.reads.asset_classes(symbols)
    if any(s not in closes or s not in class_of for s in positions) or any(
            s not in class_of for s in targets.weights if s in closes):
        raise NotDirect("a close or an asset class is missing: the usual read names it")
    return holdings_document(account_id, as_of, Decimal(latest[0]), positions, symbols, closes, class_of, template,
                             targets)


def orders_report(read: DirectRead, account_id: str, on: date | None, status: str | None) -> dict[str, Any]:
    row = _readable_account(read, account_id)
    check_order_status(status)
    return {"orders": [order_document(r, json.loads(r.lots)) for r in read.reads.orders(row.account_id, on, status)]}


def _event_class(topic: str) -> Any:
    """The event class a stored topic names (as infrastructure/eventstore.py resolves it)."""
    import importlib

    module, _, path = (topic if topic.startswith("lotline.") else "lotline." + topic).partition(":")
    try:
        found: Any = importlib.import_module(module)
        for part in path.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        raise NotDirect(f"no event class {topic}") from None
    return found


def _events(read: DirectRead, stream: Any, first: int, last: int | None) -> list[Any]:
    from lotline.infrastructure.event_json import decode_event

    decoded = []
    for version, topic, state in read.reads.events_of(stream, first, last):
        try:
            decoded.append(decode_event(_event_class(topic), state, stream, version))
        except NotDirect:
            raise
        except Exception as error:  # noqa: BLE001 - an event that cannot be read: the usual path says so
            raise NotDirect(f"event {version} of {stream} cannot be read: {error}") from None
    return decoded


def _aggregate_at(read: DirectRead, stream: Any, version: int) -> Any:
    """The aggregate as its first `version` events left it (as the event store's
    repository rebuilds it)."""
    aggregate = replayed(None, _events(read, stream, 1, version))
    if aggregate is None or aggregate.version != version:
        raise NotDirect("the aggregate's recorded versions are not all there")
    return aggregate


def _recorded_decision(read: DirectRead, decision_id: str) -> Any:
    """The decision's recorded event, when the acting user may read its account (as
    replay.recorded_decision decides)."""
    from lotline.domain.decision import Decision
    from lotline.domain.decision import decision_id as day_decision_id

    row = read.reads.decision(decision_id)
    if row is None:
        raise UnknownEntity(f"unknown decision {decision_id!r}", "decision")
    _readable_account(read, row.account_id)
    # A redo lives on the same stream as the day's first decision.
    stream = Decision.id_for(day_decision_id(row.account_id, row.date))
    (event,) = _events(read, stream, row.originator_version, row.originator_version)
    return event


def explain_report(read: DirectRead, decision_id: str) -> dict[str, Any]:
    """`lotline explain` (application/explanation.py), reading the decision's recorded
    event and the securities, template and models at the versions it names."""
    from lotline.application.explanation import explanation_document
    from lotline.domain.model import Model
    from lotline.domain.security import Security
    from lotline.domain.template import TargetTemplate

    event = _recorded_decision(read, decision_id)
    inputs = event.inputs
    securities = {s: _aggregate_at(read, Security.id_for(s), v) for s, v in inputs.security_versions.items()}
    template = _aggregate_at(read, TargetTemplate.id_for(inputs.template_id), inputs.template_version)
    models = {m: _aggregate_at(read, Model.id_for(m), v) for m, v in inputs.model_versions.items()}
    return explanation_document(decision_id, event, securities, template, models)


def replay_outcome(read: DirectRead, decision_id: str) -> Any:
    """`lotline replay` (application/replay.py): the same replay, with the aggregates and
    the market snapshot read directly."""
    from lotline.application.replay import replay_recorded
    from lotline.domain.market import MarketSnapshot

    def snapshot_of(digest: str) -> MarketSnapshot | None:
        payload = read.reads.market_snapshot(digest)
        return None if payload is None else MarketSnapshot.from_json(payload)

    event = _recorded_decision(read, decision_id)
    return replay_recorded(decision_id, event, lambda stream, version: _aggregate_at(read, stream, version),
                           snapshot_of)


def wanted(environ: os._Environ[str] | dict[str, str] | None = None) -> bool:
    """LOTLINE_DIRECT_READS=0 turns this path off (to compare it with the usual one)."""
    return (environ if environ is not None else os.environ).get("LOTLINE_DIRECT_READS", "1") != "0"
