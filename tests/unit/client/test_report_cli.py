"""``kp report annual`` before it asks any node: what it refuses, and how it says that the
reports extra is missing. The verifier install (``pip install kp-ledger``) never loads it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from client.cli import EXIT_UNDECIDED, main

REPO = Path(__file__).resolve().parents[3]
NOBODY = "http://127.0.0.1:9"  # the discard port: nothing answers, and nothing is asked
REPORTS = {"matplotlib", "fpdf", "jinja2"}


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        pytest.param(["--year", "2026", "-o", "r.txt"], ".pdf, .html or .json", id="format"),
        pytest.param(["--year", "26", "-o", "r.json"], "not a year", id="year"),
        pytest.param(["--quarter", "2026Q5", "-o", "r.json"], "not a quarter", id="quarter"),
        pytest.param(
            ["--year", "2026", "-o", "r.json", "--at", "BW:3"], "add --replay", id="at-alone"
        ),
        pytest.param(
            ["--year", "2026", "-o", "r.json", "--replay", "--at", "BW:x"],
            "not LOG:SIZE",
            id="at-malformed",
        ),
    ],
)
def test_what_it_refuses_before_asking_a_node(
    arguments: list[str], says: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    output = [str(tmp_path / a) if a.startswith("r.") else a for a in arguments]
    code = main(["report", "annual", "--participant", "EU", *output, "--node", NOBODY, "--json"])
    assert code == EXIT_UNDECIDED
    assert says in json.loads(capsys.readouterr().out)["detail"]


def test_a_participant_that_is_no_id_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    arguments = ["--participant", "eu", "--year", "2026", "-o", "r.json", "--node", NOBODY]
    code = main(["report", "annual", *arguments, "--json"])
    assert code == EXIT_UNDECIDED
    assert "not a participant id" in json.loads(capsys.readouterr().out)["detail"]


def _run(program: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", program], cwd=REPO, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("output", ["report.pdf", "report.html"])
def test_without_the_reports_extra_it_says_how_to_install_it(output: str, tmp_path: Path) -> None:
    # The extra's libraries made unimportable, as in a verifier-only install.
    program = (
        "import sys\n"
        f"for name in {sorted(REPORTS)!r}: sys.modules[name] = None\n"
        "from client.cli import main\n"
        f"sys.exit(main(['report', 'annual', '--participant', 'EU', '--year', '2026',"
        f" '-o', {str(tmp_path / output)!r}, '--node', {NOBODY!r}]))\n"
    )
    result = _run(program)
    assert result.returncode == EXIT_UNDECIDED, result.stderr
    assert "pip install 'kp-ledger[reports]'" in result.stderr
    assert not (tmp_path / output).exists()


def test_the_command_line_loads_none_of_the_reports_libraries() -> None:
    result = _run(
        "import json, sys\nimport client.cli, client.report, client.report_inputs\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    assert result.returncode == 0, result.stderr
    loaded = {name.split(".")[0] for name in json.loads(result.stdout)}
    assert loaded & REPORTS == set()
