"""Keeping pyarrow from importing pandas in processes that never convert to pandas (the CLI, the server).

pyarrow imports pandas, when it is installed, the first time it converts anything (even Array.to_numpy): 0.25 s,
an eighth of the time the ingest of 100,000 buildings takes, and ~60 MB of resident memory in `twin serve` (the
first /api/config read a layer's features and took the server from 131 to 196 MB). pyarrow tries that import once
and remembers the answer, so it is asked while `import pandas` fails. As a library, twin leaves the interpreter
alone: only the CLI's commands and the server's app factory call this.
"""

from __future__ import annotations

import sys
from typing import Any


class _NoPandas:
    """An import hook (a sys.meta_path finder) under which `import pandas` fails.

    Not derived from importlib.abc.MetaPathFinder: importing that module costs 24 ms.
    """

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname == "pandas" or fullname.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named '{fullname}'", name=fullname)


def pyarrow_without_pandas() -> None:
    """Make pyarrow settle on "no pandas" in this process (no-op if pandas is imported already).

    Harmless if pandas is imported anyway later (reading GeoPackages through pyogrio does): pyarrow then just
    keeps its own pandas support off.
    """
    if "pandas" in sys.modules:
        return
    import pyarrow as pa

    blocker = _NoPandas()
    sys.meta_path.insert(0, blocker)
    try:
        pa.array([0])
    finally:
        sys.meta_path.remove(blocker)


def pyarrow_system_memory() -> None:
    """Let pyarrow allocate with the C library's malloc instead of its default pool (mimalloc).

    For a long-running server that reads small feature tables now and then: mimalloc keeps the pages it
    freed, glibc hands them back. Measured with one city of 3,695 buildings: resident memory after a first
    /api/config, search and OGC items request 156 MB with the system pool, 179 MB with mimalloc. The ingest,
    which allocates large arrays in bulk, keeps the default.
    """
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
