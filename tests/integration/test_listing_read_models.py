"""`accounts` and `exceptions` value every account from the read models (cash, open
lots, and the targets read model) instead of loading each account: the answer must be
the one the accounts' own aggregates give, through a template change, a model change,
a parameter change, trades and new closes."""

from __future__ import annotations

from datetime import timedelta

from tests.integration.test_cli_views import decided, firm  # noqa: F401  (the fixture)
from tests.integration.test_rebalance_behaviour import DAY, date_of

NEXT_DAY = "2026-03-03"


def _both_ways(cli, on: str) -> dict:
    """Every account valued from the read models and from its aggregates, on a day."""
    from lotline.application.listings import _position, _positions
    from lotline.application.lotline import Lotline

    day = date_of(on)
    with Lotline(cli.url) as lotline:
        lotline.catch_up()
        uow = lotline.fresh()
        ids = [r.account_id for r in lotline.views.accounts()]
        # Every account is answered by the read models, not by the slow way they fall back on.
        held = lotline.views.account_positions(ids)
        assert all(h.class_targets is not None and not h.unreadable and h.cash is not None for h in held)
        class_of = {s.symbol: s.asset_class for s in lotline.views.securities()}
        closes = lotline.prices.on_or_before(day)
        oldest = day - timedelta(days=3)
        fast = _positions(lotline, uow, ids, day, class_of, closes, oldest)
        slow = {a: _position(lotline, uow, a, day, class_of, closes, oldest) for a in ids}
    assert fast == slow
    assert not any(p.problem for p in fast.values())
    return fast


def _loaded(cli, text: str, user: str) -> None:
    result = cli.load(text, "--as", user)
    assert result.code == 0, result.err


def test_the_read_models_value_every_account_as_its_aggregates_do(firm):  # noqa: F811
    first = _both_ways(firm, DAY)
    listed = firm("accounts", "--as-of", DAY, "--json").json()["accounts"]
    assert {a["account"]: a["total_value"] for a in listed} == {a: str(p.value) for a, p in first.items()}

    # A template change reaches every account on it.
    _loaded(firm, """
templates:
  - id: balanced
    classes:
      us_equity: {weight: "0.70", model: us-core, max_modification: "0.05", drift_limit: "0.01"}
      bonds:     {weight: "0.28", model: bonds-core, max_modification: "0.05", drift_limit: "0.01"}
      cash:      {weight: "0.02", drift_limit: "0.02"}
""", "ipc")
    retargeted = _both_ways(firm, DAY)
    assert all(retargeted[a].drifts != first[a].drifts for a in first)

    # A model change: a new security in the blend, valued (at zero) and checked for closes.
    _loaded(firm, 'models:\n  - {id: us-core, weights: {VTI: "0.3", SCHB: "0.3", VOO: "0.4"}}\n', "ipc")
    _both_ways(firm, DAY)

    # A parameter change of one account: a tilt, a substitution, a restriction.
    _loaded(firm, """
accounts:
  - id: H
    advisor: alice
    template: balanced
    opened: 2024-01-02
    parameters:
      modifications: {us_equity: "0.03", bonds: "-0.03"}
      substitutions: {VTI: ITOT}
      restrictions: [{symbol: VGIT, rule: do_not_buy}]
""", "alice")
    tilted = _both_ways(firm, DAY)
    assert tilted["H"].drifts != retargeted["H"].drifts
    assert tilted["N"].drifts == retargeted["N"].drifts

    # Trades: the day's decisions approved and filled.
    assert decided(firm)["decisions"]
    assert firm("approve", "--date", DAY, "--as", "olivia").code == 0
    assert firm("fill", "--date", DAY, "--as", "olivia").code == 0
    traded = _both_ways(firm, DAY)
    assert any(traded[a].value != tilted[a].value or traded[a].cash != tilted[a].cash for a in traded)

    # New closes, a day later.
    _loaded(firm, f'prices:\n  {NEXT_DAY}: {{VTI: "310.00", SCHB: "26.00", BND: "72.00", VGIT: "61.00", '
                  f'ITOT: "131.00", VOO: "560.00", AGG: "98.00"}}\n', "olivia")
    later = _both_ways(firm, NEXT_DAY)
    assert any(later[a].value != traded[a].value for a in later)
    report = firm("exceptions", "--date", NEXT_DAY, "--json").json()
    assert {d["account"] for d in report["drift"]} <= set(later)


def test_a_rebuild_gives_the_same_targets(firm):  # noqa: F811
    _loaded(firm, 'models:\n  - {id: us-core, weights: {VTI: "0.3", SCHB: "0.3", VOO: "0.4"}}\n', "ipc")
    before = _both_ways(firm, DAY)
    assert firm("projections", "rebuild", "--as", "root").code == 0
    assert _both_ways(firm, DAY) == before


def test_an_account_whose_targets_cannot_be_read_is_the_only_one_the_listings_cannot_value(sqlite_cli):
    import json
    import zlib

    from sqlalchemy import create_engine, text

    from tests.integration.test_read_model_containment import FIRM, _store

    cli = sqlite_cli
    assert cli.load(FIRM).code == 0
    _loaded(cli, "accounts:\n  - {id: A, advisor: alice, template: t, opened: 2026-01-02, "
                 "parameters: {restrictions: [{symbol: BND, rule: do_not_buy}]}}\n", "alice")
    before = {a["account"]: a for a in cli("accounts", "--as-of", "2026-03-02", "--json").json()["accounts"]}
    assert "problem" not in before["A"]
    engine = create_engine(cli.url)
    try:
        with engine.connect() as c:
            (position, state), = c.execute(text(
                "SELECT id, state FROM lotline_events WHERE topic LIKE '%RestrictionsSet'")).all()
    finally:
        engine.dispose()
    raw = bytes(state)
    data = json.loads(zlib.decompress(raw) if raw[:1] == b"x" else raw)
    data["restrictions"][0]["rule"] = "never"
    _store(cli.url, position, json.dumps(data).encode())

    rebuilt = cli("projections", "rebuild", "--as", "root", "--json")
    assert rebuilt.code == 0, rebuilt.err
    assert {(f["position"], f["account"], f["read_model"]) for f in rebuilt.json()["failures"]} == {
        (position, "A", "targets")}
    after = {a["account"]: a for a in cli("accounts", "--as-of", "2026-03-02", "--json").json()["accounts"]}
    assert after["B"] == before["B"]
    assert f"event {position} (RestrictionsSet) cannot be read" in after["A"]["problem"]
    report = cli("exceptions", "--date", "2026-03-02", "--json").json()
    assert [n["account"] for n in report["not_valued"]] == ["A"]
