"""The canonical model that every reader produces and the tiler consumes."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from pyproj import CRS

from twin.ingest.rings import Rings


@dataclass
class IngestLog:
    """What happened to features on the way in: skips and repairs with reasons, and warnings."""

    skipped: Counter[str] = field(default_factory=Counter)
    repaired: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was decided, for the report and the console
    skipped_examples: dict[str, list[str]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, for the report

    def lap(self, stage: str, since: float) -> float:
        """Add the time since `since` (a time.perf_counter value) to `stage`; return the time now."""
        now = time.perf_counter()
        self.timings[stage] = round(self.timings.get(stage, 0.0) + now - since, 3)
        return now

    def skip(self, reason: str, ids: list[str]) -> None:
        """Count features skipped for `reason` and keep a few of their ids as examples."""
        if not ids:
            return
        self.skipped[reason] += len(ids)
        examples = self.skipped_examples.setdefault(reason, [])
        examples.extend(ids[: max(0, 10 - len(examples))])

    def repair(self, reason: str, count: int) -> None:
        """Count features repaired by the rule `reason`."""
        if count:
            self.repaired[reason] += int(count)

    def merge(self, other: IngestLog) -> None:
        """Add another log's counts, examples and warnings to this one."""
        self.skipped.update(other.skipped)
        self.repaired.update(other.repaired)
        self.warnings.extend(other.warnings)
        self.notes.extend(other.notes)
        for reason, examples in other.skipped_examples.items():
            mine = self.skipped_examples.setdefault(reason, [])
            mine.extend(examples[: max(0, 10 - len(mine))])

    def warn(self, message: str) -> None:
        """Record a warning that the CLI shows and the report keeps."""
        self.warnings.append(message)


def take_rows(table: pa.Table, index: pa.Array | npt.NDArray[np.int64]) -> pa.Table:
    """Rows of a table; unlike Table.take, keeps the row count of a table without columns."""
    if table.num_columns == 0:
        return empty_rows(len(index))
    return table.take(index)


def empty_rows(count: int) -> pa.Table:
    """A table of `count` rows and no columns."""
    return pa.table({"_": pa.nulls(count)}).select([])


@dataclass
class Footprints:
    """Building footprints with heights, in one metric working CRS.

    `rings` are the repaired footprints as flat arrays in `crs` (metres; open rings, exteriors
    counter-clockwise, holes clockwise), with per-vertex source heights in `rings.z` only when the source
    had them. `rows` is each building's row in the source table(s); `ids`, `attributes`, `height` and
    `height_rule` are aligned with the buildings. `height_rule` says which rule produced the height.
    """

    source: list[Path]
    crs: CRS
    rings: Rings
    rows: npt.NDArray[np.int64]
    ids: pa.Array
    attributes: pa.Table
    height: npt.NDArray[np.float64]
    height_rule: pa.Array
    has_z: bool
    vertical_crs: CRS | None
    log: IngestLog

    def __len__(self) -> int:
        return self.rings.building_count

    def take(self, index: npt.NDArray[np.int64]) -> Footprints:
        """The footprints at `index`, in that order."""
        arrow_index = pa.array(index)
        return Footprints(
            source=self.source,
            crs=self.crs,
            rings=self.rings.take(index),
            rows=self.rows[index],
            ids=self.ids.take(arrow_index),
            attributes=take_rows(self.attributes, arrow_index),
            height=self.height[index],
            height_rule=self.height_rule.take(arrow_index),
            has_z=self.has_z,
            vertical_crs=self.vertical_crs,
            log=self.log,
        )
