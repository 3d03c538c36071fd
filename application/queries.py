"""Read use cases, in the contract's shapes: lots, gains and holdings of one account,
the orders, an account's audit trail, the firm's settings. Each authorises the reader,
catches the read models up and reads through `lotline.views` (no SQL here)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from lotline.application.authorisation import authorise, authorise_read
from lotline.application.history import account_history
from lotline.application.identity import Identity
from lotline.application.lotline import Lotline
from lotline.domain.account import Account
from lotline.domain.errors import AccountHistoryBroken, InvalidInput, UnknownEntity
from lotline.domain.ledger import LedgerError
from lotline.domain.model import Model
from lotline.domain.roles import Permission
from lotline.domain.targets import security_targets
from lotline.domain.template import TargetTemplate
from lotline.projections.views import AccountRow, AuditRow

from lotline.application.read_documents import (
    check_order_status, holdings_document, lots_document, money, order_document)
from lotline.domain.values import shown
from lotline.infrastructure.integrity import Verification

HEAD_FORM = re.compile(r"^\d+:[0-9a-f]{64}$")


def account_row(lotline: Lotline, account_id: str) -> AccountRow:
    """The account as the directory has it now; UnknownEntity when there is none."""
    lotline.catch_up()
    row = lotline.views.account(account_id)
    if row is None:
        raise UnknownEntity(f"unknown account {account_id!r}", "account")
    return row


def readable_account(lotline: Lotline, user: str, account_id: str) -> AccountRow:
    """The account, when `user` may read it (everyone reads; an advisor their own)."""
    row = account_row(lotline, account_id)
    authorise_read(lotline.fresh(), user, account_id, row.advisor)
    return row


def lots_report(lotline: Lotline, account_id: str, user: str, as_of: date) -> dict[str, Any]:
    """From the lots projection when nothing recorded for the account is dated after
    `as_of`; otherwise the book is rebuilt from the history up to that day."""
    readable_account(lotline, user, account_id)
    with lotline.reading():
        lotline.views.check_account_readable(account_id)
        latest = lotline.views.account_cash(account_id)
        if latest is not None and (latest.latest_date is None or latest.latest_date <= as_of):
            cash, open_lots = latest.cash, lotline.views.open_lots(account_id)
        else:
            uow = lotline.fresh()
            book = account_history(uow, uow.get(Account, account_id, "account")).book(as_of)
            cash, open_lots = book.cash, book.open_lots()
    return lots_document(account_id, as_of, cash, open_lots)


def gains_report(lotline: Lotline, account_id: str, user: str, year: int) -> dict[str, Any]:
    """From the gains projection: realisations as they stand with everything recorded
    (a wash sale in January can still change a December loss)."""
    readable_account(lotline, user, account_id)
    with lotline.reading():
        lotline.views.check_account_readable(account_id)
        realizations = [r for _, r in lotline.views.realisations(date(year, 1, 1), date(year, 12, 31), account_id)]
    short = sum((r.gain for r in realizations if r.term == "short"), Decimal(0))
    long = sum((r.gain for r in realizations if r.term == "long"), Decimal(0))
    disallowed = sum((r.disallowed_loss for r in realizations), Decimal(0))
    return {
        "account": account_id,
        "year": year,
        "short_term": money(short),
        "long_term": money(long),
        "disallowed_loss": money(disallowed),
        "realizations": [
            {
                "date": r.date.isoformat(),
                "symbol": r.symbol,
                "quantity": str(r.quantity),
                "proceeds": money(r.proceeds),
                "cost_basis": money(r.cost_basis),
                "gain": money(r.gain),
                "term": r.term,
                "disallowed_loss": money(r.disallowed_loss),
                "lot_id": r.lot_id,
            }
            for r in realizations
        ],
    }


def holdings_report(lotline: Lotline, account_id: str, user: str, as_of: date) -> dict[str, Any]:
    readable_account(lotline, user, account_id)
    lotline.views.check_account_readable(account_id)
    uow = lotline.fresh()
    account = uow.get(Account, account_id, "account")
    template = uow.get(TargetTemplate, account.template_id, "template")
    targets = security_targets(template, uow.mapping(Model), account.parameters)
    history = account_history(uow, account, set(targets.weights))
    try:
        book = history.book(as_of)
    except LedgerError as error:
        raise AccountHistoryBroken(f"account {account_id} cannot be read: its history cannot be applied: {error}") from None
    positions = {s: q for s, q in book.positions().items() if q}
    symbols = sorted(set(positions) | set(targets.weights))
    closes = lotline.prices.on_or_before(as_of, symbols)
    for symbol in positions:
        if symbol not in closes:
            raise InvalidInput(f"no close for {symbol} on or before {as_of}", "prices")
    class_of = {s: sec.asset_class for s, sec in history.securities.items()}
    return holdings_document(account_id, as_of, book.cash, positions, symbols, closes, class_of, template, targets)


def orders_report(lotline: Lotline, user: str, on: date | None, account_id: str | None, status: str | None) -> dict[str, Any]:
    from lotline.domain.roles import GRANTS, SYSTEM_USER, Permission
    from lotline.domain.user import User

    lotline.catch_up()
    advisor = None
    if account_id is not None:
        row = readable_account(lotline, user, account_id)
        lotline.views.check_account_readable(row.account_id)
        account_id = row.account_id
    else:
        authorise_read(lotline.fresh(), user, None, None)
        if user != SYSTEM_USER:
            person = lotline.fresh().find(User, user)
            if person is not None and not any(r in GRANTS[Permission.READ_ANY_ACCOUNT] for r in person.roles):
                advisor = user  # an advisor sees the orders of their own accounts
    check_order_status(status)
    rows = lotline.views.orders(on, account_id, status, advisor)
    return {"orders": [order_document(r, r.lots) for r in rows]}


def audit(lotline: Lotline, account_id: str, user: str, since: date | None = None,
          until: date | None = None) -> list[dict[str, Any]]:
    """Every event of an account, oldest first (within the effective dates given)."""
    readable_account(lotline, user, account_id)
    return [{"position": row.position, **_event_fields(row)} for row in lotline.views.audit_trail(account_id, since, until)]


def _event_fields(row: AuditRow) -> dict[str, Any]:
    """What an audit row shows of its event, in both trails: its type, when it was recorded
    and took effect, who acted, in which role, how established and for whom, why, and its data."""
    return {
        "type": row.type,
        "timestamp": row.timestamp,
        "effective_date": row.effective_date.isoformat(),
        "actor": row.actor,
        "role": row.role,
        "on_behalf_of": row.on_behalf_of,
        "auth": row.auth,
        "reason": row.reason,
        "data": row.data,
    }


def firm_audit(lotline: Lotline, user: str, kind: str | None = None, actor: str | None = None,
               since: date | None = None, until: date | None = None) -> list[dict[str, Any]]:
    """Every event of the store, oldest first, for compliance and admin (and `system`):
    of one kind of aggregate, by one acting user, within the effective dates (each
    filter when given). An event of an account, or of its decisions, names it."""
    from lotline.application.authorisation import authorise
    from lotline.domain.roles import Permission
    from lotline.projections.audit import AUDIT_KINDS

    if kind is not None and kind not in AUDIT_KINDS:
        raise InvalidInput(f"unknown kind {kind!r} (one of {', '.join(AUDIT_KINDS)})", "kind")
    authorise(lotline.fresh(), Identity.of(user), Permission.AUDIT_FIRM, lotline.today(), lotline.clock())
    lotline.catch_up()
    return [
        {
            "position": row.position,
            "kind": row.kind,
            "id": row.entity_id,
            **({"account": row.account_id} if row.account_id is not None else {}),
            **_event_fields(row),
        }
        for row in lotline.views.firm_audit_trail(kind, actor, since, until)
    ]


def firm_settings(lotline: Lotline, user: str) -> dict[str, Any]:
    """Every firm setting: its value now, its default and what it means."""
    from lotline.domain.settings import (
        AUTHENTICATION, AUTHENTICATION_DESCRIPTION, SETTINGS, Authentication, FirmSettings, effective_settings)

    uow = lotline.fresh()
    authorise_read(uow, user, None, None)
    recorded = uow.find(FirmSettings, "firm")
    values = effective_settings(recorded)
    listed = {key: {"value": str(values[key]), "default": SETTINGS[key].default, "description": SETTINGS[key].description}
              for key in SETTINGS}
    listed[AUTHENTICATION] = {"value": (recorded.authentication if recorded else Authentication.ASSERTED).value,
                              "default": Authentication.ASSERTED.value, "description": AUTHENTICATION_DESCRIPTION}
    return dict(sorted(listed.items()))


def verify_store(lotline: Lotline, user: str, expect_head: str | None = None,
                 progress: Callable[[int], None] | None = None) -> Verification:
    """`verify`: the integrity chain recomputed over the whole history, the head (and a
    head kept outside the store) and every stored market snapshot checked; compliance,
    admin and system."""
    authorise(lotline.fresh(), Identity.of(user), Permission.VERIFY, lotline.today(), lotline.clock())
    if expect_head is not None and not HEAD_FORM.match(expect_head.strip()):
        raise InvalidInput(f"must be POSITION:DIGEST (a number, a colon, 64 hex digits), got {shown(expect_head)}",
                           "expect_head")
    return lotline.verify(expect_head, progress)
