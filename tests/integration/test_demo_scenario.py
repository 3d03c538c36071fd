"""The demo builds its firm through the scenario loader: the scenario it generates,
written to a YAML file and loaded with `load`, records the same history and prices."""

from __future__ import annotations

import hashlib
import json
import zlib
from datetime import date, datetime, timezone

import yaml

from lotline.application.demo import build_firm, demo_scenario
from lotline.application.commands import LoadScenario
from lotline.application.handlers.setup import load_scenario
from lotline.application.lotline import Lotline
from lotline.domain.price_series import closes_digest
from tests.helpers import store_contents

START = date(2026, 3, 2)
MOMENT = datetime(2026, 3, 2, 21, tzinfo=timezone.utc)


def test_the_demo_firm_is_the_firm_its_scenario_file_loads(tmp_path):
    scenario, _, _ = demo_scenario(6, 11, START)
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(scenario.model_dump(mode="json", exclude_none=True), sort_keys=False))
    built, loaded = f"sqlite:///{tmp_path / 'built.db'}", f"sqlite:///{tmp_path / 'loaded.db'}"
    with Lotline(built, clock=lambda: MOMENT) as lotline:
        build_firm(lotline, 6, 11, START)
    with Lotline(loaded, clock=lambda: MOMENT) as lotline:
        summary = load_scenario(LoadScenario(path=path), lotline)
    assert summary.prices == len(store_contents(built)["prices"]) > 0
    from_file = store_contents(loaded)
    # Loading a file also records the file itself (skipped if loaded again); the demo was no file.
    assert [row[3] for row in from_file["lotline_events"]][-1].endswith("ScenarioFile.Loaded")
    # The price events name their source: the file and its SHA-256, or the demo and its closes' digest.
    demo, file = _sources(store_contents(built)), _sources(from_file)
    assert demo == {("lotline demo --seed 11", closes_digest(
        [(day, symbol, close) for day, row in scenario.prices.items() for symbol, close in row.items()]))}
    assert file == {("demo.yaml", hashlib.sha256(path.read_bytes()).hexdigest())}
    assert (_without_sources(store_contents(built))
            == {**_without_sources(from_file), "lotline_events": _without_sources(from_file)["lotline_events"][:-1]})


def _price_events(contents):
    for row in contents["lotline_events"]:
        if row[3].endswith("PriceSeries.ClosesRecorded"):
            state = bytes(row[4])
            yield row, json.loads(zlib.decompress(state) if state[:1] == b"x" else state)


def _sources(contents):
    return {(state["source"], state["sha256"]) for _, state in _price_events(contents)}


def _without_sources(contents):
    """The store's rows with the price events' source and digest left out."""
    changed = {}
    for row, state in _price_events(contents):
        del state["source"], state["sha256"]
        changed[row[0]] = (*row[:4], json.dumps(state, sort_keys=True))
    return {**contents, "lotline_events": [changed.get(row[0], row) for row in contents["lotline_events"]]}
