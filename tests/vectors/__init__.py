"""Published test vectors from other implementations, read from ``../shared/vectors``."""

import os
from pathlib import Path

# The vectors live beside the repository (``../shared/vectors``), for developers and CI alike;
# KP_VECTORS_DIR points elsewhere when the checkout is not laid out that way.
VECTORS_DIR = Path(
    os.environ.get(
        "KP_VECTORS_DIR", Path(__file__).resolve().parents[2].parent / "shared" / "vectors"
    )
)
