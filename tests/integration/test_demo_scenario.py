"""The demo builds its firm through the scenario loader: the scenario it generates,
written to a YAML file and loaded with `load`, records the same history and prices."""

from __future__ import annotations

from datetime import date, datetime, timezone

import yaml

from lotline.application.demo import build_firm, demo_scenario
from lotline.application.commands import LoadScenario
from lotline.application.handlers.setup import load_scenario
from lotline.application.lotline import Lotline
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
    assert store_contents(built) == {**from_file, "lotline_events": from_file["lotline_events"][:-1]}
