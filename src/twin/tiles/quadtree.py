"""Quadtree over building centres: leaves bounded by a building count and a vertex budget.

Every building lies in exactly one leaf. Footprint layers put content in the leaves only (parents refine with
ADD); city model layers also give parents LoD1 boxes (`twin.tiles.hlod`, REPLACE). See
`twin.tiles.tileset.geometric_errors` for both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MAX_BUILDINGS_PER_LEAF = 1500
# 65,535 vertices keep 16-bit indices and feature ids possible in a leaf's GLB.
MAX_VERTICES_PER_LEAF = 65_535
MAX_DEPTH = 24
# Leaves no wider than this (metres) keep positions quantizable to 16 bits at <= 1 cm steps (see glb.py).
MAX_LEAF_SIZE = 512.0


@dataclass
class QuadNode:
    """One tile of the quadtree: level, x, y address; leaves hold building indices."""

    level: int
    x: int
    y: int
    buildings: IntArray | None = None  # leaves only, in layer order
    children: list[QuadNode] = field(default_factory=list)
    # Filled after the mesh is built: range in the tile-ordered building sequence.
    start: int = 0
    stop: int = 0

    @property
    def is_leaf(self) -> bool:
        """True when the node carries content."""
        return not self.children

    @property
    def key(self) -> str:
        """File-name friendly address, e.g. '3-5-2'."""
        return f"{self.level}-{self.x}-{self.y}"

    def leaves(self) -> list[QuadNode]:
        """Leaves in depth-first order (the order their buildings are laid out)."""
        if self.is_leaf:
            return [self]
        out: list[QuadNode] = []
        for child in self.children:
            out.extend(child.leaves())
        return out


def build_quadtree(
    centres: FloatArray,
    vertex_counts: IntArray,
    max_buildings: int = MAX_BUILDINGS_PER_LEAF,
    max_vertices: int = MAX_VERTICES_PER_LEAF,
    max_leaf_size: float = MAX_LEAF_SIZE,
) -> QuadNode:
    """Split the square around `centres` (N, 2 metres) until every leaf fits both budgets.

    Buildings are sorted once by the Morton (Z-order) code of their centre at the deepest level, which is
    the quadtree's depth-first order: every node is then a contiguous run of that order, its children are
    found by binary search and its budgets by prefix sums. No per-node pass over the buildings.
    """
    lo = centres.min(axis=0)
    hi = centres.max(axis=0)
    size = float(max(hi - lo)) or 1.0
    # A square root cell so that children stay square.
    origin = lo - 1e-6
    size = size * (1 + 1e-9) + 2e-6
    cells = 1 << MAX_DEPTH
    ix = np.clip(((centres[:, 0] - origin[0]) * (cells / size)).astype(np.int64), 0, cells - 1)
    iy = np.clip(((centres[:, 1] - origin[1]) * (cells / size)).astype(np.int64), 0, cells - 1)
    code = _interleave(ix, iy)
    order = np.argsort(code, kind="stable")
    codes = code[order]
    vertices = np.zeros(len(order) + 1, dtype=np.int64)
    np.cumsum(np.asarray(vertex_counts, dtype=np.int64)[order], out=vertices[1:])

    def split(node: QuadNode, a: int, b: int, cell: float) -> None:
        count = b - a
        fits = count <= max_buildings and vertices[b] - vertices[a] <= max_vertices and cell <= max_leaf_size
        if fits or count <= 1:
            node.buildings = order[a:b]
            return
        level = node.level
        quadrant = (
            (codes[a:b] >> np.uint64(2 * (MAX_DEPTH - level - 1))) & np.uint64(3)
            if level < MAX_DEPTH
            else None
        )
        if quadrant is None or (cell < 1e-3 and quadrant[0] == quadrant[-1]):
            # Coincident centres cannot be separated spatially: split the list instead.
            middle = a + count // 2
            for k, (start, stop) in enumerate(((a, middle), (middle, b))):
                child = QuadNode(level + 1, node.x * 2 + k, node.y * 2)
                node.children.append(child)
                split(child, start, stop, cell)
            return
        # Codes share the node's prefix, so the quadrants (2 bits: north, east) are sorted within the run.
        bounds = a + np.searchsorted(quadrant, np.arange(5, dtype=np.uint64))
        for q in range(4):
            start, stop = int(bounds[q]), int(bounds[q + 1])
            if start == stop:
                continue
            dx, dy = q % 2, q // 2
            child = QuadNode(level + 1, node.x * 2 + dx, node.y * 2 + dy)
            node.children.append(child)
            split(child, start, stop, cell / 2)

    root = QuadNode(0, 0, 0)
    split(root, 0, len(order), size)
    return root


def _interleave(ix: IntArray, iy: IntArray) -> npt.NDArray[np.uint64]:
    """Morton codes: bit k of x at bit 2k, bit k of y at bit 2k+1 (quadrant = east + 2 * north per level)."""

    def spread(values: IntArray) -> npt.NDArray[np.uint64]:
        v: npt.NDArray[np.uint64] = values.astype(np.uint64)
        for shift, mask in ((16, 0x0000FFFF0000FFFF), (8, 0x00FF00FF00FF00FF), (4, 0x0F0F0F0F0F0F0F0F),
                            (2, 0x3333333333333333), (1, 0x5555555555555555)):  # fmt: skip
            v = (v | (v << np.uint64(shift))) & np.uint64(mask)
        return v

    return spread(ix) | (spread(iy) << np.uint64(1))


def collapse_chains(node: QuadNode) -> QuadNode:
    """The tree without pass-through nodes: a node with a single child is replaced by that child.

    Sparse data (a few buildings kilometres apart) makes chains of one-child nodes down to each leaf; with
    content in the parents, each link would repeat its child's buildings for nothing.
    """
    while not node.is_leaf and len(node.children) == 1:
        node = node.children[0]
    node.children = [collapse_chains(child) for child in node.children]
    return node
