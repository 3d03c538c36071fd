"""Daily-run benchmark: a firm of N accounts (about 30 positions and 100 lots each), one
`rebalance` day, accounts per second, peak memory (the sum of the resident memory of
every process of the run, sampled) and the extrapolated time of a 100,000-account night.

    python benchmarks/daily_run.py                 # 10,000 accounts, the process pool on SQLite
    python benchmarks/daily_run.py --accounts 500  # a quick look
    python benchmarks/daily_run.py --cache ~/firms  # the firm written once, reused by later runs
    python benchmarks/daily_run.py --via kafka --workers 1,2
        # next to the pool on SQLite, the same firm on PostgreSQL decided by `lotline worker`
        # processes over Kafka (a Tansu broker and a PostgreSQL cluster are started here;
        # the workers are started and in the group before the night, as standing services)

Each run works on its own copy of the firm. Goals: the 100,000-account night within 10
minutes on 2 cores (>= 167 accounts/s, either path), 2 Kafka workers >= 1.8x one, peak
memory flat in the number of accounts."""

from __future__ import annotations

import argparse
import os
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # as the lotline command does

DAY = date(2026, 3, 2)
CLASSES = {"us_equity": (12, 0.50), "intl_equity": (8, 0.22), "bonds": (8, 0.20), "real_estate": (4, 0.05)}


def universe() -> dict[str, tuple[str, str]]:
    out = {}
    for asset_class, (count, _) in CLASSES.items():
        prefix = {"us_equity": "US", "intl_equity": "IN", "bonds": "BD", "real_estate": "RE"}[asset_class]
        for i in range(count):
            symbol = f"{prefix}{i:02d}"
            out[symbol] = (asset_class, f"{prefix.lower()}-{i // 2}")  # pairs share a wash group
    return out


def write_firm(url: str, accounts: int, seed: int) -> None:
    from lotline.application.lotline import Lotline
    from lotline.application.price_records import record_closes
    from lotline.application.unit_of_work import UnitOfWork
    from lotline.domain.account import Account, LotArrival
    from lotline.domain.aggregate import Actor
    from lotline.domain.model import Model
    from lotline.domain.parameters import TaxPreferences, TaxStatus
    from lotline.domain.price_series import PriceSource, closes_digest
    from lotline.domain.roles import Role
    from lotline.domain.security import Security
    from lotline.domain.template import ClassTarget, TargetTemplate
    from lotline.domain.user import User
    from lotline.infrastructure.calendar import previous_trading_days

    rng = random.Random(seed)
    symbols = universe()
    history = previous_trading_days(DAY, 300)
    at = __import__("datetime").datetime(2026, 3, 2, 21, tzinfo=__import__("datetime").timezone.utc)
    boot = Actor("system", Role.ADMIN, history[0], at)
    ipc = Actor("ipc", Role.POLICY_COMMITTEE, history[0], at)
    with Lotline(url) as lotline:
        uow = UnitOfWork(lotline.store)
        for user, role in (("ipc", Role.POLICY_COMMITTEE), ("olivia", Role.OVERLAY_MANAGER), ("alice", Role.ADVISOR)):
            uow.add(User.add(user, (role,), boot))
        securities = {s: Security.admit(s, c, g, ipc) for s, (c, g) in symbols.items()}
        for security in securities.values():
            uow.add(security)
        models = {}
        for asset_class, (count, _) in CLASSES.items():
            members = [s for s, (c, _) in symbols.items() if c == asset_class]
            weights = {s: (Decimal(1) / len(members)).quantize(Decimal("0.000001")) for s in members}
            weights[members[0]] += Decimal(1) - sum(weights.values())
            models[asset_class] = Model.create(asset_class, weights, securities, ipc)
            uow.add(models[asset_class])
        classes = {c: ClassTarget(weight=Decimal(str(w)), model=c, max_modification=Decimal("0.05"), drift_limit=Decimal("0.03"))
                   for c, (_, w) in CLASSES.items()}
        classes["cash"] = ClassTarget(weight=Decimal("0.03"), drift_limit=Decimal("0.03"))
        template = TargetTemplate.create("bench", classes, models, ipc)
        uow.add(template)
        # Prices: a market factor and own noise, 300 sessions.
        market = [rng.gauss(0, 0.01) for _ in history]
        closes = []
        last = {}
        for symbol in symbols:
            level = rng.uniform(20, 300)
            for i, day in enumerate(history):
                level *= 1 + market[i] * (0.2 if symbol.startswith("BD") else 1.0) + rng.gauss(0, 0.004)
                closes.append((day, symbol, Decimal(f"{level:.2f}")))
                last[(symbol, day)] = Decimal(f"{level:.2f}")
        # Recorded as the overlay manager's price events, as `lotline prices load` records them.
        olivia = Actor("olivia", Role.OVERLAY_MANAGER, history[-1], at)
        record_closes(uow, closes, PriceSource("daily-run benchmark", closes_digest(closes)), olivia)
        lotline.commit(uow)
        names = sorted(symbols)
        batch = UnitOfWork(lotline.store)
        for n in range(accounts):
            advisor = Actor("alice", Role.ADVISOR, history[0], at)
            account = Account.open(f"A{n:06d}", "alice", TaxStatus.TAXABLE, template, history[0], advisor)
            batch.add(account)
            account.deposit(Decimal(rng.randint(1000, 20000)), history[0], advisor)
            held = rng.sample(names, 30)
            lots = []
            for i in range(100):
                symbol = held[i % 30]
                acquired = history[rng.randrange(0, len(history) - 1)]
                price = last[(symbol, acquired)]
                quantity = Decimal(rng.randint(5, 60))
                cost_basis = (quantity * price * Decimal(rng.uniform(0.9, 1.1))).quantize(Decimal("0.01"))
                lots.append(LotArrival(symbol=symbol, quantity=quantity, cost_basis=cost_basis, acquired=acquired))
            account.transfer_in(lots, history[0], securities, advisor)
            account.set_tax_preferences(TaxPreferences(short_term_rate=Decimal("0.37"), long_term_rate=Decimal("0.20")), advisor)
            if (n + 1) % 500 == 0:
                lotline.commit(batch)
                batch = UnitOfWork(lotline.store)
        lotline.commit(batch)
        lotline.catch_up()


def measure(url: str, workers: int) -> dict:
    from lotline.application.commands import Rebalance
    from lotline.application.handlers.analysis import rebalance
    from lotline.application.lotline import Lotline

    def cpu(who: int) -> float:
        usage = resource.getrusage(who)
        return usage.ru_utime + usage.ru_stime

    with Lotline(url) as lotline:
        lotline.catch_up()
        started, own = time.perf_counter(), cpu(resource.RUSAGE_SELF)
        results = rebalance(Rebalance(user="olivia", on=DAY, workers=workers), lotline)
        seconds, own = time.perf_counter() - started, cpu(resource.RUSAGE_SELF) - own
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    # The pool's workers are reaped when the night ends: their whole lives (start-up
    # included) are the night's; of this process, only the night itself.
    spent = {"night's process": own, "pool workers": cpu(resource.RUSAGE_CHILDREN)}
    return {"workers": workers, "accounts": len(results), "seconds": seconds, "cpu": spent,
            "decided": sum(1 for r in results if r.decision_id), "failed": sum(1 for r in results if r.failure),
            "trading": sum(1 for r in results if r.trade),
            "peak_mb": max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, children)}


def process_stat(pid: int | str) -> tuple[int, int]:
    """A process's parent and the CPU clock ticks it has used (user + system), from /proc
    (Linux); OSError when it is gone."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # after the command, which may hold spaces
    return int(fields[1]), int(fields[11]) + int(fields[12])


class PeakMemory:
    """The largest sum of resident memory over a set of processes and their descendants,
    sampled every `interval` seconds from /proc (Linux) in a thread. Also the CPU
    seconds each named group of processes (`cpu_roots`: a name and its root pids, with
    their descendants) used while it ran: where a night's CPU goes (a process's last
    sample counts, so up to `interval` of its end is missed)."""

    def __init__(self, interval: float = 0.2) -> None:
        import threading

        self.roots: list[int] = []
        self.cpu_roots: dict[str, list[int]] = {}
        self.servers: set[str] = set()  # groups already running before the night: counted from the first sample
        self._cpu_start: dict[int, int] = {}
        self._cpu_last: dict[int, tuple[str, int]] = {}
        self.peak_kb = 0
        self.group_peak_kb: dict[str, int] = {}  # each cpu_roots group's own peak (its processes in `roots`)
        self._interval, self._done = interval, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds per group, since the first sample that saw each process."""
        ticks = os.sysconf("SC_CLK_TCK")
        out: dict[str, float] = {name: 0.0 for name in self.cpu_roots}
        for pid, (name, last) in self._cpu_last.items():
            out[name] += (last - self._cpu_start.get(pid, 0)) / ticks
        return out

    def _run(self) -> None:
        while not self._done.wait(self._interval):
            self.peak_kb = max(self.peak_kb, self.sample())

    def sample(self) -> int:
        parents: dict[int, int] = {}
        cpu: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parents[int(entry.name)], cpu[int(entry.name)] = process_stat(entry.name)
                except (OSError, ValueError):
                    continue

        def tree_of(roots: list[int]) -> set[int]:
            tree, frontier = set(), [r for r in roots if r in parents]
            while frontier:
                pid = frontier.pop()
                tree.add(pid)
                frontier += [child for child, parent in parents.items() if parent == pid and child not in tree]
            return tree

        groups = {name: tree_of(roots) for name, roots in self.cpu_roots.items()}
        for name, group in groups.items():
            for pid in group:
                if pid not in self._cpu_last:
                    # A server's process counts from when it is first seen (its earlier
                    # work is not the night's); the night's own processes from their start.
                    self._cpu_start[pid] = cpu[pid] if name in self.servers else 0
                self._cpu_last[pid] = (name, cpu[pid])
        tree = tree_of(self.roots)
        total = 0
        rss: dict[int, int] = {}
        for pid in tree:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        rss[pid] = int(line.split()[1])
                        total += rss[pid]
            except OSError:
                continue
        for name, group in groups.items():
            mine = sum(rss.get(pid, 0) for pid in group)
            self.group_peak_kb[name] = max(self.group_peak_kb.get(name, 0), mine)
        return total


def _copy_store(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite store, its write-ahead log included (a file copy
    would miss what the log still holds)."""
    import sqlite3

    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def cached_firm(cache: Path, accounts: int, seed: int) -> Path:
    """The firm of `accounts` accounts and `seed` in the folder `cache`, written there the
    first time."""
    cache.mkdir(parents=True, exist_ok=True)
    firm = cache / f"daily-firm-{accounts}-seed{seed}.db"
    if firm.exists():
        print(f"the firm of {accounts:,} accounts (seed {seed}) from {firm}")
        return firm
    started = time.perf_counter()
    write_whole(firm, lambda url: write_firm(url, accounts, seed))
    print(f"wrote a firm of {accounts:,} accounts (30 positions, 100 lots each) to {firm} "
          f"in {time.perf_counter() - started:.0f} s")
    return firm


def write_whole(store: Path, write: Callable[[str], None]) -> None:
    """The SQLite store `store` as `write(url)` writes it, made under another name and
    renamed once whole: a run stopped while writing leaves no store to be mistaken for a
    finished one."""
    partial = store.parent / f".{store.name}.{os.getpid()}.partial"
    write(f"sqlite:///{partial}")
    whole = partial.with_suffix(".whole")
    _copy_store(partial, whole)  # one file, its write-ahead log folded in
    os.replace(whole, store)
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--via", choices=("pool", "kafka"), default="pool",
                        help="kafka: also the distributed night on PostgreSQL, next to the pool on SQLite")
    parser.add_argument("--no-pool", action="store_true",
                        help="with --via kafka: only the distributed night (no firm on SQLite, no pool)")
    parser.add_argument("--cache", metavar="DIR", help="write the firm once to DIR/daily-firm-{accounts}-seed{seed}.db "
                        "and reuse it on later runs (each night still runs on its own copy)")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.store, args.measure)))
        return
    if args.no_pool and args.via != "kafka":
        parser.error("--no-pool needs --via kafka")
    folder = Path(tempfile.mkdtemp(prefix="lotline-daily-"))
    base = cached_firm(Path(args.cache), args.accounts, args.seed) if args.cache else folder / "firm.db"
    if not args.cache and not args.no_pool:
        started = time.perf_counter()
        write_firm(f"sqlite:///{base}", args.accounts, args.seed)
        print(f"wrote a firm of {args.accounts:,} accounts (30 positions, 100 lots each) in {time.perf_counter() - started:.0f} s")
    rows = []
    worker_counts = [int(w) for w in args.workers.split(",")]
    for workers in [] if args.no_pool else worker_counts:
        copy = folder / f"run-{workers}.db"
        _copy_store(base, copy)
        with PeakMemory() as memory:
            run = subprocess.Popen([sys.executable, __file__, "--measure", str(workers), "--store", f"sqlite:///{copy}"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            memory.roots.append(run.pid)
            stdout, stderr = run.communicate()
        if run.returncode:
            sys.exit(f"the measurement with {workers} workers failed:\n{stderr}")
        row = json.loads(stdout.strip().splitlines()[-1])
        rows.append({**row, "via": "pool, SQLite", "peak_mb": memory.peak_mb})
        copy.unlink()
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    if args.via == "kafka":
        rows += kafka_rows(args.accounts, args.seed, worker_counts)
    print(f"{'via':<18} {'workers':>7} {'accounts':>9} {'decided':>8} {'trading':>8} {'seconds':>8} {'acc/s':>7} "
          f"{'peak MB':>8} {'100k night':>11}")
    for r in rows:
        rate = r["accounts"] / r["seconds"]
        night = 100_000 / rate / 60
        print(f"{r['via']:<18} {r['workers']:>7} {r['accounts']:>9,} {r['decided']:>8,} {r['trading']:>8,} "
              f"{r['seconds']:>8.1f} {rate:>7.1f} {r['peak_mb']:>8.0f} {night:>9.1f} m")
    for r in rows:
        if "cpu" in r:
            spent = ", ".join(f"{name} {seconds:.1f} s ({seconds * 1000 / r['accounts']:.1f} ms/account)"
                              for name, seconds in r["cpu"].items())
            total = sum(r["cpu"].values()) * 1000 / r["accounts"]
            print(f"{r['via']}, {r['workers']} worker(s), CPU: {spent}; total {total:.1f} ms/account")
        if "group_peak_mb" in r:
            print(f"{r['via']}, {r['workers']} worker(s), peak memory of each: "
                  + ", ".join(f"{name} {mb:.0f} MB" for name, mb in r["group_peak_mb"].items()))
        if "joined" in r:
            print(f"{r['via']}, {r['workers']} worker(s): started and dealt every partition {r['joined']:.1f} s "
                  "before the night (not in its time)")
    for via in sorted({r["via"] for r in rows}):
        rates: dict[int, list[float]] = {}
        for r in rows:
            if r["via"] == via:
                rates.setdefault(r["workers"], []).append(r["accounts"] / r["seconds"])
        if 1 in rates and 2 in rates:
            # Counts given more than once (--workers 1,2,1,2: interleaved, as the machine's
            # speed drifts) are taken at their median.
            one, two = statistics.median(rates[1]), statistics.median(rates[2])
            runs = f" (medians of {len(rates[1])} and {len(rates[2])} nights)" if len(rates[1]) + len(rates[2]) > 2 else ""
            print(f"{via}: 2 workers do {two / one:.2f}x one{runs}")
    print("goals: >= 167 accounts/s (the 100,000-account night within 10 minutes on 2 cores); 2 Kafka workers "
          ">= 1.8x one; peak memory flat in the number of accounts (compare runs with --accounts)")


def kafka_rows(accounts: int, seed: int, worker_counts: list[int]) -> list[dict]:
    """The same firm on PostgreSQL, one night per worker count: that many `lotline
    worker` processes over a Tansu broker, started first and waited for until the group
    has dealt them every partition (standing services, as a firm runs them), then
    `rebalance --bootstrap`, timed from its start to its end; each night on its own copy
    of the firm's database. The workers' start-up and group join are printed apart."""
    from lotline.infrastructure.kafka_tasks import PARTITIONS
    from tests.kafka_broker import TansuBroker, free_port

    folder = Path(tempfile.mkdtemp(prefix="lotline-night-"))
    postgres = start_postgres(folder / "pg")
    broker = TansuBroker(free_port(), folder / "tansu.log")
    broker.start()
    rows = []
    try:
        started = time.perf_counter()
        write_firm(postgres.url("firm"), accounts, seed)
        print(f"wrote the same firm to PostgreSQL in {time.perf_counter() - started:.0f} s")
        command = [sys.executable, "-m", "lotline.application"]
        for night, workers in enumerate(worker_counts):
            database = f"night_{night}"
            postgres.copy("firm", database)
            url, topic = postgres.url(database), f"lotline.analysis.bench{night}"
            launched = time.perf_counter()
            crew = Crew([subprocess.Popen([*command, "worker", "--bootstrap", broker.bootstrap, "--topic", topic,
                                           "--group", f"lotline-bench{night}", "--store", url],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                         for _ in range(workers)])
            crew.wait_until_dealt(PARTITIONS)
            joined = time.perf_counter() - launched
            memory = PeakMemory()
            memory.roots += crew.pids
            memory.cpu_roots.update(postgres=[postgres.pid()], tansu=[broker.process.pid], workers=crew.pids)
            memory.servers.update(("postgres", "tansu", "workers"))  # their CPU counted from the night's start
            with memory:
                clock = time.perf_counter()
                night = subprocess.Popen([*command, "rebalance", "--bootstrap", broker.bootstrap, "--topic", topic,
                                          "--date", DAY.isoformat(), "--store", url, "--as", "olivia", "--json",
                                          "--timeout", "36000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                memory.roots.append(night.pid)
                memory.cpu_roots.update(bootstrap=[night.pid])
                stdout, stderr = night.communicate()
                seconds = time.perf_counter() - clock
                crew.stop()
            if night.returncode:
                sys.exit(f"the distributed night with {workers} workers failed:\n{stderr}")
            for code, said in crew.ended:
                if code:  # a worker lost mid-night makes the figures another night's
                    sys.exit(f"a worker of the night with {workers} workers failed:\n{said}")
            result = json.loads(stdout)
            decided = result["decisions"]
            rows.append({"via": "kafka, PostgreSQL", "workers": workers, "accounts": len(decided) + len(result["failures"]),
                         "seconds": seconds, "decided": len(decided), "failed": len(result["failures"]),
                         "trading": sum(1 for d in decided if d["trade"]), "peak_mb": memory.peak_mb,
                         "cpu": memory.cpu_seconds(), "joined": joined,
                         "group_peak_mb": {name: kb / 1024 for name, kb in memory.group_peak_kb.items()
                                           if name in ("bootstrap", "workers")}})
            postgres.drop(database)
    finally:
        broker.stop()
        postgres.stop()
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    return rows


class Crew:
    """`lotline worker` processes, their stderr read as it comes: each says which
    partitions it holds after every rebalance of the group."""

    def __init__(self, processes: list[subprocess.Popen]) -> None:
        import threading

        self.processes = processes
        self.held: dict[int, int] = {}  # pid -> partitions held, as last said
        self.said: dict[int, list[str]] = {p.pid: [] for p in processes}
        self.ended: list[tuple[int, str]] = []
        self._readers = [threading.Thread(target=self._read, args=(p,), daemon=True) for p in processes]
        for reader in self._readers:
            reader.start()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def _read(self, process: subprocess.Popen) -> None:
        import re

        for line in process.stderr:
            self.said[process.pid].append(line)
            held = re.search(r"holds (\d+) partition", line)
            if held:
                self.held[process.pid] = int(held.group(1))

    def wait_until_dealt(self, partitions: int, seconds: float = 120) -> None:
        """Until every worker holds some partitions and together they hold all."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes):
                self._kill()
                sys.exit("a worker exited before the night:\n" + "".join(sum(self.said.values(), [])))
            if len(self.held) == len(self.processes) and all(self.held.values()) \
                    and sum(self.held.values()) == partitions:
                return
            time.sleep(0.05)
        self._kill()
        sys.exit(f"the workers were not dealt the {partitions} partitions within {seconds:.0f} s; they said:\n"
                 + "".join(sum(self.said.values(), [])))

    def _kill(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    def stop(self) -> None:
        """SIGTERM: each ends after the batch in hand (none, after the night), its offsets committed."""
        import signal

        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process, reader in zip(self.processes, self._readers):
            process.wait()
            reader.join()
            self.ended.append((process.returncode, "".join(self.said[process.pid])))


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster, as the test fixture starts one (fsync off)."""

    data: Path
    port: int

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _sql(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as c:
            c.execute(statement)

    def copy(self, source: str, target: str) -> None:
        # A template must have no session: the writer's pooled connection may still be open.
        self._sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{source}' "
                  "AND pid <> pg_backend_pid()")
        self._sql(f"CREATE DATABASE {target} TEMPLATE {source}")

    def drop(self, database: str) -> None:
        self._sql(f"DROP DATABASE IF EXISTS {database}")

    def pid(self) -> int:
        """The postmaster's: the server's processes are its children."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        subprocess.run(_as_postgres("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop"), capture_output=True)


def _as_postgres(*args: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


def start_postgres(base: Path) -> Postgres:
    import shutil

    from tests.kafka_broker import free_port

    data = base / "data"
    data.mkdir(parents=True)
    if os.geteuid() == 0:
        shutil.chown(base.parent, "postgres")
        shutil.chown(base, "postgres")
        shutil.chown(data, "postgres")
    port = free_port()
    subprocess.run(_as_postgres("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync"),
                   check=True, capture_output=True)
    subprocess.run(_as_postgres("pg_ctl", "-D", str(data), "-w", "-l", str(data / "log"), "-o",
                                f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c fsync=off "
                                "-c full_page_writes=off -c synchronous_commit=off -c max_connections=100", "start"),
                   check=True, capture_output=True)
    postgres = Postgres(data, port)
    postgres._sql("CREATE DATABASE firm")
    return postgres


if __name__ == "__main__":
    main()
