"""One lazy-export helper for graphkit's packages: public names live in submodules that are
imported on first use, so importing a package stays cheap (no torch-geometric, no Numba)."""

from __future__ import annotations

import importlib
from typing import Callable


def lazy_exports(package: str, table: dict[str, str]) -> tuple[Callable, Callable]:
    """(``__getattr__``, ``__dir__``) for ``package`` whose name ``n`` lives in the submodule
    ``table[n]`` (relative to the package)."""

    def __getattr__(name: str):
        if name in table:
            return getattr(importlib.import_module(f"{package}.{table[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(table)

    return __getattr__, __dir__
