"""Setting the firm up: `load_scenario` (a scenario file, all or nothing, once per
content), `load_prices` (a price file's closes, or corrections of recorded ones) and
`change_setting` (a firm setting, with a reason; `authentication`, the admin's, included)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from lotline.application.authorisation import authorise, authorise_read
from lotline.application.commands import ChangeSetting, LoadPrices, LoadScenario
from lotline.application.lotline import Lotline, Progress
from lotline.application.unit_of_work import UnitOfWork
from lotline.domain.errors import InvalidInput, RuleRefused, UnknownEntity
from lotline.domain.price_series import CloseDiffers, PriceSource
from lotline.domain.roles import Permission
from lotline.domain.scenario_file import ScenarioFile
from lotline.domain.security import Security
from lotline.domain.settings import AUTHENTICATION, FirmSettings
from lotline.domain.user import User
from lotline.domain.values import required_reason


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


def load_scenario(cmd: LoadScenario, lotline: Lotline, progress: Progress | None = None) -> ScenarioLoaded:
    """Applies a scenario file all or nothing; returns events and closes recorded. A
    file whose SHA-256 equals that of a file already loaded is skipped as a whole: the
    summary then says so (`skipped`), with when and by whom it was loaded."""
    from lotline.application.loading import ScenarioLoader
    from lotline.application.price_records import closes_recorded
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
                                lotline.views.accounts_holding, prices_source=PriceSource(path.name, sha256),
                                progress=progress)
        if progress is not None and hasattr(progress, "total"):
            progress.total(loader.entries())  # a progress bar learns how many entries there are
        loader.run()
        events, prices = uow.pending_event_count(), closes_recorded(uow)
        loader.record_file(path.name, sha256, events, prices)
        return ScenarioLoaded(False, sha256, events, prices, loader.entries_skipped)

    return lotline.execute(work)


@dataclass
class PricesLoaded:
    """What a price file held and what its load recorded."""

    read: int  # closes in the file
    recorded: int  # closes recorded for the first time
    corrected: int  # recorded closes corrected
    sha256: str  # of the file's bytes, recorded with its name as the source

    @property
    def unchanged(self) -> int:
        return self.read - self.recorded - self.corrected


def load_prices(cmd: LoadPrices, lotline: Lotline) -> PricesLoaded:
    """Records a price file's closes all or nothing, as events naming the file and the
    SHA-256 of its bytes. A close already recorded is skipped; one that differs is
    refused unless the command corrects (with a reason), which records the old and the
    new close."""
    from lotline.application.price_files import read_price_file_and_digest
    from lotline.application.price_records import price_changes, record_closes

    if cmd.correct:
        required_reason(cmd.reason, "say why the closes are corrected")
    closes, sha256 = read_price_file_and_digest(cmd.path)
    source = PriceSource(cmd.path.name, sha256)

    def work(uow: UnitOfWork) -> PricesLoaded:
        for symbol in sorted({s for _, s, _ in closes}):
            if uow.find(Security, symbol) is None:
                raise UnknownEntity(f"unknown symbol {symbol!r}", "file")
        actor = authorise(uow, cmd.user, Permission.MANAGE_MARKET, lotline.today(), lotline.clock(), cmd.reason)
        try:
            record_closes(uow, closes, source, actor, correct=cmd.correct)
        except CloseDiffers as differs:
            raise RuleRefused(f"{differs.detail}; to correct it: --correct --reason TEXT", "file") from None
        return PricesLoaded(len(closes), *price_changes(uow), sha256)

    return lotline.execute(work)


def change_setting(cmd: ChangeSetting, lotline: Lotline) -> None:
    """Changes one firm setting; the reason is required."""
    required_reason(cmd.reason, "say why the setting changes")
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
