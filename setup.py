"""Builds the optimiser's solver ahead of time (numba's pycc) into the package as
``lotline.domain.optimiser._kernel``, so that no process pays for importing numba and
loading its cache (about 0.45 s) to solve: `replay` and every short command stay
quick. Everything else about the package is in pyproject.toml.

The kernel's source is ``domain/optimiser/kernel.py``; without a C compiler the build
goes on without the ahead-of-time module, and the solver is compiled by numba on first
use instead (the same code, the same bits; ten seconds once per machine)."""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

KERNEL = "lotline.domain.optimiser._kernel"
SOURCE = Path(__file__).resolve().parent / "domain" / "optimiser" / "kernel.py"


def compile_kernel(target: Path) -> None:
    # numba's on-disk cache of the JIT functions the export calls would be written
    # beside the source under this loader's module name, and later read by the package's
    # own JIT fallback: keep it out of the tree.
    with tempfile.TemporaryDirectory(prefix="lotline-kernel-build-") as cache:
        os.environ["NUMBA_CACHE_DIR"] = cache
        spec = importlib.util.spec_from_file_location("lotline_kernel_source", SOURCE)
        kernel = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(kernel)
        from numba.pycc import CC

        cc = CC(target.name.split(".")[0])
        cc.output_dir = str(target.parent)
        cc.output_file = target.name
        cc.export("interior_point", kernel.INTERIOR_POINT_SIGNATURE)(kernel.interior_point.py_func)
        cc.compile()


class BuildKernel(build_ext):
    def build_extension(self, ext: Extension) -> None:
        if ext.name != KERNEL:
            super().build_extension(ext)
            return
        target = Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        # A build left from an earlier source must not ship if this one fails.
        target.unlink(missing_ok=True)
        try:
            compile_kernel(target)
        except Exception as error:  # no compiler, or pycc gone: numba compiles it at first use
            # Nor an editable install's copy beside the source (`optional`: none is copied).
            (SOURCE.parent / target.name).unlink(missing_ok=True)
            print(f"lotline: the optimiser's solver was not compiled ahead of time ({error}); "
                  "numba compiles it on first use instead", file=sys.stderr)


setup(ext_modules=[Extension(KERNEL, sources=[], optional=True)], cmdclass={"build_ext": BuildKernel})
