"""Planning ingest speed: every shared XPlanGML file (valid/ and the XPlanArchiv zips) ingested, each as a layer.

    .venv/bin/python bench/bench_xplan.py [--runs 3]

Prints, per run, the seconds for reading alone (twin.ingest.xplan) and for the whole ingest (read, transform,
features.parquet, envelopes as 3D Tiles, publish, catalog), with plan objects per second. Target (issue 10):
the whole set in under 5 s on a 2-core machine. Runs in-process, one fresh data dir per run; the first run
includes the imports.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
XPLAN = ROOT.parent / "shared" / "data" / "planning" / "xplanbox"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    from twin.ingest.sources import expand_sources
    from twin.ingest.xplan import read_xplan
    from twin.pipeline import IngestOptions, ingest
    from twin.settings import Settings

    inputs = [*sorted((XPLAN / "valid").glob("*.gml")), *sorted((XPLAN / "archives").glob("*.zip"))]
    size = sum(path.stat().st_size for path in inputs)
    print(f"{len(inputs)} inputs, {size / 1e6:.1f} MB (zips compressed)")
    reads, totals = [], []
    for run in range(options.runs):
        started = time.perf_counter()
        objects = 0
        for ref in expand_sources(inputs):
            document = read_xplan(ref)
            objects += len(document.plans) + len(document.features)
        reads.append(time.perf_counter() - started)
        with tempfile.TemporaryDirectory(prefix="twin-bench-xplan-") as scratch:
            settings = Settings(data_dir=Path(scratch))
            started = time.perf_counter()
            written = envelopes = 0
            for path in inputs:
                layer = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")[:50]
                report = ingest([path], IngestOptions(layer), settings)
                written += report["features_written"]
                envelopes += report["envelopes"]
            totals.append(time.perf_counter() - started)
        print(
            f"run {run + 1}: read {reads[-1]:.2f} s ({objects / reads[-1]:,.0f} objects/s); "
            f"ingest {totals[-1]:.2f} s for {written:,} plan objects and {envelopes} envelopes "
            f"({written / totals[-1]:,.0f} objects/s)"
        )
    print(
        f"median: read {statistics.median(reads):.2f} s, whole ingest {statistics.median(totals):.2f} s (target < 5 s)"
    )


if __name__ == "__main__":
    main()
