"""The canonical model that every reader produces and the tiler consumes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from pyproj import CRS


@dataclass
class IngestLog:
    """What happened to features on the way in: skips and repairs with reasons, and warnings."""

    skipped: Counter[str] = field(default_factory=Counter)
    repaired: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    skipped_examples: dict[str, list[str]] = field(default_factory=dict)

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
        for reason, examples in other.skipped_examples.items():
            mine = self.skipped_examples.setdefault(reason, [])
            mine.extend(examples[: max(0, 10 - len(mine))])

    def warn(self, message: str) -> None:
        """Record a warning that the CLI shows and the report keeps."""
        self.warnings.append(message)


@dataclass
class Footprints:
    """Building footprints with heights, in one metric working CRS.

    `geometries` are shapely (Multi)Polygons in `crs` (metres); `z` holds the per-vertex source heights
    only when the source had them (then geometries carry z). `height` is the building height in metres,
    `height_rule` says which rule produced it. `attributes` keeps every source attribute, row-aligned.
    """

    source: list[Path]
    crs: CRS
    geometries: npt.NDArray[np.object_]
    ids: npt.NDArray[np.object_]
    attributes: pd.DataFrame
    height: npt.NDArray[np.float64]
    height_rule: npt.NDArray[np.object_]
    has_z: bool
    vertical_crs: CRS | None
    log: IngestLog

    def __len__(self) -> int:
        return len(self.geometries)

    def take(self, index: npt.NDArray[np.intp]) -> Footprints:
        """The footprints at `index`, in that order."""
        return Footprints(
            source=self.source,
            crs=self.crs,
            geometries=self.geometries[index],
            ids=self.ids[index],
            attributes=self.attributes.iloc[index].reset_index(drop=True),
            height=self.height[index],
            height_rule=self.height_rule[index],
            has_z=self.has_z,
            vertical_crs=self.vertical_crs,
            log=self.log,
        )
