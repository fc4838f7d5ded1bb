"""Which tiles CesiumJS would draw for a camera (its screen-space-error selection) and what they weigh.

The selection and the cameras are pure functions of the tileset JSON; `content_sizes`, `street_ground` and
`view_figures` read the published layer (content files, features.parquet) for bench_citygml.py.

Everything is in the frame of the tileset's root tile (its ``transform`` applied, so metres in the layer's
local ENU frame for twin's layers: x east, y north, z up, origin on the ellipsoid at the layer centre); a
camera on Earth is brought there with `root_frame_point`.

What is modelled, as CesiumJS does it (``Cesium3DTilesetBaseTraversal``, ``PerspectiveFrustum``):
- screen-space error = geometric error x drawing-buffer height / (distance x 2 tan(fovy / 2)), where the
  camera's ``fov`` (60 degrees) is the angle of the *wider* side of the viewport, so on a 1920 x 1080 view
  fovy is 2 atan(tan(30 degrees) / (16/9)), about 36 degrees;
- distance = from the camera to the nearest point of the tile's oriented bounding box (0 inside it);
- a tile is visited only if its box meets the view frustum (its four sides and the near plane), so a box
  that holds the camera is always visited;
- the root is drawn at all only if the tileset's own ``geometricError`` gives an error above the maximum;
- a visible tile with children and an error above the maximum (16 px) is refined: with REPLACE its visible
  children are drawn instead of it, with ADD as well as it; otherwise the tile itself is drawn.
Not modelled: dynamic screen-space error, foveated rendering, skipLevelOfDetail and memory limits, which
only ever lower what CesiumJS requests, so the figures are an upper bound for a steady view.
"""

from __future__ import annotations

import gzip
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow.parquet as pq
import shapely

Vector = npt.NDArray[np.float64]
MAXIMUM_SCREEN_SPACE_ERROR = 16.0  # CesiumJS's default, in pixels
WGS84_A = 6_378_137.0
WGS84_E2 = 6.694_379_990_14e-3


@dataclass(frozen=True)
class Camera:
    """A perspective camera in the tileset's root frame (metres); ``fov`` in radians, of the wider side."""

    position: Vector
    direction: Vector  # unit vector the camera looks along
    up: Vector  # unit vector, perpendicular to direction
    fov: float = math.radians(60.0)
    width: int = 1920
    height: int = 1080

    @property
    def fov_y(self) -> float:
        """Vertical field of view, radians (CesiumJS applies ``fov`` to the wider side of the viewport)."""
        aspect = self.width / self.height
        return self.fov if aspect <= 1 else 2 * math.atan(math.tan(self.fov / 2) / aspect)

    @property
    def fov_x(self) -> float:
        """Horizontal field of view, radians."""
        return 2 * math.atan(math.tan(self.fov_y / 2) * self.width / self.height)


@dataclass(frozen=True)
class Box:
    """An oriented bounding box: centre and the three half-axis vectors (rows), metres."""

    center: Vector
    half_axes: Vector


@dataclass(frozen=True)
class SelectedTile:
    """A tile CesiumJS would draw: its content, depth below the root, error in pixels and its ancestors."""

    uri: str
    depth: int
    leaf: bool  # no children: the full model (LoD2 in twin's city layers); else a coarser stand-in
    sse: float
    ancestors: tuple[str, ...]  # content above it, which a base traversal loads before refining


def look_from(position: Vector, heading_deg: float, pitch_deg: float) -> Camera:
    """A camera at ``position`` looking along a heading (0 = north, 90 = east) and pitch (negative = down)."""
    heading, pitch = math.radians(heading_deg), math.radians(pitch_deg)
    direction = np.array(
        [math.sin(heading) * math.cos(pitch), math.cos(heading) * math.cos(pitch), math.sin(pitch)]
    )
    right = np.array([math.cos(heading), -math.sin(heading), 0.0])
    return Camera(np.asarray(position, dtype=np.float64), direction, np.cross(right, direction))


def column_major(values: list[float]) -> Vector:
    """A 4x4 matrix from the 16 column-major numbers of a 3D Tiles ``transform``."""
    return np.asarray(values, dtype=np.float64).reshape(4, 4).T


def tile_box(volume: Mapping[str, Any], matrix: Vector) -> Box:
    """A tile's bounding volume (``box``, or ``sphere`` as its enclosing cube) moved by ``matrix``."""
    if "box" in volume:
        values = np.asarray(volume["box"], dtype=np.float64)
        center, axes = values[:3], values[3:].reshape(3, 3)
    elif "sphere" in volume:
        values = np.asarray(volume["sphere"], dtype=np.float64)
        center, axes = values[:3], np.eye(3) * values[3]
    else:  # a region is in longitude/latitude: not what twin writes, and it needs the ellipsoid
        raise ValueError(f"unsupported bounding volume {sorted(volume)}: only box and sphere")
    return Box(matrix[:3, :3] @ center + matrix[:3, 3], axes @ matrix[:3, :3].T)


def box_distance(box: Box, point: Vector) -> float:
    """Distance from a point to the nearest point of the box (0 inside), metres."""
    offset = np.asarray(point, dtype=np.float64) - box.center
    squared = 0.0
    for axis in box.half_axes:
        length = float(np.linalg.norm(axis))
        if length == 0.0:  # a flat box: what lies along this axis stays in the residual below
            continue
        along = float(offset @ axis) / length
        offset = offset - along * axis / length
        squared += max(abs(along) - length, 0.0) ** 2
    return math.sqrt(squared + float(offset @ offset))


def in_frustum(box: Box, camera: Camera) -> bool:
    """True if the box meets the camera's frustum (four sides and near plane, far plane at infinity)."""
    half_x, half_y = camera.fov_x / 2, camera.fov_y / 2
    right = np.cross(camera.direction, camera.up)
    d, u = camera.direction, camera.up
    inward_normals = (
        d,  # near plane (through the camera: CesiumJS's near plane is 0.1 m in front of it)
        right * math.cos(half_x) + d * math.sin(half_x),  # left side
        -right * math.cos(half_x) + d * math.sin(half_x),  # right side
        u * math.cos(half_y) + d * math.sin(half_y),  # bottom side
        -u * math.cos(half_y) + d * math.sin(half_y),  # top side
    )
    for normal in inward_normals:
        reach = float(np.abs(box.half_axes @ normal).sum())  # the box's extent along the normal
        if float(normal @ (box.center - camera.position)) + reach < 0:
            return False
    return True


def screen_space_error(geometric_error: float, distance: float, camera: Camera) -> float:
    """Pixels that a tile's geometric error (metres) spans at this distance (metres) on the camera's view."""
    return geometric_error * camera.height / (max(distance, 1e-7) * 2 * math.tan(camera.fov_y / 2))


def content_uri(tile: Mapping[str, Any]) -> str | None:
    """The tile's content URI (``content.uri``, or the 3D Tiles 1.0 ``url``), None for an empty tile."""
    content = tile.get("content") or {}
    return content.get("uri") or content.get("url")


def select_tiles(
    tileset: Mapping[str, Any], camera: Camera, maximum_sse: float = MAXIMUM_SCREEN_SPACE_ERROR
) -> list[SelectedTile]:
    """The tiles CesiumJS draws for this camera once everything has loaded (see the module docstring)."""
    root = tileset["root"]
    root_box = tile_box(root["boundingVolume"], np.eye(4))
    top_error = float(tileset.get("geometricError", root["geometricError"]))
    if not in_frustum(root_box, camera):
        return []
    if screen_space_error(top_error, box_distance(root_box, camera.position), camera) <= maximum_sse:
        return []
    selected: list[SelectedTile] = []

    def visit(
        tile: Mapping[str, Any], matrix: Vector, depth: int, above: tuple[str, ...], refine: str
    ) -> None:
        if depth and "transform" in tile:  # the root's own transform defines the frame the camera is in
            matrix = matrix @ column_major(tile["transform"])
        box = tile_box(tile["boundingVolume"], matrix)
        if not in_frustum(box, camera):
            return
        sse = screen_space_error(float(tile["geometricError"]), box_distance(box, camera.position), camera)
        refine = tile.get("refine", refine)
        uri, children = content_uri(tile), tile.get("children") or []
        if children and sse > maximum_sse:
            if refine == "ADD" and uri:
                selected.append(SelectedTile(uri, depth, False, sse, above))
            below = (*above, uri) if uri else above
            for child in children:
                visit(child, matrix, depth + 1, below, refine)
        elif uri:
            selected.append(SelectedTile(uri, depth, not children, sse, above))

    visit(root, np.eye(4), 0, (), str(root.get("refine", "REPLACE")))
    return selected


def geodetic_to_ecef(lon_deg: float, lat_deg: float, height: float) -> Vector:
    """Earth-centred coordinates (metres, EPSG:4978) of a WGS84 longitude, latitude and ellipsoidal height."""
    lon, lat = math.radians(lon_deg), math.radians(lat_deg)
    normal_radius = WGS84_A / math.sqrt(1 - WGS84_E2 * math.sin(lat) ** 2)
    return np.array([
        (normal_radius + height) * math.cos(lat) * math.cos(lon),
        (normal_radius + height) * math.cos(lat) * math.sin(lon),
        (normal_radius * (1 - WGS84_E2) + height) * math.sin(lat),
    ])  # fmt: skip


def root_frame_point(tileset: Mapping[str, Any], lon: float, lat: float, height: float) -> Vector:
    """A WGS84 point in the root tile's frame (the inverse of the root ``transform``), metres."""
    transform = tileset["root"].get("transform")
    ecef = np.append(geodetic_to_ecef(lon, lat, height), 1.0)
    return ecef[:3] if transform is None else (np.linalg.inv(column_major(transform)) @ ecef)[:3]


def leaf_boxes(tileset: Mapping[str, Any]) -> list[Box]:
    """The bounding boxes of the tiles without children, in the root frame."""
    boxes: list[Box] = []
    todo: list[tuple[Mapping[str, Any], Vector, int]] = [(tileset["root"], np.eye(4), 0)]
    while todo:
        tile, matrix, depth = todo.pop()
        if depth and "transform" in tile:
            matrix = matrix @ column_major(tile["transform"])
        if tile.get("children"):
            todo.extend((child, matrix, depth + 1) for child in tile["children"])
        else:
            boxes.append(tile_box(tile["boundingVolume"], matrix))
    return boxes


def ground_below(tileset: Mapping[str, Any], x: float, y: float) -> float:
    """Height of the ground at (x, y) in the root frame: the lowest bottom of the leaves over that point.

    A leaf's box bottom is its lowest building base; where no leaf covers the point, the nearest leaf's.
    """
    boxes = leaf_boxes(tileset)
    reach = [np.abs(box.half_axes).sum(axis=0) for box in boxes]
    over = [b for b, r in zip(boxes, reach, strict=True) if np.all(np.abs(b.center[:2] - (x, y)) <= r[:2])]
    if not over:
        over = [min(boxes, key=lambda b: float(np.hypot(b.center[0] - x, b.center[1] - y)))]
    return min(float(b.center[2] - np.abs(b.half_axes[:, 2]).sum()) for b in over)


def city_view(tileset: Mapping[str, Any], distance_factor: float = 1.2, pitch_deg: float = -45.0) -> Camera:
    """Camera looking north and down at the root's centre from ``distance_factor`` x its diagonal (xy)."""
    box = tile_box(tileset["root"]["boundingVolume"], np.eye(4))
    extent = np.abs(box.half_axes).sum(axis=0)
    distance = distance_factor * 2 * math.hypot(extent[0], extent[1])
    camera = look_from(box.center, 0.0, pitch_deg)
    return look_from(box.center - distance * camera.direction, 0.0, pitch_deg)


def street_view(
    ground: Vector, south_m: float = 200.0, above_m: float = 60.0, pitch_deg: float = -20.0
) -> Camera:
    """Camera ``south_m`` south of a ground point and ``above_m`` above it, looking north at ``pitch_deg``."""
    return look_from(
        np.asarray(ground, dtype=np.float64) + np.array([0.0, -south_m, above_m]), 0.0, pitch_deg
    )


def content_sizes(layer_dir: Path, tileset: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Raw and gzip (level 6, as the server sends them) bytes of every content file the tileset names."""
    uris: list[str] = []
    todo = [tileset["root"]]
    while todo:
        tile = todo.pop()
        uri = content_uri(tile)
        if uri:
            uris.append(uri)
        todo.extend(tile.get("children") or [])
    sizes = {}
    for uri in uris:
        data = (layer_dir / uri).read_bytes()
        if data[:2] == b"\x1f\x8b":  # already gzip on disk: that is what is sent
            sizes[uri] = (len(gzip.decompress(data)), len(data))
        else:
            sizes[uri] = (len(data), len(gzip.compress(data, compresslevel=6)))
    return sizes


def street_ground(layer_dir: Path, tileset: dict[str, Any]) -> Vector:
    """The ground point (root frame) at the centre of the source file with the most buildings.

    Centres from the footprints in features.parquet; ties (the replicated copies) go to the one nearest the
    origin of the root frame, which is the layer's centre.
    """
    table = pq.read_table(layer_dir / "features.parquet")
    bounds = shapely.bounds(shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False)))
    files = (
        table.column("source_file").to_pylist() if "source_file" in table.column_names else [""] * len(bounds)
    )
    groups: dict[str, list[int]] = {}
    for row, name in enumerate(files):
        groups.setdefault(name or "", []).append(row)
    most = max(len(rows) for rows in groups.values())
    candidates = []
    for rows in (rows for rows in groups.values() if len(rows) == most):
        box = bounds[rows]
        lon, lat = (box[:, 0].min() + box[:, 2].max()) / 2, (box[:, 1].min() + box[:, 3].max()) / 2
        candidates.append(root_frame_point(tileset, lon, lat, 0.0))
    x, y, _ = min(candidates, key=lambda p: float(np.hypot(p[0], p[1])))
    return np.array([x, y, ground_below(tileset, x, y)])


def view_figures(
    tileset: dict[str, Any], camera: Camera, sizes: dict[str, tuple[int, int]]
) -> dict[str, Any]:
    """What CesiumJS fetches for one camera: the tiles it draws, and with the ancestors it loads first."""
    chosen = select_tiles(tileset, camera)
    drawn = {tile.uri for tile in chosen}
    cold = drawn | {uri for tile in chosen for uri in tile.ancestors}
    return {
        "camera_position_m": [round(float(v), 1) for v in camera.position],
        "tiles": len(drawn),
        "raw_bytes": sum(sizes[u][0] for u in drawn),
        "gzip_bytes": sum(sizes[u][1] for u in drawn),
        "depths": dict(sorted(Counter(tile.depth for tile in chosen).items())),
        "leaves": sum(tile.leaf for tile in chosen),
        "with_ancestors_tiles": len(cold),
        "with_ancestors_gzip_bytes": sum(sizes[u][1] for u in cold),
    }


def self_test() -> None:
    """Check the selection on a synthetic tileset: a 2 km square root (error 100 m) with four 1 km leaves."""
    leaves: list[dict[str, Any]] = [
        {"boundingVolume": {"box": [x, y, 10, 500, 0, 0, 0, 500, 0, 0, 0, 10]}, "geometricError": 0.0,
         "content": {"uri": f"leaf{x:+d}{y:+d}.glb"}}
        for x in (-500, 500) for y in (-500, 500)
    ]  # fmt: skip
    root = {"boundingVolume": {"box": [0, 0, 10, 1000, 0, 0, 0, 1000, 0, 0, 0, 10]}, "geometricError": 100.0,
            "refine": "REPLACE", "content": {"uri": "root.glb"}, "children": leaves}  # fmt: skip
    tileset = {"geometricError": 500.0, "root": root}

    def uris(camera: Camera, refine: str = "REPLACE") -> list[str]:
        return sorted(
            tile.uri for tile in select_tiles({**tileset, "root": {**root, "refine": refine}}, camera)
        )

    box = Box(np.zeros(3), np.eye(3))
    assert box_distance(box, np.array([3.0, 0, 0])) == 2.0 and box_distance(box, np.array([0.5, 0, 0])) == 0.0
    assert math.isclose(box_distance(box, np.array([2.0, 2.0, 0])), math.sqrt(2))
    flat = Box(np.zeros(3), np.diag([1.0, 1.0, 0.0]))
    assert math.isclose(box_distance(flat, np.array([0.0, 0, 5])), 5.0)
    camera = Camera(np.zeros(3), np.array([0.0, 1, 0]), np.array([0.0, 0, 1]))
    assert math.isclose(math.degrees(camera.fov_x), 60.0) and 35.9 < math.degrees(camera.fov_y) < 36.0
    # fovy 36 degrees: SSE = error x 1080 / (distance x 0.6495), so the root (100 m) refines below ~10.4 km
    # and the tileset (500 m) is drawn at all below ~52 km.
    assert uris(look_from(np.array([0.0, 0, 20_000]), 0, -90)) == ["root.glb"]
    assert uris(look_from(np.array([0.0, 0, 80_000]), 0, -90)) == []
    assert uris(look_from(np.array([0.0, 0, 5_000]), 0, -90)) == sorted(
        leaf["content"]["uri"] for leaf in leaves
    )
    assert uris(look_from(np.array([500.0, 500, 200]), 0, -90)) == ["leaf+500+500.glb"]
    assert uris(look_from(np.array([500.0, 500, 200]), 0, -90), "ADD") == ["leaf+500+500.glb", "root.glb"]
    assert uris(look_from(np.array([0.0, 0, 5_000]), 0, 90)) == []  # looking at the sky
    inside = select_tiles(tileset, look_from(np.array([-500.0, -900, 15]), 0, 0))  # in the root box, level
    assert {tile.uri for tile in inside} == {"leaf-500-500.glb", "leaf-500+500.glb", "leaf+500-500.glb",
                                              "leaf+500+500.glb"}  # fmt: skip
    assert all(tile.ancestors == ("root.glb",) and tile.leaf and tile.depth == 1 for tile in inside)
    behind = select_tiles(tileset, look_from(np.array([0.0, -1500, 15]), 180, 0))  # root behind the camera
    assert behind == []
    ecef = geodetic_to_ecef(0.0, 90.0, 0.0)
    assert abs(ecef[2] - 6_356_752.314) < 1e-3 and abs(ecef[0]) < 1e-6
