"""Frames: the closed-form geodetic → ECEF → ENU conversions agree with PROJ to well below a millimetre."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from twin.geo.frame import enu_basis, enu_to_ecef_matrix, geodetic_to_ecef

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
    enu = np.array(enu_basis(lon, lat, lon0, lat0).at(height))[:, 0]
    # The tileset's root transform takes ENU back to ECEF: PROJ's point, to the micrometre.
    back = enu_to_ecef_matrix(lon0, lat0) @ np.append(enu, 1.0)
    assert np.abs(back[:3] - expected[0]).max() < 1e-6


def test_enu_axes_point_east_north_up() -> None:
    # Three points: a little east of the origin, a little north, and 10 m above it; each as (e, n, u).
    basis = enu_basis(np.array([11.001, 11.0, 11.0]), np.array([51.0, 51.001, 51.0]), 11.0, 51.0)
    to_east, to_north, above = np.array(basis.at(np.array([0.0, 0.0, 10.0]))).T
    assert to_east[0] > 60 and abs(to_east[1]) < 0.01 and abs(to_east[2]) < 0.01
    assert to_north[1] > 100 and abs(to_north[0]) < 0.01
    assert np.allclose(above, [0, 0, 10], atol=1e-6)


def test_one_basis_serves_every_height() -> None:
    # Wall bottoms and roofs come from one basis: each height must match its own geodetic → ECEF point.
    lon, lat = np.array([11.969, 11.97]), np.array([51.482, 51.4825])
    basis = enu_basis(lon, lat, 11.969, 51.482)
    to_enu = np.linalg.inv(enu_to_ecef_matrix(11.969, 51.482))
    for heights in (np.array([0.0, 0.0]), np.array([87.5, 120.25]), np.array([-30.0, 4000.0])):
        ecef = geodetic_to_ecef(lon, lat, heights)
        expected = (to_enu @ np.column_stack([ecef, np.ones(2)]).T)[:3]
        assert np.abs(np.array(basis.at(heights)) - expected).max() < 1e-6
