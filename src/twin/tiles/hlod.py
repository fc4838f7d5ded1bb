"""Hierarchical level of detail for city models: what each parent tile shows in place of its subtree.

A parent tile shows LoD1 boxes (footprint prisms) of the largest buildings of its subtree, as many as fit
the tile budgets (buildings and vertices, as for leaves), and refines with REPLACE to its children, down to
the leaves with the full model. So a view of the whole town draws every district (its big buildings as
boxes) from a few hundred kilobytes, and the street view loads the full detail only where the camera is.

A parent's content error (metres) is how far it is from the full detail: the largest building it leaves
out, or the highest roof relief (ridge above eaves) its flat boxes hide, whichever is larger. Buildings
much smaller than the parent's extent are left out of it however much room there is: drawn at the distance
from which the parent is shown, they would be a pixel or two wide.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from twin.tiles.quadtree import MAX_BUILDINGS_PER_LEAF, MAX_VERTICES_PER_LEAF, QuadNode

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# A parent leaves out buildings smaller than its subtree's diagonal divided by this.
MIN_SIZE_FRACTION = 100.0


@dataclass
class ParentContents:
    """The parents' buildings as one sequence: parent `keys[t]` shows rows [tile_start[t], tile_start[t+1])."""

    keys: list[str]
    rows: IntArray  # building indices (tile order), a building may appear in several parents
    tile_start: IntArray
    content_error: dict[str, float]


def parent_contents(
    tree: QuadNode,
    size: FloatArray,
    centres: FloatArray,
    prism_vertices: IntArray,
    relief: FloatArray,
    max_buildings: int = MAX_BUILDINGS_PER_LEAF,
    max_vertices: int = MAX_VERTICES_PER_LEAF,
) -> ParentContents:
    """Choose every parent's buildings (arrays per building, in tile order; leaves numbered).

    `size` is how large a building looks (metres: the larger of its height and the square root of its
    footprint area), `centres` (n, 2) where it stands (metres), `prism_vertices` its vertex count as a box
    and `relief` its roof relief (metres). A parent shows the largest buildings of its subtree that are
    at least 1/MIN_SIZE_FRACTION of the subtree's diagonal (smaller ones are a pixel or two wide when the
    parent is drawn), as many as fit the budgets.
    """
    keys: list[str] = []
    chosen: list[IntArray] = []
    errors: dict[str, float] = {}

    def visit(node: QuadNode) -> tuple[int, int]:
        if node.is_leaf:
            return node.start, node.stop
        spans = [visit(child) for child in node.children]
        start, stop = spans[0][0], spans[-1][1]
        span = centres[start:stop].max(axis=0) - centres[start:stop].min(axis=0)
        floor = float(np.hypot(*span)) / MIN_SIZE_FRACTION
        ranked = start + np.argsort(-size[start:stop], kind="stable")
        fits = (
            (np.cumsum(prism_vertices[ranked]) <= max_vertices)
            & (np.arange(len(ranked)) < max_buildings)
            & (size[ranked] >= floor)
        )
        # The prefix that fits (a building too large for an empty tile is left out).
        count = int(np.argmin(fits)) if not fits.all() else len(ranked)
        shown = np.sort(ranked[:count])
        omitted = ranked[count:]
        keys.append(node.key)
        chosen.append(shown)
        errors[node.key] = max(
            float(size[omitted].max()) if len(omitted) else 0.0,
            float(relief[shown].max()) if len(shown) else 0.0,
        )
        return start, stop

    visit(tree)
    # A parent with nothing that fits gets no content (its error then says so through its children).
    keep = [k for k, rows in enumerate(chosen) if len(rows)]
    counts = [len(chosen[k]) for k in keep]
    tile_start = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=tile_start[1:])
    rows = np.concatenate([chosen[k] for k in keep]) if keep else np.zeros(0, dtype=np.int64)
    return ParentContents([keys[k] for k in keep], rows, tile_start, errors)
