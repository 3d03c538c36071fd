"""What `pip install .` ships: every package of the source tree, all under one
top-level `lotline` package, so nothing collides with another project's `domain`."""

import fcntl
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("domain", "application", "infrastructure", "projections")

# Building the wheel and the editable install both write build/ and lotline.egg-info in the
# source tree: they run one after the other, whichever pytest-xdist worker (or other run of
# the suite in this tree) has them. The group keeps them on one worker where xdist can (it
# cannot with pytest 9.2, pytest-xdist issue 1386); the lock holds in every case.
pytestmark = pytest.mark.xdist_group("packaging")


@pytest.fixture
def source_tree_to_ourselves():
    (ROOT / "build").mkdir(exist_ok=True)  # ignored by git, like what setuptools writes there
    with open(ROOT / "build" / "packaging-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def test_every_package_of_the_tree_is_listed_for_installation_under_lotline():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    found = {
        "lotline." + ".".join(init.parent.relative_to(ROOT).parts)
        for top in LAYERS
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found <= listed, f"not installed: {sorted(found - listed)}"
    assert all(name.startswith("lotline.") for name in listed)
    assert all(setuptools["package-dir"][name] == name.removeprefix("lotline.").replace(".", "/") for name in listed)


def test_the_wheel_holds_only_the_lotline_package(tmp_path, source_tree_to_ourselves):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path),
                    str(ROOT)], check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("lotline-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert tops == {"lotline", next(t for t in tops if t.endswith(".dist-info"))}, sorted(tops)
    assert "lotline/domain/ledger.py" in names and "lotline/application/cli.py" in names
    assert "lotline/__init__.py" not in names  # a namespace: the four layers are its only contents
    # The optimiser's solver, compiled ahead of time by setup.py (no numba at run time).
    assert any(name.startswith("lotline/domain/optimiser/_kernel.") and name.endswith(".so") for name in names)


def test_an_editable_install_serves_the_same_namespace(tmp_path, source_tree_to_ourselves):
    target = tmp_path / "venv"
    venv.create(target, with_pip=True)
    python = target / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", str(ROOT)],
                   check=True, capture_output=True, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    probe = "import lotline.domain.values as v, lotline.domain.ledger as l; print(v.__file__); print(l.__file__)"
    out = subprocess.run([str(python), "-c", probe], check=True, capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.splitlines() == [str(ROOT / "domain" / "values.py"), str(ROOT / "domain" / "ledger.py")]


def test_a_solver_that_does_not_compile_ships_no_stale_build_and_the_install_goes_on(tmp_path):
    # setup.py compiles the solver ahead of time; where it cannot (here: a source that
    # does not compile, as where there is no C compiler), the wheel is still built, with
    # no compiled solver in it, not one left in build/ by an earlier source.
    tree = tmp_path / "tree"
    for part in (*LAYERS, "setup.py", "pyproject.toml", "README.md"):
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, tree / part, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        else:
            (tree / part).parent.mkdir(parents=True, exist_ok=True)
            (tree / part).write_bytes(source.read_bytes())
    build_lib = f"lib.{sysconfig.get_platform()}-{sys.implementation.cache_tag}"  # setuptools' build/ folder
    stale = tree / "build" / build_lib / "lotline" / "domain" / "optimiser" / f"_kernel{sysconfig.get_config_var('EXT_SUFFIX')}"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an earlier build")
    kernel = tree / "domain" / "optimiser" / "kernel.py"
    kernel.write_text(kernel.read_text().replace("    resx0 = max(", "    resx0 = not_defined + max(", 1))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "wheel"),
                           str(tree)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = (tmp_path / "wheel").glob("lotline-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "lotline/domain/optimiser/kernel.py" in names
    assert not any(name.startswith("lotline/domain/optimiser/_kernel.") for name in names)
