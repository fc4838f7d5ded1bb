"""Mesh building, tiling, GLB/tileset writers and atomic publishing (no HTTP)."""
