"""HTTP service: the layer API, tile serving, the viewer configuration and the static viewer.

This package is the only place in twin that imports FastAPI or Starlette; everything else is plain Python.
"""

from twin.api.app import create_app, run_server

__all__ = ["create_app", "run_server"]
