"""Coordinate reference systems, vertical datums and local frames (pure functions, no I/O but PROJ's)."""
