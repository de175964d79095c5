"""The copied vectors are the published ones: every file is listed in SOURCES.json with its
origin, and its sha256 matches (a vector edited to make a test pass would fail here)."""

from __future__ import annotations

import hashlib
import json

from tests.vectors import VECTORS_DIR


def test_every_vector_file_matches_its_recorded_source() -> None:
    sources = json.loads((VECTORS_DIR / "SOURCES.json").read_text())["files"]
    present = {
        str(path.relative_to(VECTORS_DIR))
        for path in VECTORS_DIR.rglob("*")
        if path.is_file() and path.name not in ("SOURCES.json", "README.md")
    }
    assert present == set(sources)
    for name, source in sources.items():
        digest = hashlib.sha256((VECTORS_DIR / name).read_bytes()).hexdigest()
        assert digest == source["sha256"], name
        assert source["source"], name
