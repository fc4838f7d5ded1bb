"""Earth-centred frames: geodetic → ECEF and the local east-north-up (ENU) frame.

All functions are vectorised over numpy arrays. Units: degrees for longitude/latitude, metres for heights
(above the WGS84 ellipsoid) and for ECEF / ENU coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# WGS84 ellipsoid (ETRS89's GRS80 differs by 0.1 mm in the semi-minor axis: irrelevant here).
WGS84_A = 6378137.0
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)


def geodetic_to_ecef(lon: FloatArray, lat: FloatArray, h: FloatArray) -> FloatArray:
    """ECEF (N, 3) in metres from longitude/latitude in degrees and ellipsoidal height in metres.

    The closed form is exact; it is what PROJ does for EPSG:4979 → EPSG:4978, without the per-call cost.
    """
    lam = np.radians(lon)
    phi = np.radians(lat)
    sin_phi = np.sin(phi)
    cos_phi = np.cos(phi)
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * sin_phi * sin_phi)
    out = np.empty((np.size(lam), 3), dtype=np.float64)
    out[:, 0] = (n + h) * cos_phi * np.cos(lam)
    out[:, 1] = (n + h) * cos_phi * np.sin(lam)
    out[:, 2] = (n * (1.0 - WGS84_E2) + h) * sin_phi
    return out


@dataclass
class EnuBasis:
    """Points in a local ENU frame as a function of their ellipsoidal height: origin + h * up, exactly.

    `origin` holds the (east, north, up) metres of each lon/lat at height 0, `up` the ENU components of the
    ellipsoid normal there; ECEF is linear in h along that normal, so `at(h)` is the exact geodetic → ENU
    transform for any heights at one trigonometric cost.
    """

    origin: tuple[FloatArray, FloatArray, FloatArray]
    up: tuple[FloatArray, FloatArray, FloatArray]

    def at(self, h: FloatArray | None) -> list[FloatArray]:
        """(east, north, up) arrays at ellipsoidal heights `h` (None: height 0, the origin arrays themselves)."""
        if h is None:
            return list(self.origin)
        out = []
        for base, direction in zip(self.origin, self.up, strict=True):
            value = np.multiply(direction, h)
            value += base
            out.append(value)
        return out


def enu_basis(lon: FloatArray, lat: FloatArray, lon0: float, lat0: float, h0: float = 0.0) -> EnuBasis:
    """The EnuBasis of points at lon/lat (degrees) in the ENU frame at (lon0, lat0, h0)."""
    lam = np.radians(lon)
    phi = np.radians(lat)
    sin_phi = np.sin(phi)
    cos_phi = np.cos(phi)
    cos_lam = np.cos(lam)
    sin_lam = np.sin(lam)
    del lam, phi
    n = np.multiply(sin_phi, sin_phi)
    n *= -WGS84_E2
    n += 1.0
    np.sqrt(n, out=n)
    np.divide(WGS84_A, n, out=n)
    rotation = enu_rotation(lon0, lat0)
    origin = geodetic_to_ecef(np.array([lon0]), np.array([lat0]), np.array([h0]))[0]
    # The unit up vector in ECEF is (cos φ cos λ, cos φ sin λ, sin φ); at h = 0 the point is
    # (n cos φ cos λ, n cos φ sin λ, n (1 - e²) sin φ).
    cc = np.multiply(cos_phi, cos_lam)
    cs = np.multiply(cos_phi, sin_lam)
    del cos_phi, cos_lam, sin_lam
    x = np.multiply(n, cc)
    x -= origin[0]
    y = np.multiply(n, cs)
    y -= origin[1]
    z = np.multiply(n, sin_phi)
    z *= 1.0 - WGS84_E2
    z -= origin[2]
    bases = []
    ups = []
    for row in range(3):
        r = rotation[row]
        base = np.multiply(x, r[0])
        base += np.multiply(y, r[1])
        if r[2] != 0.0:
            base += np.multiply(z, r[2])
        up = np.multiply(cc, r[0])
        up += np.multiply(cs, r[1])
        if r[2] != 0.0:
            up += np.multiply(sin_phi, r[2])
        bases.append(base)
        ups.append(up)
    return EnuBasis((bases[0], bases[1], bases[2]), (ups[0], ups[1], ups[2]))


def enu_rotation(lon0: float, lat0: float) -> FloatArray:
    """3x3 matrix whose rows are the east, north and up unit vectors (in ECEF) at lon0/lat0 degrees."""
    lam = np.radians(lon0)
    phi = np.radians(lat0)
    sl, cl = np.sin(lam), np.cos(lam)
    sp, cp = np.sin(phi), np.cos(phi)
    return np.array(
        [
            [-sl, cl, 0.0],
            [-sp * cl, -sp * sl, cp],
            [cp * cl, cp * sl, sp],
        ]
    )


def enu_to_ecef_matrix(lon0: float, lat0: float, h0: float = 0.0) -> FloatArray:
    """4x4 transform (row-major numpy) taking ENU metres at (lon0, lat0, h0) to ECEF metres."""
    rotation = enu_rotation(lon0, lat0)
    origin = geodetic_to_ecef(np.array([lon0]), np.array([lat0]), np.array([h0]))[0]
    matrix = np.eye(4)
    matrix[:3, :3] = rotation.T
    matrix[:3, 3] = origin
    return matrix


def column_major(matrix: FloatArray) -> list[float]:
    """A 4x4 matrix as the 16 column-major numbers 3D Tiles and glTF expect."""
    return [float(v) for v in matrix.T.reshape(-1)]
