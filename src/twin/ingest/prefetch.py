"""Read GeoParquet inputs in a background thread while the ingest is still importing its libraries.

The CLI calls `start` as soon as pyarrow is imported; reading 100,000 footprints takes 0.1-0.25 s, about as
long as the remaining imports (numpy-heavy modules, pyproj, the mesh code), and pyarrow reads without
holding the GIL, so the two overlap. `take` hands the table to the reader, or None when nothing was
prefetched for that file (other formats, a failed read: the reader then reads, and reports, as usual).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from twin.ingest.detect import SourceFormat, detect_format

_tables: dict[Path, Any] = {}
_threads: list[threading.Thread] = []


def start(paths: list[Path]) -> None:
    """Start reading the GeoParquet files among `paths`; returns at once."""
    wanted = []
    for path in paths:
        try:
            if detect_format(path) == SourceFormat.GEOPARQUET:
                wanted.append(path)
        except Exception:  # the reader will say what is wrong with the file
            continue
    if not wanted:
        return

    def read() -> None:
        import pyarrow.parquet as pq

        for path in wanted:
            try:
                _tables[path.resolve()] = pq.ParquetFile(path).read()
            except Exception:
                continue

    thread = threading.Thread(target=read, name="twin-prefetch", daemon=True)
    thread.start()
    _threads.append(thread)


def take(path: Path) -> Any:
    """The prefetched pyarrow Table of `path` (waiting for the read to finish), or None."""
    for thread in _threads:
        thread.join()
    _threads.clear()
    return _tables.pop(path.resolve(), None)
