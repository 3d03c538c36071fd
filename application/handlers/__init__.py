"""One handler per command (application/commands.py), grouped by the part of the day
it serves. A handler is `handler(command, lotline)`: it authorises the user, loads
aggregates through a unit of work (`lotline.execute`, one per account where a command
goes account by account), calls the domain, and commits.

    setup.py        LoadScenario -> load_scenario, LoadPrices -> load_prices,
                    ChangeSetting -> change_setting
    analysis.py     Rebalance -> rebalance, RedoDecisions -> redo_decisions
    release.py      Approve -> approve, Reject -> reject, Cancel -> cancel
    execution.py    Fill -> fill
    read_models.py  RebuildProjections -> rebuild_projections
    integrity.py    SealHistory -> seal_history
    users.py        IssueKey -> issue_key, RevokeKey -> revoke_key
    demo.py         RunDemo -> run_demo

trading_day.py holds what the day's handlers share. Reading needs no handler: see
application/queries.py and application/replay.py."""
