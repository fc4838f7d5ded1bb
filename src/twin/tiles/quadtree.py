"""Quadtree over building centres: leaves bounded by a building count and a vertex budget.

Content lives in the leaves only and parents refine with ADD, so a parent's geometric error is the error
of showing none of its buildings (see `geometric_errors`).
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
    """Split the square around `centres` (N, 2 metres) until every leaf fits both budgets."""
    lo = centres.min(axis=0)
    hi = centres.max(axis=0)
    size = float(max(hi - lo)) or 1.0
    # A square root cell so that children stay square.
    origin = lo - 1e-6
    size = size * (1 + 1e-9) + 2e-6

    def split(node: QuadNode, index: IntArray, x0: float, y0: float, cell: float) -> None:
        total_vertices = int(vertex_counts[index].sum())
        fits = len(index) <= max_buildings and total_vertices <= max_vertices and cell <= max_leaf_size
        if fits or len(index) <= 1:
            node.buildings = index
            return
        half = cell / 2
        pts = centres[index]
        east = pts[:, 0] >= x0 + half
        north = pts[:, 1] >= y0 + half
        quadrant = east.astype(np.int64) + 2 * north.astype(np.int64)
        if node.level >= MAX_DEPTH or (np.all(quadrant == quadrant[0]) and cell < 1e-3):
            # Coincident centres cannot be separated spatially: split the list instead.
            halves = np.array_split(index, 2)
            for k, part in enumerate(halves):
                child = QuadNode(node.level + 1, node.x * 2 + k, node.y * 2)
                node.children.append(child)
                split(child, part, x0, y0, cell)
            return
        for q in range(4):
            members = index[quadrant == q]
            if len(members) == 0:
                continue
            dx, dy = q % 2, q // 2
            child = QuadNode(node.level + 1, node.x * 2 + dx, node.y * 2 + dy)
            node.children.append(child)
            split(child, members, x0 + dx * half, y0 + dy * half, half)

    root = QuadNode(0, 0, 0)
    split(root, np.arange(len(centres), dtype=np.int64), float(origin[0]), float(origin[1]), size)
    return root
