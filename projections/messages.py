"""The messages the Kafka relay sends, and their JSON Schemas.

One message per recorded event: key = the account id (for an event of no account, its
aggregate's `kind:id`), value = JSON with `event_id` (stable: derived from the stream
and version, so a message sent twice carries the same id), `position`, `type`,
`class_version`, `kind`, `id`, `account`, `version`, `timestamp`, `effective_date`,
`actor`, `role`, `auth`, `on_behalf_of`, `reason`, `data`, `chain_digest` and
`recorded_at` (when the store recorded it; `timestamp` is when the command acted); headers
`type` and `event_id`. What a message shows of its event (account, data, who acted) is
what the audit trail shows: `projections/audit.py` (`account_of`, `event_data`).

Types are the event classes' qualified names (`Account.TradeExecuted`,
`Decision.OrderFilled`): several aggregates have a `Created`. Each type's schema is
generated from its pydantic event model and carries its `class_version` (in `$id`,
the title and a `const`), so a consumer picks the schema of the version it reads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
import json
from hashlib import sha1
from json.encoder import encode_basestring_ascii as quoted
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

import orjson

from lotline.domain.account import Account
from lotline.domain.aggregate import ENVELOPE, ID_NAMESPACE, DomainEvent
from lotline.domain.decision import Decision
from lotline.domain.errors import LotlineError
from lotline.projections.audit import KINDS, DecisionSummary, account_of, event_data

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_BASE = "https://lotline.dev/schemas/events"
EVENT_IDS = uuid5(ID_NAMESPACE, "kafka-event-ids")


def message_type(cls: type) -> str:
    return cls.__qualname__


def event_classes() -> list[type[DomainEvent]]:
    """Every recorded event class of every aggregate, in a fixed order."""
    found = []
    for aggregate in KINDS:
        for name, value in sorted(vars(aggregate).items()):
            if (isinstance(value, type) and issubclass(value, DomainEvent) and not name.startswith("_")
                    and value.aggregate_class is aggregate):
                found.append(value)
    return found


def published_by_default() -> list[type[DomainEvent]]:
    """Every trade, order, fill and decision event: an account's trades, and every event
    of the day's decisions (recorded, failed, approved, rejected, cancelled, stale,
    unfilled, filled)."""
    return [cls for cls in event_classes()
            if cls.aggregate_class is Decision or cls in (Account.TradeRecorded, Account.TradeExecuted)]


def event_id(originator_id: UUID | str, version: int) -> str:
    """The event's stable id: one stream and version, one id, however often it is sent
    (a name-based UUID, version 5, of the stream and version)."""
    digest = bytearray(sha1(_EVENT_ID_PREFIX + f"{originator_id}:{version}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5 (what uuid5 does, without building UUID objects)
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    hexed = digest.hex()
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


_EVENT_ID_PREFIX = EVENT_IDS.bytes


def _text(value: str | None) -> str:
    return "null" if value is None else quoted(value)


def build_message(event: DomainEvent, position: int, kind: str, key: str, chain_digest: str | None,
                  recorded_at: str | None = None) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """The message of one event: (key, value, headers); its data is the JSON the trails show."""
    cls = type(event)
    return _message(cls, position, kind, key, account_of(event, kind, key), event.originator_id,
                    event.originator_version, event.timestamp.isoformat(), event.effective_date.isoformat(),
                    event.actor, event.role, event.auth, event.on_behalf_of, event.reason, chain_digest, recorded_at,
                    event_data(event))


def message_from_stored(cls: type[DomainEvent], state: dict[str, Any], originator_id: str, version: int, position: int,
                        kind: str, key: str, chain_digest: str | None,
                        recorded_at: str | None = None) -> tuple[bytes, bytes, list[tuple[str, bytes]]] | None:
    """The same message as `build_message` of the decoded event, straight from its stored
    JSON (the relay's hot loop: decoding every event through its model is most of the
    relay's cost). Only where the stored state is what the class writes today: every
    field present, the current `class_version`, shown in the trails as its own fields
    (not a decision's summary); None otherwise, and the caller decodes the event. The
    envelope's fields are taken out of `state` (it is left holding the data)."""
    kept = _FROM_STORED.get(cls, _UNSEEN)
    if kept is _UNSEEN:
        kept = _FROM_STORED[cls] = (None if cls.class_version != 1 or cls is Decision.DecisionRecorded else
                                    (frozenset(cls.model_fields) - {"originator_id", "originator_version"},
                                     cls.aggregate_class is Decision))
    if kept is None or state.keys() != kept[0]:
        return None
    pop = state.pop
    timestamp, effective_date, actor, role = pop("timestamp"), pop("effective_date"), pop("actor"), pop("role")
    auth, on_behalf_of, reason = pop("auth"), pop("on_behalf_of"), pop("reason")
    account = state["account_id"] if kept[1] else (key if kind == "account" else None)
    return _message(cls, position, kind, key, account, originator_id, version,
                    _as_isoformat(timestamp), effective_date, actor, role, auth, on_behalf_of,
                    reason, chain_digest, recorded_at,
                    # As pydantic writes JSON (compact, UTF-8 as it is), and as fast.
                    orjson.dumps(state).decode())


def _as_isoformat(timestamp: str) -> str:
    """A stored timestamp as `datetime.isoformat` writes it (the decoded event's form).
    Pydantic stores a UTC time as `...Z`, with six digits of microseconds when there are
    any: that is `...+00:00`, without parsing it (a tenth of the time); anything else
    goes through datetime."""
    if timestamp[-1:] == "Z" and (len(timestamp) == 20 or (len(timestamp) == 27 and timestamp[19] == "."
                                                          and timestamp[20:26] != "000000")):
        return timestamp[:-1] + "+00:00"
    return datetime.fromisoformat(timestamp).isoformat()


_UNSEEN = object()
# Per event class: None where the stored JSON is not used (decoded instead), else its
# stored fields and whether its account is in its data (a decision's events).
_FROM_STORED: dict[type, tuple[frozenset[str], bool] | None] = {}
# Per event class: the value's type fields written out, and the `type` header (one
# tuple shared by every message of the type).
_TYPE_PARTS: dict[type, tuple[str, tuple[str, bytes]]] = {}


def _type_parts(cls: type) -> tuple[str, tuple[str, bytes]]:
    parts = _TYPE_PARTS.get(cls)
    if parts is None:
        name = message_type(cls)
        parts = _TYPE_PARTS[cls] = (f'"type":"{name}","class_version":{cls.class_version},', ("type", name.encode()))
    return parts


def _message(cls: type, position: int, kind: str, key: str, account: str | None, originator_id: Any, version: int,
             timestamp: str, effective_date: str, actor: str, role: str, auth: str, on_behalf_of: str | None,
             reason: str | None, chain_digest: str | None, recorded_at: str | None,
             data: str) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """The value written out field by field (faster than building a dict to dump)."""
    the_id = event_id(originator_id, version)
    type_fields, type_header = _TYPE_PARTS.get(cls) or _type_parts(cls)
    stream = _STREAM_PARTS.get((kind, key, account))
    if stream is None:
        stream = _stream_parts(kind, key, account)
    value = (
        f'{{"event_id":"{the_id}","position":{int(position)},{type_fields}{stream[0]}"version":{int(version)},'
        f'"timestamp":"{timestamp}","effective_date":"{effective_date}",'
        f'"actor":{quoted(actor)},"role":{quoted(role)},"auth":{quoted(auth)},'
        f'"on_behalf_of":{"null" if on_behalf_of is None else quoted(on_behalf_of)},'
        f'"reason":{"null" if reason is None else quoted(reason)},'
        f'"chain_digest":{"null" if chain_digest is None else quoted(chain_digest)},'
        f'"recorded_at":{"null" if recorded_at is None else quoted(recorded_at)},"data":{data}}}'
    )
    return stream[1], value.encode(), [type_header, ("event_id", the_id.encode())]


# Per stream (kind, id, account): its fields of the value written out, and the message
# key. Every event of a stream shares them.
_STREAM_PARTS: dict[tuple[str, str, str | None], tuple[str, bytes]] = {}


def _stream_parts(kind: str, key: str, account: str | None) -> tuple[str, bytes]:
    if len(_STREAM_PARTS) > 200_000:
        _STREAM_PARTS.clear()
    message_key = account if account is not None else f"{kind}:{key}"
    parts = _STREAM_PARTS[(kind, key, account)] = (
        f'"kind":{quoted(kind)},"id":{quoted(key)},"account":{_text(account)},', message_key.encode())
    return parts


# --- schemas ---------------------------------------------------------------------------

def _data_schema(cls: type[DomainEvent]) -> dict[str, Any]:
    """The schema of a type's `data`: its event model's own fields (the envelope is in
    the message), a decision as its summary."""
    model = DecisionSummary if cls is Decision.DecisionRecorded else cls
    schema = model.model_json_schema(mode="serialization")
    schema["properties"] = {k: v for k, v in schema.get("properties", {}).items() if k not in ENVELOPE}
    schema["required"] = [k for k in schema.get("required", []) if k not in ENVELOPE]
    return schema


_NULLABLE_TEXT = {"anyOf": [{"type": "string"}, {"type": "null"}]}


def message_schema(cls: type[DomainEvent]) -> dict[str, Any]:
    """The JSON Schema of one message type's value, at its event's `class_version`."""
    name, version = message_type(cls), cls.class_version
    data = _data_schema(cls)
    definitions = data.pop("$defs", {})
    properties: dict[str, Any] = {
        "event_id": {"type": "string", "format": "uuid", "description": "stable: the same event always has the same id"},
        "position": {"type": "integer", "minimum": 1, "description": "the event's global position in the store"},
        "type": {"const": name},
        "class_version": {"const": version},
        "kind": {"type": "string", "description": "the kind of aggregate (as audit --firm --kind names it)"},
        "id": {"type": "string", "description": "the aggregate's business id"},
        "account": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "the account, if the event has one"},
        "version": {"type": "integer", "minimum": 1, "description": "the event's version in its stream"},
        "timestamp": {"type": "string", "format": "date-time"},
        "effective_date": {"type": "string", "format": "date"},
        "actor": {"type": "string"},
        "role": {"type": "string"},
        "auth": {"enum": ["asserted", "key"]},
        "on_behalf_of": _NULLABLE_TEXT,
        "reason": _NULLABLE_TEXT,
        "chain_digest": {"anyOf": [{"type": "string", "pattern": "^[0-9a-f]{64}$"}, {"type": "null"}],
                         "description": "the event's digest in the store's integrity chain (lotline verify)"},
        "recorded_at": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}],
                        "description": "when the store recorded the event (its chain entry's time)"},
        "data": data,
    }
    schema = {
        "$schema": SCHEMA_DIALECT,
        "$id": f"{SCHEMA_BASE}/{name}/v{version}.json",
        "title": f"{name} v{version}",
        "description": (cls.__doc__ or name).strip().splitlines()[0],
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    if definitions:
        schema["$defs"] = definitions
    return schema


def message_schemas() -> dict[str, dict[str, Any]]:
    """Every message type's schema, by type (deterministic: same code, same schemas)."""
    return {message_type(cls): message_schema(cls) for cls in event_classes()}


SCHEMA_FOLDER = "schemas"  # beside this module, shipped as package data (pyproject.toml)


def schema_file_name(cls: type[DomainEvent]) -> str:
    return f"{message_type(cls)}.v{cls.class_version}.json"


def schema_text(schema: dict[str, Any]) -> str:
    """A schema as its shipped file holds it (stable: regenerating an unchanged model
    writes the same bytes)."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write_schemas(folder: Path) -> list[Path]:
    """Writes every message type's schema at its current version into `folder` (how
    the shipped files are regenerated: `lotline schemas --write projections/schemas`).
    Files of earlier versions already there are left: consumers of old messages use them."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for cls in event_classes():
        path = folder / schema_file_name(cls)
        path.write_text(schema_text(message_schema(cls)), encoding="utf-8")
        written.append(path)
    return written


def shipped_schemas() -> dict[str, dict[str, Any]]:
    """Every message type's schema at its current version, as the package ships it."""
    from importlib.resources import files

    folder = files("lotline.projections") / SCHEMA_FOLDER
    found = {}
    for cls in event_classes():
        name = schema_file_name(cls)
        try:
            found[message_type(cls)] = json.loads((folder / name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise LotlineError(f"the package ships no schema {name}: regenerate them with "
                               "`lotline schemas --write projections/schemas`") from None
    return found


def stored_topics(classes: list[type[DomainEvent]]) -> Iterator[str]:
    """The stored topics of these classes, as any store may spell them."""
    from lotline.infrastructure.eventstore import event_topic

    for cls in classes:
        topic = event_topic(cls)
        yield topic
        yield "lotline." + topic
