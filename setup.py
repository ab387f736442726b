"""Build the compiled kernel of the Hamming index; all other metadata is in pyproject.toml.

Compiled with -O3 for the baseline ISA (no -march=native), so a wheel runs on any CPU of its
architecture; on x86 the kernel picks a POPCNT build of its hot loops at import when the CPU has it.
"""

import sys

from setuptools import Extension, setup

_ARGS = [] if sys.platform == "win32" else ["-O3", "-std=c11", "-fno-strict-aliasing"]

setup(
    ext_modules=[
        Extension(
            "tessera.index._hamming_kernel",
            sources=["src/tessera/index/_hamming_kernel.c"],
            extra_compile_args=_ARGS,
        )
    ]
)
