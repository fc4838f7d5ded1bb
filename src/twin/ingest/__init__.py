"""Readers: one per source format, each producing the canonical model (no HTTP, no tiling)."""
