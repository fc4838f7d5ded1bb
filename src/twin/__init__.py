"""twin: an open 3D digital twin for German municipalities."""

__version__ = "0.1.0"
