"""Shared fixtures: real stores (a SQLite file; a throwaway PostgreSQL cluster started
here) and an in-process runner for the `lotline` command."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PINNED_NOW = "2026-03-02T21:00:00+00:00"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(*args: str) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return list(args)


@dataclass
class PostgresServer:
    port: int
    counter: int = 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def fresh_database(self) -> str:
        import psycopg

        self.counter += 1
        name = f"lotline_test_{self.counter}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {name}")
            c.execute(f"CREATE DATABASE {name}")
        return self.url(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster (fsync off), as the postgres user when run as root."""
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        pytest.fail("PostgreSQL (initdb, pg_ctl) is required; .ci/run installs it")
    base = Path(tempfile.mkdtemp(prefix="lotline-pg-"))
    data = base / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(data, "postgres")
    port = _free_port()
    subprocess.run(_as_postgres("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync"),
                   check=True, capture_output=True)
    subprocess.run(
        _as_postgres("pg_ctl", "-D", str(data), "-w", "-l", str(data / "log"), "-o",
                     f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c fsync=off -c full_page_writes=off"
                     " -c synchronous_commit=off -c max_connections=200", "start"),
        check=True, capture_output=True,
    )
    try:
        yield PostgresServer(port)
    finally:
        subprocess.run(_as_postgres("pg_ctl", "-D", str(data), "-m", "immediate", "stop"), capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'lotline.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each integration test that takes this runs on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lotline.db'}"
    return request.getfixturevalue("postgres").fresh_database()


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        import json

        return json.loads(self.out)


class Cli:
    """Runs `lotline ...` in-process against one store, as a user would type it."""

    def __init__(self, url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
        self.url = url
        self.capsys = capsys
        self.tmp = tmp
        monkeypatch.setenv("LOTLINE_NOW", PINNED_NOW)
        monkeypatch.delenv("LOTLINE_USER", raising=False)
        monkeypatch.delenv("LOTLINE_STORE", raising=False)
        monkeypatch.setenv("COLUMNS", "200")

    def __call__(self, *args: str) -> Result:
        from lotline.application.cli import main

        self.capsys.readouterr()
        code = main([*args, "--store", self.url])
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def write(self, name: str, text: str) -> Path:
        path = self.tmp / name
        path.write_text(text)
        return path

    def load(self, text: str, *extra: str) -> Result:
        return self(*("load", str(self.write("scenario.yaml", text)), *extra))


def replay_every_decision(cli: Cli) -> None:
    """Every decision a test made must replay identically from its history."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(cli.url)
    try:
        if "decisions" not in inspect(engine).get_table_names():
            return
        with engine.connect() as connection:
            ids = list(connection.execute(text("SELECT decision_id FROM decisions ORDER BY decision_id")).scalars())
    finally:
        engine.dispose()
    for decision_id in ids:
        replayed = cli("replay", decision_id, "--as", "system")
        assert replayed.code == 0, f"{decision_id} does not replay: {replayed.err}"


@pytest.fixture
def cli(store_url: str, capsys, monkeypatch, tmp_path) -> Iterator[Cli]:
    runner = Cli(store_url, capsys, monkeypatch, tmp_path)
    yield runner
    replay_every_decision(runner)


@pytest.fixture
def sqlite_cli(sqlite_url: str, capsys, monkeypatch, tmp_path) -> Iterator[Cli]:
    runner = Cli(sqlite_url, capsys, monkeypatch, tmp_path)
    yield runner
    replay_every_decision(runner)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory):
    """A real Kafka-protocol broker (Tansu) on a free port for the session."""
    from tests.kafka_broker import TansuBroker, free_port

    broker = TansuBroker(free_port(), tmp_path_factory.mktemp("tansu") / "tansu.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
