"""Integrity: `seal_history` chains, once, a history recorded before the integrity chain
existed, so `verify` covers every event from the first (an admin's act)."""

from __future__ import annotations

from lotline.application.authorisation import authorise
from lotline.application.commands import SealHistory
from lotline.application.lotline import Lotline
from lotline.domain.errors import RuleRefused
from lotline.domain.roles import Permission
from lotline.infrastructure.integrity import Head


def seal_history(cmd: SealHistory, lotline: Lotline) -> Head | None:
    """Refused when the chain already recorded is broken: sealing must never cover up
    a tampered history."""
    authorise(lotline.fresh(), cmd.user, Permission.SEAL_HISTORY, lotline.today(), lotline.clock())
    checked = lotline.verify()
    if not checked.intact:
        where = f"position {checked.position}: " if checked.position is not None else ""
        raise RuleRefused(f"the recorded chain is broken ({where}{checked.problem}); nothing sealed", "seal")
    return lotline.seal()
