"""The C kernels (src/vectro/kernels/_native.c) as an optional extension; everything else is in pyproject.toml.

Without a C compiler the install still succeeds and numba's kernels do the same jobs."""

import sys

from setuptools import Extension, setup

openmp = [] if sys.platform in ("darwin", "win32") else ["-fopenmp"]  # Apple clang and MSVC: one thread
flags = [] if sys.platform == "win32" else ["-O3", "-std=c11", "-Wall", *openmp]

setup(ext_modules=[Extension("vectro.kernels._native", ["src/vectro/kernels/_native.c"], extra_compile_args=flags,
                             extra_link_args=openmp, optional=True)])
