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
