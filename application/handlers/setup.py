"""Setting the firm up: `load_scenario` (a scenario file, all or nothing, once per
content), `load_prices` (a price file's closes) and `change_setting` (a firm setting;
`authentication`, the admin's, included)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from lotline.application.authorisation import authorise, authorise_read
from lotline.application.commands import ChangeSetting, LoadPrices, LoadScenario
from lotline.application.lotline import Lotline
from lotline.application.unit_of_work import UnitOfWork
from lotline.domain.errors import InvalidInput, UnknownEntity
from lotline.domain.roles import Permission
from lotline.domain.scenario_file import ScenarioFile
from lotline.domain.security import Security
from lotline.domain.settings import AUTHENTICATION, FirmSettings
from lotline.domain.user import User


@dataclass
class ScenarioLoaded:
    """What a load recorded, or (`skipped`) when, as what and by whom the same file was
    loaded before."""

    skipped: bool
    sha256: str
    events: int = 0
    prices: int = 0
    entries_skipped: int = 0
    loaded_as: str | None = None
    loaded_at: str | None = None
    loaded_by: str | None = None


def load_scenario(cmd: LoadScenario, lotline: Lotline) -> ScenarioLoaded:
    """Applies a scenario file all or nothing; returns events and closes recorded. A
    file whose SHA-256 equals that of a file already loaded is skipped as a whole: the
    summary then says so (`skipped`), with when and by whom it was loaded."""
    from lotline.application.loading import ScenarioLoader
    from lotline.application.scenario import read_scenario

    path, user = cmd.path, cmd.user
    scenario = read_scenario(path, lotline.today())  # today: the file's date when it gives no as_of
    try:
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror}", "file") from None
    lotline.catch_up()
    known = lotline.views.user_ids()

    def work(uow: UnitOfWork) -> ScenarioLoaded:
        loaded = uow.find(ScenarioFile, sha256)
        if loaded is not None:
            authorise_read(uow, user.user, None, None)
            return ScenarioLoaded(True, sha256, loaded_as=loaded.file_name, loaded_at=loaded.loaded_at,
                                  loaded_by=", ".join(loaded.loaded_by))
        loader = ScenarioLoader(uow, scenario, user, known, lotline.today(), lotline.clock(),
                                lotline.views.accounts_holding)
        loader.run()
        events, prices = uow.pending_event_count(), len(uow.closes)
        loader.record_file(path.name, sha256, events, prices)
        return ScenarioLoaded(False, sha256, events, prices, loader.entries_skipped)

    return lotline.execute(work)


def load_prices(cmd: LoadPrices, lotline: Lotline) -> int:
    """Loads a price file all or nothing; returns the closes recorded (corrections included)."""
    from lotline.application.price_files import read_price_file

    closes = read_price_file(cmd.path)

    def work(uow: UnitOfWork) -> int:
        authorise(uow, cmd.user, Permission.MANAGE_MARKET, lotline.today(), lotline.clock())
        for symbol in sorted({s for _, s, _ in closes}):
            if uow.find(Security, symbol) is None:
                raise UnknownEntity(f"unknown symbol {symbol!r}", "file")
        uow.closes.extend(closes)
        return len(closes)

    return lotline.execute(work)


def change_setting(cmd: ChangeSetting, lotline: Lotline) -> None:
    if cmd.key == AUTHENTICATION:
        return _change_authentication(cmd, lotline)

    def work(uow: UnitOfWork) -> None:
        actor = authorise(uow, cmd.user, Permission.MANAGE_MARKET, lotline.today(), lotline.clock(), cmd.reason)
        settings = uow.find(FirmSettings, "firm")
        if settings is None:
            settings = FirmSettings.create(actor)
            uow.add(settings)
        settings.change(cmd.key, cmd.value, actor)

    lotline.execute(work)


def _change_authentication(cmd: ChangeSetting, lotline: Lotline) -> None:
    """`authentication` is the admin's, not the overlay manager's (domain/settings.py)."""
    def work(uow: UnitOfWork) -> None:
        actor = authorise(uow, cmd.user, Permission.MANAGE_KEYS, lotline.today(), lotline.clock(), cmd.reason)
        settings = uow.find(FirmSettings, "firm")
        if settings is None:
            settings = FirmSettings.create(actor)
            uow.add(settings)
        settings.change_authentication(cmd.value, actor, uow.get(User, actor.user, "user"))

    lotline.execute(work)
