"""The application's shape: every command is a frozen model that refuses unknown
fields, and has exactly one handler, `handler(command, lotline)`, in
application/handlers/."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from datetime import date

import pytest
from pydantic import ValidationError

import lotline.application.commands as commands
import lotline.application.handlers as handlers

COMMANDS = {
    cls for cls in vars(commands).values()
    if inspect.isclass(cls) and issubclass(cls, commands.Command) and cls is not commands.Command
}


def _handlers() -> dict[str, list[str]]:
    """Command name -> the handler functions whose first parameter is that command."""
    found: dict[str, list[str]] = {}
    for module_info in pkgutil.iter_modules(handlers.__path__):
        module = importlib.import_module(f"{handlers.__name__}.{module_info.name}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ != module.__name__ or name.startswith("_"):
                continue
            parameters = list(inspect.signature(function).parameters.values())
            if len(parameters) >= 2 and parameters[1].annotation == "Lotline":
                found.setdefault(str(parameters[0].annotation), []).append(f"{module_info.name}.{name}")
    return found


def test_every_command_has_exactly_one_handler_and_every_handler_a_command():
    found = _handlers()
    names = {cls.__name__ for cls in COMMANDS}
    assert {name: len(found.get(name, [])) for name in names} == dict.fromkeys(names, 1), found
    assert set(found) <= names, f"handlers of no command: {sorted(set(found) - names)}"


@pytest.mark.parametrize("cls", sorted(COMMANDS, key=lambda c: c.__name__), ids=lambda c: c.__name__)
def test_a_command_is_frozen_and_refuses_unknown_fields(cls):
    config = cls.model_config
    assert config.get("frozen") is True and config.get("extra") == "forbid"


def test_a_command_cannot_be_changed_or_given_a_field_it_does_not_have():
    command = commands.Fill(user="olivia", on=date(2026, 3, 2))
    with pytest.raises(ValidationError):
        command.user = "mallory"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        commands.Fill(user="olivia", on=date(2026, 3, 2), accounts=("A",))  # type: ignore[call-arg]
