"""Scenario texts shared by tests: the contract's own example first."""

CONTRACT_EXAMPLE = """
as_of: 2026-01-05
users:
  - {id: root, role: admin}
  - {id: ipc, role: policy_committee}
  - {id: alice, role: advisor}
  - {id: bob, role: advisor}
  - {id: olivia, role: overlay_manager}
  - {id: carol, role: compliance}
securities:
  - {symbol: VTI,  asset_class: us_equity, wash_group: us-total-market}
  - {symbol: ITOT, asset_class: us_equity, wash_group: us-total-market}
  - {symbol: SCHB, asset_class: us_equity, wash_group: us-broad}
  - {symbol: BND,  asset_class: bonds,     wash_group: us-agg}
prices:
  2026-01-05: {VTI: "250.00", ITOT: "120.00", SCHB: "22.00", BND: "72.50"}
models:
  - {id: us-core, weights: {VTI: "0.7", SCHB: "0.3"}}
  - {id: bonds-core, weights: {BND: "1"}}
templates:
  - id: balanced
    classes:
      us_equity: {weight: "0.60", model: us-core, alternatives: [], max_modification: "0.05", drift_limit: "0.03"}
      bonds:     {weight: "0.38", model: bonds-core, max_modification: "0.05", drift_limit: "0.03"}
      cash:      {weight: "0.02"}
settings: {trade_threshold_bp: "5"}
accounts:
  - id: ACC-1
    advisor: alice
    tax_status: taxable
    template: balanced
    opened: 2026-01-05
    cash: "1000.00"
    lots: [{symbol: VTI, quantity: "10", cost_basis: "2000.00", acquired: 2025-01-02}]
    parameters:
      modifications: {us_equity: "0.02", bonds: "-0.02"}
      model_choices: {us_equity: us-core}
      substitutions: {VTI: ITOT}
      restrictions: [{symbol: SCHB, rule: do_not_buy, reason: "client request"}]
      tax: {short_term_rate: "0.37", long_term_rate: "0.20", harvest_losses: true, annual_gain_budget: "5000"}
      cash: {reserve: "0.01"}
      trading: {min_trade_value: "100", fractional_shares: false}
  - id: ACC-2
    advisor: bob
    template: balanced
    opened: 2026-01-05
    cash: "500.00"
trades:
  - {account: ACC-1, date: 2026-01-10, side: sell, symbol: VTI, quantity: "5", price: "190.00"}
cash_requests:
  - {account: ACC-1, amount: "5000.00", date: 2026-01-05, by: 2026-01-20}
cash_movements:
  - {account: ACC-1, date: 2026-01-12, amount: "2500.00", reason: "monthly contribution"}
transfers:
  - {account: ACC-1, date: 2026-01-15, lots: [{symbol: BND, quantity: "20", cost_basis: "1500.00", acquired: 2024-06-03}]}
splits:
  - {symbol: VTI, date: 2026-06-01, ratio: "2"}
dividends:
  - {symbol: BND, ex_date: 2026-02-02, pay_date: 2026-02-05, per_share: "0.21"}
"""


# --- firms built from parameters: each test says only what differs -----------------

DAY = "2026-03-02"  # the day most behaviour tests decide on
# The closes of DAY the behaviour tests' price histories end at.
FINALS = {"VTI": "300.00", "ITOT": "130.00", "SCHB": "25.00", "VOO": "550.00", "BND": "73.00", "AGG": "99.00",
          "VGIT": "60.00", "VXUS": "67.00", "VEA": "54.00"}

ROLES = {"root": "admin", "ipc": "policy_committee", "alice": "advisor", "olivia": "overlay_manager",
         "carol": "compliance"}
STAFF = ("root", "ipc", "alice", "olivia")  # the firm's users but compliance

# symbol: (asset class, wash group), as the integration tests' firms list them.
SECURITIES = {
    "VTI": ("us_equity", "us-total"), "ITOT": ("us_equity", "us-total"), "SCHB": ("us_equity", "us-broad"),
    "VOO": ("us_equity", "sp500"), "BND": ("bonds", "us-agg"), "AGG": ("bonds", "us-agg"),
    "VGIT": ("bonds", "treasury"), "VXUS": ("intl_equity", "intl-total"), "VEA": ("intl_equity", "intl-dev"),
}


def policy(*, as_of: str = "2025-01-02", users=STAFF, securities=(), groups: dict | None = None,
           models: dict | None = None, templates=(), accounts: str = "") -> str:
    """A firm's policy file: users by id (roles from ROLES); securities by symbol (class
    and wash group from SECURITIES, a group overridden in ``groups``); models as id ->
    {symbol: weight}; templates as ``template`` texts; accounts as ``account`` lines."""
    lines = [f"as_of: {as_of}", "users:"]
    lines += [f"  - {{id: {user}, role: {ROLES[user]}}}" for user in users]
    if securities:
        lines.append("securities:")
        for symbol in securities:
            asset_class, group = SECURITIES[symbol]
            lines.append(f"  - {{symbol: {symbol}, asset_class: {asset_class}, "
                         f"wash_group: {(groups or {}).get(symbol, group)}}}")
    if models:
        lines.append("models:")
        for model_id, weights in models.items():
            listed = ", ".join(f'{symbol}: "{weight}"' for symbol, weight in weights.items())
            lines.append(f"  - {{id: {model_id}, weights: {{{listed}}}}}")
    if templates:
        lines.append("templates:")
        lines += templates
    text = "\n" + "\n".join(lines) + "\n"
    return text + ("accounts:\n" + accounts if accounts else "")


def invested(weight: str, model: str, alternatives: tuple[str, ...] | None = None, drift_limit: str = "0.03",
             max_modification: str = "0.05") -> str:
    """A template's invested asset class: its weight, model, alternative models, limits."""
    fields = [f'weight: "{weight}"', f"model: {model}"]
    if alternatives is not None:
        fields.append(f"alternatives: [{', '.join(alternatives)}]")
    fields += [f'max_modification: "{max_modification}"', f'drift_limit: "{drift_limit}"']
    return "{" + ", ".join(fields) + "}"


def cash_class(weight: str = "0.02", drift_limit: str = "0.02") -> str:
    return f'{{weight: "{weight}", drift_limit: "{drift_limit}"}}'


def template(template_id: str, **classes: str) -> str:
    """A template: asset class -> ``invested`` or ``cash_class`` text."""
    return "\n".join([f"  - id: {template_id}", "    classes:"]
                     + [f"      {name}: {fields}" for name, fields in classes.items()])


def balanced(template_id: str = "balanced", us_alternatives: tuple[str, ...] | None = None,
             bonds_alternatives: tuple[str, ...] | None = None, drift_limit: str = "0.03",
             cash_drift_limit: str = "0.02") -> str:
    """60% US equity (model us-core), 38% bonds (bonds-core), 2% cash."""
    return template(template_id,
                    us_equity=invested("0.60", "us-core", us_alternatives, drift_limit),
                    bonds=invested("0.38", "bonds-core", bonds_alternatives, drift_limit),
                    cash=cash_class("0.02", cash_drift_limit))


def lot(symbol: str, quantity: str, cost_basis: str, acquired: str = "2024-01-02") -> str:
    return f'{{symbol: {symbol}, quantity: "{quantity}", cost_basis: "{cost_basis}", acquired: {acquired}}}'


def account(account_id: str, template_id: str, cash: str, lots=(), *, opened: str = "2024-01-02",
            advisor: str = "alice", tax_status: str | None = None, parameters: str | None = None) -> str:
    """One entry of an ``accounts:`` list, on one line; ``lots`` as ``lot`` texts,
    ``parameters`` as a YAML flow mapping."""
    fields = [f"id: {account_id}", f"advisor: {advisor}"]
    if tax_status:
        fields.append(f"tax_status: {tax_status}")
    fields += [f"template: {template_id}", f"opened: {opened}", f'cash: "{cash}"']
    if parameters:
        fields.append(f"parameters: {parameters}")
    if lots:
        fields.append(f"lots: [{', '.join(lots)}]")
    return "  - {" + ", ".join(fields) + "}\n"


def load_closes(cli, path, symbols, day: str, finals: dict, days: int = 300) -> None:
    """A year (``days`` sessions) of seeded closes ending on ``day`` at ``finals``, loaded
    by the overlay manager. The order of ``symbols`` draws the series."""
    from datetime import date

    from tests.market import closes, write_wide_csv

    series = closes(list(symbols), date.fromisoformat(day), days, finals=finals)
    assert cli("prices", "load", str(write_wide_csv(path, series)), "--as", "olivia").code == 0


# --- loading them and deciding, as the users named above ----------------------------

def load_accounts(cli, text: str) -> None:
    """``account`` lines loaded by the advisor."""
    result = cli.load("accounts:\n" + text, "--as", "alice")
    assert result.code == 0, result.err


def rebalance(cli, account_id: str, day: str = DAY) -> dict:
    """The overlay manager's decision of the day for one account."""
    result = cli("rebalance", "--date", day, "--account", account_id, "--as", "olivia", "--json")
    assert result.code == 0, result.err
    (decision,) = result.json()["decisions"]
    return decision


def explained(cli, decision_id: str) -> dict:
    return cli("explain", decision_id, "--json").json()
