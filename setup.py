"""The C kernels (src/vectro/kernels/_native.c) as an optional extension; everything else is in pyproject.toml.

Without a C compiler the install still succeeds and numba's kernels do the same jobs; a compiler
without OpenMP builds them single-threaded."""

import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

FLAGS = [] if sys.platform == "win32" else ["-O3", "-std=c11"]
OPENMP = {"win32": ["/openmp"], "darwin": []}.get(sys.platform, ["-fopenmp"])  # Apple clang has no -fopenmp


class BuildWithOpenMP(build_ext):
    """Build with OpenMP, and again without it where the compiler or linker refuses the flag."""

    def build_extension(self, ext):
        ext.extra_compile_args, ext.extra_link_args = FLAGS + OPENMP, OPENMP[:1] if sys.platform != "win32" else []
        try:
            super().build_extension(ext)
        except Exception as exc:  # CompileError or LinkError, from distutils or setuptools
            if not OPENMP:
                raise
            print(f"building {ext.name} without OpenMP ({exc}): its kernels run on one thread")
            ext.extra_compile_args, ext.extra_link_args = FLAGS, []
            super().build_extension(ext)


setup(ext_modules=[Extension("vectro.kernels._native", ["src/vectro/kernels/_native.c"], optional=True)],
      cmdclass={"build_ext": BuildWithOpenMP})
