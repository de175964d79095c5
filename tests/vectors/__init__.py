"""Published test vectors from other implementations, copied under ``tests/vectors/data``.

They are public data, not written by this project: ``data/SOURCES.json`` gives each file's
origin (repository@commit, path) and sha256, and ``test_vector_sources.py`` checks every file
against it. ``KP_VECTORS_DIR`` points elsewhere, to test against another copy.
"""

import os
from pathlib import Path

VECTORS_DIR = Path(os.environ.get("KP_VECTORS_DIR", Path(__file__).resolve().parent / "data"))
