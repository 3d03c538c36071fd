"""An event as stored, read back: its pydantic JSON (compressed when large) upcast from
any older `class_version`. The one decoding of stored events, used by the event store's
mapper (infrastructure/eventstore.py) and by reads that fetch a few events without the
event store library (application/direct_reads.py)."""

from __future__ import annotations

import json
import zlib
from typing import Any
from uuid import UUID

from lotline.domain.aggregate import DomainEvent


def decode_event(cls: type[DomainEvent], state: bytes, originator_id: UUID, originator_version: int) -> DomainEvent:
    raw = state
    if raw[:1] == b"x":
        raw = zlib.decompress(raw)
    # The common case, read in one pass by pydantic's JSON parser: the ids spliced
    # in front of the stored fields; an event at a current version above 1 has it
    # written last, and cut off here.
    current = b',"class_version":%d}' % cls.class_version
    at_current = cls.class_version > 1 and raw.endswith(current)
    if at_current:
        raw = raw[: -len(current)] + b"}"
    if at_current or (cls.class_version == 1 and b'"class_version"' not in raw):
        head = b'{"originator_id":"%s","originator_version":%d,' % (str(originator_id).encode(), originator_version)
        return cls.model_validate_json(head + raw[1:])
    decoded: dict[str, Any] = json.loads(raw)
    version = decoded.pop("class_version", 1)
    if version < cls.class_version:
        decoded = cls.upcast(decoded, version)
    decoded["originator_id"] = originator_id
    decoded["originator_version"] = originator_version
    return cls.model_validate(decoded)
