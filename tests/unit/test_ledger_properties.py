"""Conservation laws of the lot ledger over random histories of buys, transfers in,
first-in first-out and specifically identified sales, and splits, in date order.

With cost_in the money paid for purchases plus the basis of lots transferred in, and
disallowed the sum of every realisation's disallowed loss:

  shares:       per symbol, open shares = shares acquired, scaled by each later split, minus shares sold
  cost:         cost_in + disallowed = sum(open lot cost_basis) + sum(realised cost_basis)
                (a disallowed dollar is moved into a replacement lot's basis, so it is counted once
                more on the right; equivalently cost_in = open + realised basis - disallowed)
  wash dollars: disallowed = sum(open lot wash_sale_adjustment) + sum(realised wash_sale_adjustment)
                (each disallowed dollar sits in exactly one open replacement lot until that lot is
                sold, and then in that sale's cost basis)
  gains:        sum(recognised gain) = sum(proceeds) - cost_in + sum(open lot cost_basis)
"""

from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from lotline.domain.ledger import InsufficientShares, LotLedger

GROUPS = {"VTI": "us-total-market", "ITOT": "us-total-market"}
SYMBOLS = ["VTI", "ITOT", "BND"]
CENT = Decimal("0.01")

quarters = st.integers(1, 400).map(lambda n: Decimal(n) / 4)
share_prices = st.integers(50_00, 150_00).map(lambda cents: Decimal(cents) / 100)
fractions = st.integers(1, 4).map(lambda n: Decimal(n) / 4)
split_ratios = st.sampled_from([Decimal(2), Decimal(3), Decimal("1.5"), Decimal("0.5")])


def total_of(quantity: Decimal, price: Decimal) -> Decimal:
    return max((quantity * price).quantize(CENT), CENT)


def portion(quantity: Decimal, fraction: Decimal) -> Decimal:
    """A fraction of a holding in the 1/10,000 shares a broker trades, all of it if that rounds to none.
    (Unbounded quartering would grow digits past any decimal precision, the test's own included.)"""
    return (quantity * fraction).quantize(Decimal("0.0001"), rounding=ROUND_DOWN) or quantity


class RandomHistory(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.book = LotLedger(wash_group_of=lambda symbol: GROUPS.get(symbol, symbol))
        self.today = date(2025, 1, 2)
        self.lots_made = 0
        self.expected_position = {symbol: Decimal(0) for symbol in SYMBOLS}
        self.cost_in = Decimal(0)
        self.proceeds_in = Decimal(0)

    def _next_lot_id(self) -> str:
        self.lots_made += 1
        return f"L{self.lots_made}"

    @rule(days=st.integers(0, 20))
    def time_passes(self, days):
        self.today += timedelta(days=days)

    @rule(symbol=st.sampled_from(SYMBOLS), quantity=quarters, price=share_prices)
    def buy(self, symbol, quantity, price):
        cost = total_of(quantity, price)
        self.book.buy(lot_id=self._next_lot_id(), symbol=symbol, quantity=quantity, cost=cost, on=self.today)
        self.expected_position[symbol] += quantity
        self.cost_in += cost

    @rule(symbol=st.sampled_from(SYMBOLS), quantity=quarters, price=share_prices, age=st.integers(0, 800))
    def transfer_in(self, symbol, quantity, price, age):
        basis = total_of(quantity, price)
        self.book.transfer_in(lot_id=self._next_lot_id(), symbol=symbol, quantity=quantity, cost_basis=basis,
                              acquired=self.today - timedelta(days=age), on=self.today)
        self.expected_position[symbol] += quantity
        self.cost_in += basis

    @precondition(lambda self: self.book.open_lots())
    @rule(data=st.data(), fraction=fractions, price=share_prices)
    def sell_first_in_first_out(self, data, fraction, price):
        symbol = data.draw(st.sampled_from(sorted({lot.symbol for lot in self.book.open_lots()})))
        self._sell(symbol, portion(self.book.position(symbol), fraction), price, picks=None)

    @precondition(lambda self: self.book.open_lots())
    @rule(data=st.data(), price=share_prices)
    def sell_specific_lots(self, data, price):
        open_lots = self.book.open_lots()
        symbol = data.draw(st.sampled_from(sorted({lot.symbol for lot in open_lots})))
        candidates = [lot for lot in open_lots if lot.symbol == symbol]
        chosen = data.draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=3, unique_by=lambda l: l.lot_id))
        picks = []
        for lot in chosen:
            share = portion(lot.quantity, data.draw(fractions))
            by_date = data.draw(st.booleans()) and all(
                other.acquired != lot.acquired for other in candidates if other is not lot)
            picks.append((lot.acquired if by_date else lot.lot_id, share))
        self._sell(symbol, sum(q for _, q in picks), price, picks)

    def _sell(self, symbol, quantity, price, picks):
        proceeds = total_of(quantity, price)
        sold = self.book.sell(symbol=symbol, quantity=quantity, proceeds=proceeds, on=self.today, lots=picks)
        assert sum(r.quantity for r in sold) == quantity
        assert sum(r.proceeds for r in sold) == proceeds
        self.expected_position[symbol] -= quantity
        self.proceeds_in += proceeds

    @precondition(lambda self: self.book.open_lots())
    @rule(data=st.data(), extra=quarters)
    def oversell_changes_nothing(self, data, extra):
        symbol = data.draw(st.sampled_from(SYMBOLS))
        lots, realized = self.book.open_lots(), self.book.realizations()
        with pytest.raises(InsufficientShares):
            self.book.sell(symbol=symbol, quantity=self.book.position(symbol) + extra, proceeds=CENT, on=self.today)
        assert (self.book.open_lots(), self.book.realizations()) == (lots, realized)

    @rule(symbol=st.sampled_from(SYMBOLS), ratio=split_ratios)
    def split(self, symbol, ratio):
        self.book.split(symbol=symbol, ratio=ratio, on=self.today)
        self.expected_position[symbol] *= ratio

    # --- the laws ----------------------------------------------------------------------------

    @invariant()
    def shares_are_conserved(self):
        for symbol in SYMBOLS:
            assert self.book.position(symbol) == self.expected_position[symbol]
            assert sum((lot.quantity for lot in self.book.open_lots(symbol)), Decimal(0)) == self.expected_position[symbol]

    @invariant()
    def every_dollar_of_cost_is_in_an_open_lot_or_a_realisation(self):
        open_basis = sum((lot.cost_basis for lot in self.book.open_lots()), Decimal(0))
        realized = self.book.realizations()
        realized_basis = sum((r.cost_basis for r in realized), Decimal(0))
        disallowed = sum((r.disallowed_loss for r in realized), Decimal(0))
        assert self.cost_in + disallowed == open_basis + realized_basis

    @invariant()
    def every_disallowed_dollar_sits_in_exactly_one_place(self):
        realized = self.book.realizations()
        disallowed = sum((r.disallowed_loss for r in realized), Decimal(0))
        in_open_lots = sum((lot.wash_sale_adjustment for lot in self.book.open_lots()), Decimal(0))
        carried_into_sales = sum((r.wash_sale_adjustment for r in realized), Decimal(0))
        assert disallowed == in_open_lots + carried_into_sales

    @invariant()
    def recognised_gains_plus_open_basis_equal_proceeds_minus_cost(self):
        gains = sum((r.gain for r in self.book.realizations()), Decimal(0))
        open_basis = sum((lot.cost_basis for lot in self.book.open_lots()), Decimal(0))
        assert gains == self.proceeds_in - self.cost_in + open_basis

    @invariant()
    def realisations_are_consistent(self):
        for r in self.book.realizations():
            assert r.gain == r.proceeds - r.cost_basis + r.disallowed_loss
            assert Decimal(0) <= r.disallowed_loss <= max(r.cost_basis - r.proceeds, Decimal(0))
            assert Decimal(0) <= r.wash_sale_adjustment <= r.cost_basis
            assert r.quantity > 0 and r.term in ("short", "long")

    @invariant()
    def open_lots_are_well_formed(self):
        lots = self.book.open_lots()
        assert len({lot.lot_id for lot in lots}) == len(lots)
        for lot in lots:
            assert lot.quantity > 0
            assert Decimal(0) <= lot.wash_sale_adjustment <= lot.cost_basis
            assert lot.holding_period_start <= lot.acquired

    def teardown(self):
        # Shown by --hypothesis-show-statistics: how often the histories reach the wash-sale paths.
        realized = self.book.realizations()
        event(f"wash sales: {'yes' if any(r.disallowed_loss for r in realized) else 'no'}")
        event(f"chained adjustment sold: {'yes' if any(r.wash_sale_adjustment for r in realized) else 'no'}")
        event(f"carved lots: {'yes' if any('.' in lot.lot_id for lot in self.book.open_lots()) else 'no'}")


RandomHistory.TestCase.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
test_random_histories = RandomHistory.TestCase
