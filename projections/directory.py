"""Who and what exists: users, securities and accounts, for lookups and listings."""

from __future__ import annotations

import json

from sqlalchemy import Boolean, Column, Date, Integer, MetaData, String, Table, Uuid, select, update
from sqlalchemy.orm import Session

from lotline.domain.account import Account
from lotline.domain.aggregate import DomainEvent
from lotline.domain.security import Security
from lotline.domain.user import User
from lotline.projections.tracking import Projection

metadata = MetaData()

users = Table(
    "directory_users",
    metadata,
    Column("user_id", String(128), primary_key=True),
    Column("added_at", Integer, nullable=False),
    Column("roles", String(256), nullable=False),
    Column("removed", Boolean, nullable=False),
)

securities = Table(
    "directory_securities",
    metadata,
    Column("symbol", String(32), primary_key=True),
    Column("asset_class", String(64), nullable=False),
    Column("wash_group", String(64), nullable=False),
    Column("delisted", Boolean, nullable=False),
)

accounts = Table(
    "directory_accounts",
    metadata,
    Column("originator_id", Uuid, primary_key=True),
    Column("account_id", String(128), nullable=False, unique=True),
    Column("advisor", String(128), nullable=False),
    Column("template", String(128), nullable=False),
    Column("tax_status", String(32), nullable=False),
    Column("opened", Date, nullable=False),
    Column("closed", Boolean, nullable=False),
)


cash_requests = Table(
    "directory_cash_requests",
    metadata,
    Column("request_id", String(160), primary_key=True),
    Column("account_id", String(128), nullable=False, index=True),
    Column("amount", String(40), nullable=False),
    Column("due_from", Date, nullable=False),
    Column("due_by", Date, nullable=True),  # the date the client wants it by, when given
    Column("fulfilled", Boolean, nullable=False),
)


class Directory(Projection):
    name = "directory"
    metadata = metadata
    handles = frozenset({
        User.Added, User.RolesChanged, User.Removed, Security.Listed, Security.Reclassified, Security.Delisted,
        Account.Opened, Account.TemplateAssigned, Account.TaxStatusChanged, Account.CashRequested,
        Account.CashRequestFulfilled, Account.Closed,
    })

    def apply(self, session: Session, event: DomainEvent, position: int) -> None:
        match event:
            case User.Added():
                session.execute(users.insert().values(user_id=event.user_id, added_at=position, roles=json.dumps(list(event.roles)), removed=False))
            case User.RolesChanged():
                session.execute(self._user(event, session).values(roles=json.dumps(list(event.roles)), removed=False))
            case User.Removed():
                session.execute(self._user(event, session).values(removed=True))
            case Security.Listed():
                session.execute(securities.insert().values(
                    symbol=event.symbol, asset_class=event.asset_class, wash_group=event.wash_group, delisted=False))
            case Security.Reclassified():
                session.execute(update(securities).where(securities.c.symbol == self._symbol(event, session))
                                .values(asset_class=event.asset_class, wash_group=event.wash_group))
            case Security.Delisted():
                session.execute(update(securities).where(securities.c.symbol == self._symbol(event, session)).values(delisted=True))
            case Account.Opened():
                session.execute(accounts.insert().values(
                    originator_id=event.originator_id, account_id=event.account_id, advisor=event.advisor,
                    template=event.template, tax_status=event.tax_status.value, opened=event.opened, closed=False))
            case Account.TemplateAssigned():
                session.execute(self._account(event).values(template=event.template))
            case Account.TaxStatusChanged():
                session.execute(self._account(event).values(tax_status=event.tax_status.value))
            case Account.CashRequested():
                session.execute(cash_requests.insert().values(
                    request_id=event.request_id, account_id=event.request_id.rsplit("/", 1)[0],
                    amount=str(event.amount), due_from=event.due_from, due_by=event.by, fulfilled=False))
            case Account.CashRequestFulfilled():
                session.execute(update(cash_requests).where(cash_requests.c.request_id == event.request_id)
                                .values(fulfilled=True))
            case Account.Closed():
                session.execute(self._account(event).values(closed=True))

    @staticmethod
    def _user(event: DomainEvent, session: Session):
        # User ids are derived from the business id, so find the row by recomputing it.
        for user_id in session.execute(select(users.c.user_id)).scalars():
            if User.id_for(user_id) == event.originator_id:
                return update(users).where(users.c.user_id == user_id)
        raise LookupError(event.originator_id)

    @staticmethod
    def _symbol(event: DomainEvent, session: Session) -> str:
        for symbol in session.execute(select(securities.c.symbol)).scalars():
            if Security.id_for(symbol) == event.originator_id:
                return symbol
        raise LookupError(event.originator_id)

    @staticmethod
    def _account(event: DomainEvent):
        return update(accounts).where(accounts.c.originator_id == event.originator_id)
