"""Stored key credentials: for each key issued (`lotline users key`), the salted scrypt
hash the store keeps of it, never the key. Written in the same transaction as the
`User.KeyIssued` event that names the key; a revoked or replaced key's row is deleted
in the transaction that records its `User.KeyRevoked`.

Not a read model: the hashes are in no event (see domain/user.py, `KeyCredential`), so
`projections rebuild` leaves this table alone."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from lotline.domain.user import KeyCredential
from lotline.infrastructure.aggregate_store import AggregateStore

metadata = MetaData()

user_keys = Table(
    "user_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("user_id", String(128), nullable=False, index=True),
    Column("algorithm", String(16), nullable=False),
    Column("n", Integer, nullable=False),
    Column("r", Integer, nullable=False),
    Column("p", Integer, nullable=False),
    Column("salt", String(64), nullable=False),
    Column("hash", String(128), nullable=False),
)


def create_tables(connection: Connection) -> None:
    metadata.create_all(connection, checkfirst=True)


def record_credentials(session: Session, issued: Iterable[KeyCredential], revoked: Iterable[str]) -> None:
    """Deletes the rows of revoked keys, then inserts the new keys' rows (a key id taken
    already is an IntegrityError: the unit of work is run again with a new key)."""
    gone = sorted(set(revoked))
    if gone:
        session.execute(user_keys.delete().where(user_keys.c.key_id.in_(gone)))
    rows = [
        {"key_id": c.key_id, "user_id": c.user_id, "algorithm": c.algorithm, "n": c.n, "r": c.r, "p": c.p,
         "salt": c.salt, "hash": c.hash}
        for c in issued
    ]
    if rows:
        session.execute(user_keys.insert(), rows)


def find_credential(session: Session, key_id: str) -> KeyCredential | None:
    row = session.execute(select(user_keys).where(user_keys.c.key_id == key_id)).first()
    if row is None:
        return None
    return KeyCredential(key_id=row.key_id, user_id=row.user_id, algorithm=row.algorithm, n=row.n, r=row.r, p=row.p,
                         salt=row.salt, hash=row.hash)


class Credentials:
    """The stored key credentials of one store; each call opens a transaction of its
    own, or joins the one already open (so a key's row commits with its event)."""

    def __init__(self, store: AggregateStore) -> None:
        self._recorder = store.recorder

    def create_tables(self) -> None:
        with self._recorder.transaction(commit=True) as session:
            create_tables(session.connection())

    def record(self, issued: Iterable[KeyCredential], revoked: Iterable[str]) -> None:
        with self._recorder.transaction(commit=True) as session:
            record_credentials(session, issued, revoked)

    def find(self, key_id: str) -> KeyCredential | None:
        with self._recorder.transaction(commit=False) as session:
            return find_credential(session, key_id)
