"""Frames: the closed-form geodetic → ECEF → ENU conversions agree with PROJ to well below a millimetre."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from twin.geo.frame import (
    column_bounds,
    ecef_to_enu,
    enu_to_ecef_matrix,
    geodetic_to_ecef,
    geodetic_to_enu,
)

TO_ECEF = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)


@settings(max_examples=50, deadline=None)
@given(
    st.floats(-180, 180), st.floats(-89, 89), st.floats(-500, 9000),
    st.floats(-0.05, 0.05), st.floats(-0.05, 0.05),
)  # fmt: skip
def test_enu_matches_pyproj(lon0: float, lat0: float, h: float, dlon: float, dlat: float) -> None:
    lon = np.array([lon0 + dlon])
    lat = np.array([np.clip(lat0 + dlat, -89.9, 89.9)])
    height = np.array([h])
    expected = np.array([TO_ECEF.transform(float(lon[0]), float(lat[0]), h)])
    assert np.abs(geodetic_to_ecef(lon, lat, height) - expected).max() < 1e-6
    (enu,) = geodetic_to_enu(lon, lat, [height], lon0, lat0)
    assert np.abs(enu - ecef_to_enu(expected, lon0, lat0)).max() < 1e-6
    # The tileset's root transform takes ENU back to ECEF.
    back = enu_to_ecef_matrix(lon0, lat0) @ np.append(enu[0], 1.0)
    assert np.abs(back[:3] - expected[0]).max() < 1e-6


def test_enu_axes_point_east_north_up() -> None:
    (east, north, up) = geodetic_to_enu(
        np.array([11.001, 11.0, 11.0]),
        np.array([51.0, 51.001, 51.0]),
        [np.array([0.0, 0.0, 10.0])],
        11.0,
        51.0,
    )[0]
    assert east[0] > 60 and abs(east[1]) < 0.01 and abs(east[2]) < 0.01
    assert north[1] > 100 and abs(north[0]) < 0.01
    assert np.allclose(up, [0, 0, 10], atol=1e-6)


def test_column_bounds() -> None:
    points = np.array([[1.0, 5.0, -2.0], [3.0, -1.0, 4.0]])
    lo, hi = column_bounds(points)
    assert lo.tolist() == [1.0, -1.0, -2.0] and hi.tolist() == [3.0, 5.0, 4.0]
