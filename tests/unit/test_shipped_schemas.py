"""The JSON Schemas of the relay's messages ship with the package as files
(`projections/schemas/`, package data), and they are what the event models generate
now: a model changed without regenerating the files fails here."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import lotline.projections
from lotline.projections.messages import (event_classes, message_schema, message_schemas, schema_file_name,
                                          schema_text, shipped_schemas, write_schemas)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = Path(next(iter(lotline.projections.__path__))) / "schemas"


def test_every_shipped_schema_file_is_what_its_event_model_generates_now():
    for cls in event_classes():
        path = SHIPPED / schema_file_name(cls)
        assert path.exists(), f"{path.name} is not shipped: run `lotline schemas --write projections/schemas`"
        assert path.read_text(encoding="utf-8") == schema_text(message_schema(cls)), (
            f"{path.name} differs from what the model generates: run `lotline schemas --write projections/schemas`")
    assert shipped_schemas() == message_schemas()


def test_a_model_changed_without_regenerating_differs_from_the_shipped_file(tmp_path: Path):
    from lotline.domain.account import Account

    written = write_schemas(tmp_path)
    assert sorted(p.name for p in written) == sorted(schema_file_name(cls) for cls in event_classes())
    original = Account.TradeExecuted.__doc__
    try:
        Account.TradeExecuted.__doc__ = "A fill described otherwise."
        changed = schema_text(message_schema(Account.TradeExecuted))
    finally:
        Account.TradeExecuted.__doc__ = original
    assert changed != (SHIPPED / schema_file_name(Account.TradeExecuted)).read_text(encoding="utf-8")


def test_the_schema_files_are_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "schemas/*.json" in config["tool"]["setuptools"]["package-data"]["lotline.projections"]
    assert config["tool"]["setuptools"]["package-dir"]["lotline.projections"] == "projections"


def test_lotline_schemas_prints_the_shipped_files_and_write_regenerates_them(tmp_path: Path):
    run = [sys.executable, "-m", "lotline.application", "schemas"]
    one = subprocess.run([*run, "Account.TradeExecuted", "--json"], capture_output=True, text=True, check=True)
    assert json.loads(one.stdout) == json.loads((SHIPPED / "Account.TradeExecuted.v1.json").read_text())
    written = subprocess.run([*run, "--write", str(tmp_path / "out"), "--json"], capture_output=True, text=True,
                             check=True)
    paths = [Path(p) for p in json.loads(written.stdout)["written"]]
    assert len(paths) == len(event_classes())
    assert all(p.read_bytes() == (SHIPPED / p.name).read_bytes() for p in paths)
