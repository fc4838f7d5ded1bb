"""Resolving the source CRS and building exact transforms to geodetic coordinates.

Heights are the delicate part. German data gives heights above NHN (DHHN2016, EPSG:7837; DHHN92,
EPSG:5783); CesiumJS needs heights above the WGS84 ellipsoid. The difference, the quasigeoid height
(36-50 m in Germany), comes from the GCG2016 grid, which pyproj's wheel does not ship. Without the grid
PROJ silently drops the vertical step, so this module refuses to transform NHN heights unless the grid
is found, and never guesses a datum without saying so in the ingest log.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyproj
from pyproj import CRS, Transformer
from pyproj.crs import CompoundCRS, ProjectedCRS
from pyproj.crs.coordinate_operation import TransverseMercatorConversion
from pyproj.transformer import TransformerGroup

from twin.errors import CRSError, GeoidGridMissingError
from twin.ingest.model import IngestLog

FloatArray = npt.NDArray[np.float64]
HeightsMode = Literal["auto", "ground", "source"]

# Horizontal CRSs used for German official data; their heights are (practically always) NHN.
GERMAN_CRS_CODES = {25832, 25833, 3044, 3045, 4258, 4647, 5650, 5652, 5653, 31466, 31467, 31468, 31469}
DHHN2016 = 7837
DHHN92 = 5783
GEOID_HINT = (
    "install it: `projsync --file {grid}` (on a machine with internet), or copy {grid} into {user_dir} or a "
    "folder named in TWIN_GRID_DIRS"
)

_added_grid_dirs: set[str] = set()


def parse_crs(text: str, what: str = "--crs") -> CRS:
    """A CRS from user input such as 'EPSG:25832', '25832' or 'EPSG:25832+7837'."""
    candidate = text.strip()
    if candidate.isdigit():
        candidate = f"EPSG:{candidate}"
    try:
        return CRS.from_user_input(candidate)
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(f"{what}: unknown coordinate reference system '{text}'") from exc


def split_crs(crs: CRS) -> tuple[CRS, CRS | None, bool]:
    """(horizontal, vertical, ellipsoidal_3d) parts of a CRS.

    `vertical` is set for compound CRSs; `ellipsoidal_3d` is True for 3D geographic CRSs whose third
    axis already is an ellipsoidal height.
    """
    if crs.is_compound:
        parts = crs.sub_crs_list
        return parts[0], parts[1] if len(parts) > 1 else None, False
    if crs.is_geographic and len(crs.axis_info) == 3:
        return crs, None, True
    return crs, None, False


def is_metric_projected(crs: CRS) -> bool:
    """True for projected CRSs whose axes are in metres."""
    if not crs.is_projected:
        return False
    return all(axis.unit_name in ("metre", "meter") for axis in crs.axis_info[:2])


def local_metric_crs(crs: CRS, lon0: float, lat0: float) -> CRS:
    """A transverse Mercator CRS on `crs`'s datum centred at lon0/lat0: metres, negligible scale error."""
    geodetic = crs.geodetic_crs
    if geodetic is None:
        raise CRSError(f"CRS {crs.name} has no geodetic datum")
    conversion = TransverseMercatorConversion(
        latitude_natural_origin=lat0, longitude_natural_origin=lon0, scale_factor_natural_origin=1.0
    )
    return ProjectedCRS(
        conversion=conversion, geodetic_crs=geodetic, name=f"twin local TM {lon0:.4f} {lat0:.4f}"
    )


def crs_label(crs: CRS) -> str:
    """A short name for reports: 'EPSG:25832+EPSG:7837 (ETRS89 / UTM zone 32N + DHHN2016 height)'."""
    parts = crs.sub_crs_list if crs.is_compound else [crs]
    codes = [part.to_authority(min_confidence=70) for part in parts]
    if all(codes):
        return "+".join(f"{authority}:{code}" for authority, code in codes if authority) + f" ({crs.name})"
    return crs.name


def epsg_code(crs: CRS) -> int | None:
    """The EPSG code of a CRS if it has one."""
    try:
        return crs.to_epsg(min_confidence=70)
    except pyproj.exceptions.CRSError:
        return None


def add_grid_dirs(dirs: Sequence[Path]) -> None:
    """Let PROJ search these folders for grids (process-wide, idempotent)."""
    for folder in dirs:
        key = str(Path(folder).resolve())
        if key not in _added_grid_dirs and Path(key).is_dir():
            pyproj.datadir.append_data_dir(key)
            _added_grid_dirs.add(key)


@dataclass(frozen=True)
class VerticalPlan:
    """How heights are turned into ellipsoidal heights.

    mode "ground": every building's base at ellipsoidal height 0 (the viewer has no terrain).
    mode "source": base heights from the source z values in `vertical_crs` (None: already ellipsoidal).
    """

    mode: Literal["ground", "source"]
    vertical_crs: CRS | None
    description: str


def plan_heights(
    source_crs: CRS,
    has_z: bool,
    mode: HeightsMode,
    vertical_override: str | None,
    log: IngestLog,
    path: Path,
) -> VerticalPlan:
    """Decide how z values become ellipsoidal heights, or refuse with a reason that names the file."""
    horizontal, vertical, ellipsoidal = split_crs(source_crs)
    if mode == "ground" or (mode == "auto" and not has_z):
        reason = "requested" if mode == "ground" else "the source has no z values"
        return VerticalPlan("ground", None, f"ground: building bases at ellipsoidal height 0 ({reason})")
    if not has_z:
        raise CRSError(f"{path}: --heights source needs z coordinates, but the footprints are 2D")
    if vertical_override:
        if vertical_override.lower() in ("ellipsoidal", "ellipsoid", "4979", "epsg:4979"):
            return VerticalPlan("source", None, "source: z values are ellipsoidal heights (--vertical-crs)")
        vcrs = parse_crs(vertical_override, "--vertical-crs")
        if not vcrs.is_vertical:
            raise CRSError(f"--vertical-crs: {vcrs.name} is not a vertical CRS")
        return VerticalPlan("source", vcrs, f"source: z values in {vcrs.name} (--vertical-crs)")
    if ellipsoidal:
        return VerticalPlan("source", None, f"source: z values are ellipsoidal heights ({source_crs.name})")
    if vertical is not None:
        return VerticalPlan("source", vertical, f"source: z values in {vertical.name} (from the source CRS)")
    code = epsg_code(horizontal)
    if code in GERMAN_CRS_CODES:
        vcrs = CRS.from_epsg(DHHN2016)
        log.warn(
            f"{path}: z values without a vertical CRS; assumed NHN heights in DHHN2016 (EPSG:{DHHN2016}), "
            "as in German official data. Pass --vertical-crs to say otherwise (DHHN92: EPSG:5783)."
        )
        return VerticalPlan("source", vcrs, "source: z values assumed DHHN2016 (EPSG:7837) NHN heights")
    if mode == "auto":
        # Most shapefiles' .prj (and many CityJSON files) name no height system: the z values cannot be
        # placed, but the buildings can still stand on the ground, which is what the viewer needs.
        log.warn(
            f"{path}: z values without a vertical CRS ({horizontal.name} names none), so they were not used: "
            "every building stands on the ground (its lowest point at ellipsoidal height 0). Pass "
            "--vertical-crs EPSG:... (or 'ellipsoidal') to use them."
        )
        return VerticalPlan("ground", None, "ground: z values not used, their vertical CRS is unknown")
    raise CRSError(
        f"{path}: the z values have no vertical datum (their CRS, {horizontal.name}, names none); "
        "pass --vertical-crs EPSG:... (or 'ellipsoidal'), or --heights ground to put buildings on the ground"
    )


_groups: dict[str, TransformerGroup] = {}
_groups_lock = threading.Lock()


def transformer_group(source: CRS) -> TransformerGroup:
    """PROJ's candidate transformations from `source` to WGS 84 (EPSG:4979), cached per process.

    Building the group costs ~0.4 s for a compound CRS with a geoid grid (PROJ searches every candidate
    operation), so an ingest can prepare it in a thread while it reads its input (`prepare_transform`).
    """
    key = source.to_wkt()
    with _groups_lock:
        if key not in _groups:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _groups[key] = TransformerGroup(source, CRS.from_epsg(4979), always_xy=True)
        return _groups[key]


def prepare_transform(horizontal: CRS, plan: VerticalPlan, grid_dirs: Sequence[Path] = ()) -> None:
    """Build (and cache) what `GeodeticTransform` will need for this plan; errors are left for it to raise."""
    try:
        GeodeticTransform(horizontal, plan, grid_dirs)
    except Exception:  # the real construction reports the problem later, with its context
        return


class GeodeticTransform:
    """Exact transform of (x, y, z) in a source CRS to longitude/latitude (degrees) and ellipsoidal height."""

    def __init__(
        self, horizontal: CRS, plan: VerticalPlan, grid_dirs: Sequence[Path] = (), path: Path | None = None
    ) -> None:
        add_grid_dirs(grid_dirs)
        self.plan = plan
        where = f"{path}: " if path else ""
        if plan.mode == "source" and plan.vertical_crs is not None:
            source: CRS = CompoundCRS(
                name=f"{horizontal.name} + {plan.vertical_crs.name}",
                components=[horizontal, plan.vertical_crs],
            )
        elif plan.mode == "source":
            source = horizontal
        else:
            source = horizontal
        self.three_d = plan.mode == "source"
        group = transformer_group(source)
        if not group.transformers:
            raise CRSError(f"{where}no transformation from {source.name} to WGS 84 is available")
        transformers = list(group.transformers)
        if self.three_d and plan.vertical_crs is not None:
            # A "ballpark vertical transformation" ignores the geoid: heights tens of metres off. PROJ offers
            # one when the grid is missing, and for DHHN92 it knows nothing better at all.
            transformers = [t for t in transformers if "ballpark vertical" not in t.description.lower()]
            if not transformers:
                missing = sorted(
                    {
                        grid.short_name
                        for op in group.unavailable_operations
                        for grid in op.grids
                        if not grid.available
                    }
                )
                if missing:
                    hint = GEOID_HINT.format(grid=missing[0], user_dir=pyproj.datadir.get_user_data_dir())
                    need = f"need the PROJ grid(s) {', '.join(missing)}, which are not installed; {hint}"
                else:
                    need = "have no exact transformation to ellipsoidal heights in PROJ (only a ballpark one)"
                raise GeoidGridMissingError(
                    f"{where}heights in {plan.vertical_crs.name} {need}. Or ingest with --heights ground."
                )
        self.transformer: Transformer = transformers[0]
        self.grids = sorted(
            {
                grid.short_name
                for op in self.transformer.operations or []
                for grid in op.grids
                if grid.available
            }
        )
        grids = f" (grid: {', '.join(self.grids)})" if self.grids else " (no grid)"
        self.description = self.transformer.description + grids

    def __call__(self, x: FloatArray, y: FloatArray, z: FloatArray | None = None) -> tuple[FloatArray, ...]:
        """(lon, lat, h): degrees and metres above the ellipsoid; h is 0 in ground mode."""
        n = len(x)
        if n == 0:
            return np.empty(0), np.empty(0), np.empty(0)
        zz = (z if z is not None else np.zeros(n)) if self.three_d else None
        # PROJ releases the GIL while transforming: two chunks use both cores.
        chunks = 2 if n > 200_000 else 1
        bounds = np.linspace(0, n, chunks + 1).astype(int)
        lon = np.empty(n)
        lat = np.empty(n)
        h = np.empty(n)

        def work(i: int) -> None:
            # One PROJ object must not run in two threads at once: with a grid (its TIFF decoder) the
            # results come out wrong. The second chunk gets an object of its own, of the same pipeline.
            transformer = (
                self.transformer if i == 0 else Transformer.from_pipeline(self.transformer.definition)
            )
            a, b = bounds[i], bounds[i + 1]
            xs, ys = x[a:b], y[a:b]
            if b - a == 1:  # pyproj takes a one-element array for a scalar point (deprecated in numpy)
                xs, ys = np.repeat(xs, 2), np.repeat(ys, 2)
            if zz is not None:
                zs = zz[a:b] if b - a > 1 else np.repeat(zz[a:b], 2)
                lo, la, hh = transformer.transform(xs, ys, zs, errcheck=False)
                h[a:b] = hh[: b - a]
            else:  # heights are not used: the 2D call is 10 % cheaper
                lo, la = transformer.transform(xs, ys, errcheck=False)
            lon[a:b], lat[a:b] = lo[: b - a], la[: b - a]

        if chunks == 1:
            work(0)
        else:
            with ThreadPoolExecutor(chunks) as pool:
                list(pool.map(work, range(chunks)))
        if not self.three_d:
            h[:] = 0.0
        return lon, lat, h
