"""Every GLB the ingest wrote during this test session passes the Khronos glTF validator with zero errors.

Runs last (file name): it collects the tiles of every layer published under this session's temporary
folders. Tiles compressed with EXT_meshopt_compression are validated as written (container, JSON, extension
structure) and decoded (so the validator also checks the accessor data it cannot see through the extension).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tilecheck

VERSION = re.compile(r"^\d{8}T\d{6}-[0-9a-f]{8}$")


def test_every_glb_written_by_the_tests_is_valid(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    base = tmp_path_factory.getbasetemp()
    written = sorted(
        p
        for p in base.rglob("*.glb")
        # Only what `twin ingest` published (version folders are <UTC stamp>-<8 hex>), not tiles that
        # tests made by hand or corrupted on purpose.
        if p.parent.name == "content" and "versions" in p.parts and VERSION.match(p.parent.parent.name)
    )
    if not written:
        pytest.skip("no layer was ingested in this session (run with the ingest tests)")
    tilecheck.assert_gltf_valid(written)
    decoded = []
    for k, path in enumerate(written):
        glb = tilecheck.read_glb(path)
        tilecheck.check_structural_metadata(glb)
        if "EXT_meshopt_compression" in glb.gltf.get("extensionsUsed", []):
            plain = tmp_path / f"{k}-{path.name}"
            plain.write_bytes(tilecheck.decompress_meshopt(glb))
            decoded.append(plain)
    tilecheck.assert_gltf_valid(decoded)
