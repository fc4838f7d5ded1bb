"""3D Tiles 1.1 tileset.json: the spec's object model as TypedDicts and the writer for a building quadtree."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

import numpy as np
import numpy.typing as npt

from twin.tiles.quadtree import QuadNode

RefineType = Literal["ADD", "REPLACE"]
FloatArray = npt.NDArray[np.float64]

# Bounding boxes grow by this much (metres) so that quantized vertices (error <= 5 mm) stay inside.
BOX_MARGIN = 0.02
# Fraction of a tile's horizontal diagonal taken as the error of omitting its buildings (see below).
DIAGONAL_ERROR_FRACTION = 1.0 / 16.0


class BoundingVolume(TypedDict, total=False):
    """A tile's bounding volume (only `box` is written here)."""

    box: list[float]
    region: list[float]
    sphere: list[float]


class Content(TypedDict):
    """A tile's content reference."""

    uri: str


class Tile(TypedDict):
    """One tile of the hierarchy."""

    boundingVolume: BoundingVolume
    geometricError: float
    refine: NotRequired[RefineType]
    transform: NotRequired[list[float]]
    content: NotRequired[Content]
    children: NotRequired[list[Tile]]


class Asset(TypedDict):
    """The tileset's asset block."""

    version: str
    generator: NotRequired[str]
    tilesetVersion: NotRequired[str]


class Tileset(TypedDict):
    """tileset.json."""

    asset: Asset
    geometricError: float
    root: Tile
    extras: NotRequired[dict[str, Any]]


def box_from_bounds(lo: FloatArray, hi: FloatArray, margin: float = BOX_MARGIN) -> list[float]:
    """An axis-aligned 3D Tiles box (centre + three half-axes) around [lo, hi], metres."""
    centre = (lo + hi) / 2
    half = np.maximum((hi - lo) / 2 + margin, margin)
    return [
        float(centre[0]), float(centre[1]), float(centre[2]),
        float(half[0]), 0.0, 0.0,
        0.0, float(half[1]), 0.0,
        0.0, 0.0, float(half[2]),
    ]  # fmt: skip


def geometric_errors(
    node: QuadNode, bounds: dict[str, tuple[FloatArray, FloatArray]], content_error: dict[str, float]
) -> dict[str, float]:
    """Geometric error per tile key, metres: the error of drawing a parent instead of its subtree.

    Leaves (the full detail) have error 0. A parent's error is its `content_error` (what drawing it
    instead of its subtree leaves out, see below), at least a sixteenth of its horizontal diagonal (the
    area that goes empty or coarse) and at least its children's (errors must not grow down the tree).

    - Footprint layers (ADD, empty parents): not refining a parent means none of its buildings are drawn,
      so its content error is the tallest of them. With CesiumJS's default maximum screen-space error of
      16 px on a 1920 x 1080 view (its 60° field of view spans the wider side: 36° vertically), a 500 m
      leaf-parent (error ~44 m) is refined from ~4.6 km away, so a district's buildings load when the
      camera is at planning distance and not before.
    - City model layers (REPLACE, parents with LoD1 boxes, `twin.tiles.hlod`): the largest building a
      parent leaves out, or the highest roof its flat boxes hide.
    """
    errors: dict[str, float] = {}

    def visit(n: QuadNode) -> float:
        if n.is_leaf:
            errors[n.key] = 0.0
            return 0.0
        child_max = max(visit(child) for child in n.children)
        lo, hi = bounds[n.key]
        diagonal = float(np.hypot(hi[0] - lo[0], hi[1] - lo[1]))
        errors[n.key] = max(content_error.get(n.key, 0.0), diagonal * DIAGONAL_ERROR_FRACTION, child_max)
        return errors[n.key]

    visit(node)
    return errors


def build_tileset(
    root: QuadNode,
    bounds: dict[str, tuple[FloatArray, FloatArray]],
    errors: dict[str, float],
    tallest: float,
    content_uri: dict[str, str],
    root_transform: list[float],
    generator: str,
    refine: RefineType = "ADD",
    extras: dict[str, Any] | None = None,
) -> Tileset:
    """The tileset of a quadtree with content at `content_uri[key]` (ENU boxes, `errors` per key).

    `tallest` is the tallest building's height (metres), which decides with the layer's size from how far
    the layer is drawn at all.
    """

    def tile(n: QuadNode) -> Tile:
        lo, hi = bounds[n.key]
        out: Tile = {"boundingVolume": {"box": box_from_bounds(lo, hi)}, "geometricError": errors[n.key]}
        if n.key in content_uri:
            out["content"] = {"uri": content_uri[n.key]}
        if not n.is_leaf:
            out["children"] = [tile(child) for child in n.children]
        return out

    root_tile = tile(root)
    root_tile["refine"] = refine
    root_tile["transform"] = root_transform
    # The tileset's own error decides from how far the layer is drawn at all: at least twice the root's,
    # and at least the layer's diagonal, so that a small single-leaf layer shows from a city-wide view.
    lo, hi = bounds[root.key]
    diagonal = float(np.hypot(hi[0] - lo[0], hi[1] - lo[1]))
    top_error = max(2.0 * errors[root.key], diagonal, 4.0 * tallest, 100.0)
    tileset: Tileset = {
        "asset": {"version": "1.1", "generator": generator},
        "geometricError": top_error,
        "root": root_tile,
    }
    if extras:
        tileset["extras"] = extras
    return tileset
