"""The documents of the read commands, in the contract's shapes: one place builds each,
whether the answer came through the event store (application/queries.py) or from the
read models alone (application/direct_reads.py), so both say exactly the same."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from lotline.domain.values import CENT, WEIGHT, ZERO


def money(value: Decimal) -> str:
    return str(value.quantize(CENT))


def weight(value: Decimal) -> str:
    return str(value.quantize(WEIGHT))


def lots_document(account_id: str, as_of: date, cash: Decimal, open_lots: Iterable[Any]) -> dict[str, Any]:
    return {
        "account": account_id,
        "as_of": as_of.isoformat(),
        "cash": money(cash),
        "lots": [
            {
                "lot_id": lot.lot_id,
                "symbol": lot.symbol,
                "quantity": str(lot.quantity),
                "cost_basis": money(lot.cost_basis),
                "acquired": lot.acquired.isoformat(),
                "holding_period_start": lot.holding_period_start.isoformat(),
                "wash_sale_adjustment": money(lot.wash_sale_adjustment),
            }
            for lot in sorted(open_lots, key=lambda lot: (lot.symbol, lot.acquired, lot.lot_id))
        ],
    }


def holdings_document(account_id: str, as_of: date, cash: Decimal, positions: Mapping[str, Decimal],
                      symbols: list[str], closes: Mapping[str, tuple[date, Decimal]], class_of: Mapping[str, str],
                      template: Any, targets: Any) -> dict[str, Any]:
    """`positions`: the open quantities (none zero); `symbols`: those and the targets'."""
    from lotline.domain.valuation import Valuation

    limits = {name: t.drift_limit for name, t in template.classes.items()}
    valuation = Valuation.of(cash, positions.items(), {s: close for s, (_, close) in closes.items()}, class_of,
                             targets.class_weights, limits, also=[s for s in targets.weights if s in closes],
                             rounded_to=CENT)
    classes = sorted(set(valuation.class_weights) | set(targets.class_weights))
    return {
        "account": account_id,
        "as_of": as_of.isoformat(),
        "cash": money(cash),
        "total_value": money(valuation.total),
        "positions": [
            {
                "symbol": symbol,
                "asset_class": class_of.get(symbol),
                "quantity": str(positions.get(symbol, ZERO)),
                "price": str(closes[symbol][1]) if symbol in closes else None,
                "price_date": closes[symbol][0].isoformat() if symbol in closes else None,
                "market_value": money(valuation.market_values.get(symbol, ZERO)),
                "weight": weight(valuation.weights.get(symbol, ZERO)),
                "target_weight": weight(targets.weights.get(symbol, ZERO)),
            }
            for symbol in symbols
        ],
        "asset_classes": [
            {
                "asset_class": name,
                "weight": weight(valuation.class_weights.get(name, ZERO)),
                "target_weight": weight(targets.class_weights.get(name, ZERO)),
                "drift": weight(valuation.drift(name)),
                "drift_limit": weight(limits[name]) if name in limits else None,
            }
            for name in classes
        ],
        "notes": list(targets.notes),
    }


def order_document(r: Any, lots: list[dict[str, str]]) -> dict[str, Any]:
    """An order as the orders read model has it (`lots`: its lots, parsed)."""
    return {
        "order_id": r.order_id, "decision_id": r.decision_id, "account": r.account_id,
        "date": r.date.isoformat(), "side": r.side, "symbol": r.symbol, "quantity": r.quantity,
        "price": r.price, "value": r.value, "status": r.status, "reason": r.reason, "mandatory": r.mandatory,
        **({"lots": lots, "realised_gain": r.realised_gain, "estimated_tax": r.estimated_tax}
           if r.side == "sell" else {}),
        **({"fill_price": r.fill_price} if r.fill_price is not None else {}),
        **({f"{r.status}_reason": r.status_reason} if r.status_reason is not None else {}),
    }


def check_order_status(status: str | None) -> None:
    """An order status to filter by, when one is given: one the contract names."""
    from lotline.domain.decision import OrderStatus
    from lotline.domain.errors import InvalidInput

    if status is not None and status not in OrderStatus.ALL:
        raise InvalidInput(f"must be one of {', '.join(OrderStatus.ALL)}, got {status!r}", "status")
