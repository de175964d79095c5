"""The one test command, for developers and CI alike: ``python3 -m tests``.

Creates ``.venv`` (if missing) with the project and its test extra, then runs, in order, the
linters (ruff check, ruff format --check), the type checker (mypy --strict on node/ and client/)
and the whole pytest suite under coverage (every process a test starts included), then prints the
line coverage of node/ and client/. Extra arguments go to pytest. ``KP_COVERAGE_FLOOR=N`` fails the
run below N percent (CI sets it). Exits non-zero on the first failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def _run(*command: str | Path) -> None:
    print("+", " ".join(str(c) for c in command), flush=True)
    result = subprocess.run([str(c) for c in command], cwd=ROOT, check=False)
    if result.returncode != 0:
        sys.exit(result.returncode)


def main() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - run by whatever python3 the machine has
        sys.exit("KP Ledger needs Python 3.11 or newer")
    if not (BIN / "python").exists():
        venv.create(VENV, with_pip=True)
    python = BIN / "python"
    _run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    _run(python, "-m", "pip", "install", "--quiet", "--editable", ".[test]")
    _run(python, "-m", "ruff", "check", ".")
    _run(python, "-m", "ruff", "format", "--check", ".")
    _run(python, "-m", "mypy")
    for stale in ROOT.glob(".coverage*"):
        stale.unlink()
    _run(python, "-m", "coverage", "run", "-m", "pytest", *sys.argv[1:])
    _run(python, "-m", "coverage", "combine", "--quiet")
    floor = os.environ.get("KP_COVERAGE_FLOOR")
    _run(python, "-m", "coverage", "report", *([f"--fail-under={floor}"] if floor else []))


if __name__ == "__main__":
    main()
