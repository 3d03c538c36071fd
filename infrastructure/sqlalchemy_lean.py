"""Loads `eventsourcing-sqlalchemy` without the whole of `sqlalchemy-utils`.

The store's models need one class from sqlalchemy-utils, `UUIDType`, but importing it
runs the package's `__init__`, which loads every type and helper it has (the Oracle
and MS SQL dialects, passlib, dateutil's parser...): about a sixth of a read command's
start-up. Importing this module first loads the store's models with placeholders for
the two parent packages of `sqlalchemy_utils.types.uuid`, then takes every
sqlalchemy-utils module out of `sys.modules` again: anything that imports the package
later gets the real one, loaded in full."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


def _load_store_models() -> None:
    if "eventsourcing_sqlalchemy.models" in sys.modules or "sqlalchemy_utils" in sys.modules:
        return
    spec = importlib.util.find_spec("sqlalchemy_utils")
    if spec is None or not spec.submodule_search_locations:
        return
    placeholders = []
    for name, locations in (("sqlalchemy_utils", list(spec.submodule_search_locations)),
                            ("sqlalchemy_utils.types", [f"{p}/types" for p in spec.submodule_search_locations])):
        package = types.ModuleType(name)
        package.__path__ = locations
        package.__package__ = name
        sys.modules[name] = package
        placeholders.append(name)
    try:
        importlib.import_module("eventsourcing_sqlalchemy.models")
    finally:
        for name in [m for m in sys.modules if m == "sqlalchemy_utils" or m.startswith("sqlalchemy_utils.")]:
            del sys.modules[name]


_load_store_models()
