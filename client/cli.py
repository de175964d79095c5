"""``kp``: submit records, verify chains, export bundles, trace parcels, audit logs, KP statistics.

Nodes to ask come from ``--node URL`` (repeatable) or ``KP_NODES`` (comma-separated); the trusted
genesis hash from ``--trust HEX`` or ``KP_TRUST``. ``--json`` prints one JSON document on stdout
for machines; otherwise rich tables and trees for people. Diagnoses and progress go to stderr.

Exit codes:

    0  success: the record was appended, the chain is VALID, the audit or statistics found nothing
    1  INVALID, or refused: the node refused the record (its stable code is printed), a finding
       of the audit, an anomaly in the statistics
    2  could not decide: usage error, no trust anchor, no node reachable, no node serving the
       chain, a certificate number not of the grammar (but where a certificate is looked up —
       kp verify, kp bundle export — such a text is not found, 4)
    3  kp verify: VALID history, but the certificate may not be accepted now: it was already
       confirmed, or rejected, voided, or it expired (the first line says which, and since when)
    4  not found: no certificate with this number (or entry with this hash) on the ledger — it
       may be forged; the first line on stdout says so
    5  not submitted: the node of the record's own log does not answer (or none of the nodes
       given is it); records of a log are written only at its own node, so nothing was sent

Certificate numbers are read as the ledger indexes them (decision 0025): case, white space and
the separators '-' and '/' do not matter, so BW/2026/0005, bw-2026-0005 and "BW 2026 0005" name
one certificate.

    kp submit produce BW-JW-0001 --centicarats 125000 --hs-code 7102.10 \\
        --key-file mine.pem --operator mine --log BW [--wait witnessed]
    kp submit transform|transfer|certify|confirm|reject|void ...   (see kp submit TYPE --help)
    kp verify HASH|CERT-NUMBER [--bundle FILE] [--deep]   (e.g. kp verify BW/2026/0005)
    kp bundle export HASH|CERT-NUMBER -o FILE [--depth N|all]
    kp trace LOG:SEQ:HASH:OUT [--max-depth N] [--max-parcels N]
    kp trace --from CURSOR                       (go on where a bounded trace stopped)
    kp audit [--log ID ... | --all] [--report FILE.json] [--csv FILE.csv]
             [--member LOG:OPERATOR --key-file PEM]
    kp stats --quarter 2026Q3 | --half 2026H1 | --year 2026 | --from DATE --to DATE
             [--participant ID] [--replay] [--csv DIR|FILE.csv] [--xlsx FILE]
             [--member LOG:OPERATOR --key-file PEM]
    kp report annual --participant ID --year 2026 -o report.pdf|report.html|report.json
             [--replay] [--at LOG:SIZE:ROOT ...] [--as-of DATE]   (needs kp-ledger[reports])
    kp disclosures access --member LOG:OPERATOR --key-file PEM [--after N] [--limit N]
    kp key new -o FILE [--passphrase-env VAR]    (an operator's key; FILE.pub to register)
    kp certificate pdf HASH|CERT-NUMBER -o FILE [--member LOG:OPERATOR --key-file PEM]
"""

from __future__ import annotations

import argparse
import base64
import csv
import datetime
import importlib.util
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from operator import methodcaller
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table
from rich.tree import Tree

from client.annex import fetch_movements
from client.anomalies import Thresholds
from client.audit import AuditReport, custody_of, finding_rows
from client.deep import DEFAULT_PAGE_DEPTH
from client.download import (
    DisclosedValues,
    DownloadedLedger,
    OnProgress,
    cross_examine,
    download_ledger,
    read_disclosed,
)
from client.errors import (
    ClientError,
    NodeUnavailableError,
    NotOnLedgerError,
    NotSubmittedError,
    ProblemError,
    UndecidedError,
)
from client.export import write_csv, write_xlsx
from client.nodes import Nodes
from client.online import verify_online
from client.replay import history_notes
from client.sdk import Operator
from client.stats import (
    Column,
    PeriodError,
    StatTable,
    compute_statistics,
    parse_period,
    replayed_movements,
    value_key,
)
from client.trace import TracedParcel, cursor_text, parse_cursor, trace_from
from client.verify import MAX_BUNDLE_BYTES, Finding, SeededParcel, Step, Verdict, check_bundle
from node.core import clock, crypto
from node.core.bundle import Bundle
from node.core.encoding import Value
from node.core.errors import BundleError, KeyFileError, LedgerError
from node.core.provenance import DEFAULT_DEPTH, depth_text, parse_depth
from node.core.records import (
    CERTIFICATE_NUMBER,
    CERTIFICATE_NUMBER_GRAMMAR,
    HS_CODES,
    TRANSFORM_KINDS,
    CertificateConfirm,
    CertificateIssue,
    CertificateNumber,
    CertificateReject,
    CertificateVoid,
    Entry,
    ParcelRef,
    ParcelTransfer,
    ParcelTransform,
    SignedRecord,
    certificate_number_key,
    parse_certificate_number,
)
from node.core.sealing import Disclosures

__all__ = [
    "EXIT_INVALID",
    "EXIT_NOT_FOUND",
    "EXIT_NOT_SUBMITTED",
    "EXIT_NOT_USABLE",
    "EXIT_OK",
    "EXIT_UNDECIDED",
    "main",
]

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_UNDECIDED = 2
EXIT_NOT_USABLE = 3  # kp verify: a valid history, but the certificate may not be accepted now
EXIT_NOT_FOUND = 4
EXIT_NOT_SUBMITTED = 5

MAX_NODES = 32
MAX_TRACE_DEPTH = 256
MAX_TRACE_PARCELS = 10_000
DEFAULT_TIMEOUT = 10.0

_HASH = re.compile(r"[0-9a-f]{64}")
_REF = re.compile(r"([A-Z]{2,8}):(\d{1,19}):([0-9a-fA-F]{64})(?::(\d{1,2}))?")
_MEMBER = re.compile(r"([A-Z]{2,8}):([A-Za-z0-9._-]{1,64})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class _UsageError(LedgerError):
    """The command line asks for something that cannot be done as given (exit 2)."""

    code = "cli.usage"


class _UndecidedError(LedgerError):
    """The nodes could not settle the question (exit 2)."""

    code = "cli.undecided"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``kp``; return the exit code documented in the module docstring."""
    args = _parser().parse_args(argv)
    out = _Output(args.json)
    try:
        result: int = args.handler(args, out)
        return result
    except ProblemError as exc:
        out.fail("refused", exc.code, exc.detail, status_code=exc.status)
        return EXIT_INVALID
    except NotOnLedgerError as exc:
        # A verdict in its own right: stdout's first line, like VALID and INVALID.
        out.fail("not_found", exc.code, exc.message, headline=f"NOT FOUND — {exc.message}")
        return EXIT_NOT_FOUND
    except NotSubmittedError as exc:
        out.fail("not_submitted", exc.code, exc.message)
        return EXIT_NOT_SUBMITTED
    except LedgerError as exc:  # unreachable nodes, usage, key files, malformed answers
        out.fail("undecided", exc.code, exc.message)
        return EXIT_UNDECIDED
    except OSError as exc:
        out.fail("undecided", "cli.os_error", str(exc))
        return EXIT_UNDECIDED


# --- output --------------------------------------------------------------------------------------

_PIPED_WIDTH = 1_000  # columns when stdout is no terminal: wide enough for any row we print


class _Stdout:
    """``sys.stdout`` that outlives its reader: in ``kp verify X | head -1`` the verdict's exit
    code stands when ``head`` closes the pipe early; what is left to print has nowhere to go."""

    def __init__(self) -> None:
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                sys.stdout.write(text)
            except BrokenPipeError:
                self._reader_gone()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                sys.stdout.flush()
            except BrokenPipeError:
                self._reader_gone()

    def isatty(self) -> bool:
        return sys.stdout.isatty()

    def fileno(self) -> int:
        return sys.stdout.fileno()

    def _reader_gone(self) -> None:
        self.gone = True
        # What Python's own exit would flush goes to /dev/null instead of raising again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


class _Output:
    """stdout for results (rich, or one JSON document), stderr for diagnoses and progress.

    Piped, tables are as wide as their content: hashes and parcel references are printed whole,
    never cut to a terminal's 80 columns, so that they can be copied into the next command.
    """

    def __init__(self, as_json: bool) -> None:
        self.json = as_json
        self.stdout = _Stdout()
        width = None if self.stdout.isatty() else _PIPED_WIDTH
        # rich writes and flushes only; _Stdout is not a whole IO[str]
        self.console = Console(file=self.stdout, highlight=False, width=width)  # type: ignore[arg-type]
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    def emit(self, document: dict[str, Any]) -> None:
        self.stdout.write(json.dumps(document, indent=2) + "\n")
        self.stdout.flush()

    def warn(self, text: str) -> None:
        self.err.print(f"kp: {text}", markup=False)

    def fail(
        self,
        status: str,
        code: str,
        detail: str,
        *,
        status_code: int | None = None,
        headline: str | None = None,
    ) -> None:
        if headline is not None and not self.json:
            self.console.print(headline, markup=False, style="bold red")
        else:
            self.warn(f"{code}: {detail}")
        if self.json:
            document: dict[str, Any] = {"status": status, "code": code, "detail": detail}
            if headline is not None:
                document["headline"] = headline
            if status_code is not None:
                document["http_status"] = status_code
            self.emit(document)

    @contextmanager
    def progress(self) -> Iterator[Progress]:
        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=self.err,
            transient=True,
        )
        with bar:
            yield bar


def _count(n: int, noun: str) -> str:
    """``1 seeded parcel``, ``2 seeded parcels``."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _carats(centicarats: int | None) -> str:
    return "-" if centicarats is None else f"{centicarats / 100:,.2f} ct"


def _usd(cents: int | None, sealed: int) -> str:
    if cents is None:
        return "sealed" if sealed else "-"
    shown = f"${cents / 100:,.2f}"
    return f"{shown} + {sealed} sealed" if sealed else shown


# --- arguments -----------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--node", action="append", metavar="URL", help="a node to ask (repeatable; or KP_NODES)"
    )
    common.add_argument("--trust", metavar="GENESIS-HEX", help="trusted genesis hash (or KP_TRUST)")
    common.add_argument("--json", action="store_true", help="one JSON document on stdout")
    common.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds a request")

    parser = argparse.ArgumentParser(
        prog="kp",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit codes: 0 success/VALID, 1 INVALID or refused, 2 could not decide, "
        "3 VALID but the certificate is not usable now (confirmed, rejected, voided, expired, "
        "a party suspended), "
        "4 no certificate with this number on the ledger, 5 own node down: nothing submitted",
    )
    parser.set_defaults(json=False)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    _submit_parsers(commands, common)

    verify = commands.add_parser(
        "verify",
        parents=[common],
        help="verify a chain to the mines, and whether the certificate may be accepted now",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_VERIFY_EPILOG,
    )
    verify.add_argument("subject", nargs="?", help="entry hash or certificate number")
    verify.add_argument("--bundle", type=Path, help="verify this bundle file offline")
    verify.add_argument(
        "--date",
        type=_date_arg,
        help="judge expiry on this date (YYYY-MM-DD, UTC) instead of today: was it usable then?",
    )
    verify.add_argument(
        "--deep",
        action="store_true",
        help="replay the whole chain back to the mines, not only its last steps (online: each "
        "seed verified by a bounded bundle of its own, page after page; offline: a bundle is "
        "replayed as deep as it was exported)",
    )
    verify.set_defaults(handler=_verify)

    bundle = commands.add_parser("bundle", help="provenance bundles")
    bundle_commands = bundle.add_subparsers(required=True, metavar="ACTION")
    export = bundle_commands.add_parser("export", parents=[common], help="write a bundle file")
    export.add_argument("subject", help="entry hash or certificate number")
    export.add_argument("-o", "--output", type=Path, required=True)
    export.add_argument(
        "--depth",
        type=_depth_arg,
        default=DEFAULT_DEPTH,
        help="levels of the steps that made the parcels to replay below the certificate, the "
        f"parcels behind them seeded (default {DEFAULT_DEPTH}); 'all' for the whole chain back "
        "to the mines, as an audit wants",
    )
    export.set_defaults(handler=_bundle_export)

    trace = commands.add_parser(
        "trace",
        parents=[common],
        help="where a parcel went",
        description="Follow a parcel forward to the parcels still live. Where --max-depth or "
        "--max-parcels stops it, the parcels not followed yet are printed as a cursor: "
        "kp trace --from CURSOR goes on from there (--json: its 'cursor').",
    )
    trace.add_argument("parcel", nargs="?", type=_parcel_arg, help="LOG:SEQ:HASH:OUT")
    trace.add_argument(
        "--from",
        dest="cursor",
        metavar="CURSOR",
        help="go on from where a trace stopped (the cursor it printed)",
    )
    trace.add_argument("--max-depth", type=_bounded(1, MAX_TRACE_DEPTH), default=64)
    trace.add_argument("--max-parcels", type=_bounded(1, MAX_TRACE_PARCELS), default=1000)
    trace.set_defaults(handler=_trace)

    audit = commands.add_parser("audit", parents=[common], help="re-validate whole logs")
    scope = audit.add_mutually_exclusive_group()
    scope.add_argument("--log", action="append", metavar="ID", help="audit this log (repeatable)")
    scope.add_argument("--all", action="store_true", help="audit every log (the default)")
    audit.add_argument("--report", type=Path, help="write the report as JSON")
    audit.add_argument("--csv", type=Path, help="write the findings as CSV")
    _member_arguments(audit)
    audit.set_defaults(handler=_audit)

    key = commands.add_parser("key", help="an operator's own signing key")
    key_commands = key.add_subparsers(required=True, metavar="ACTION")
    new_key = key_commands.add_parser(
        "new",
        help="make a signing key: FILE (private, 0600) and FILE.pub (for the authority)",
        description="Make an Ed25519 signing key. The private key stays with the operator; the "
        "authority registers FILE.pub with `kp-node operator add NAME --key-file FILE.pub`.",
    )
    new_key.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    new_key.add_argument("--passphrase-env", help="environment variable holding a passphrase")
    new_key.set_defaults(handler=_key_new)

    stats = commands.add_parser(
        "stats",
        parents=[common],
        help="KP statistics (Annex III tables) and anomalies",
        description="The Annex III tables of a period from the nodes' statistics index, "
        "cross-checked between two nodes (decision 0045); --replay re-validates every log "
        "instead. Exit 1 when an anomaly or a disagreement is found.",
    )
    stats.add_argument("--from", dest="start", metavar="DATE")
    stats.add_argument("--to", dest="end", metavar="DATE")
    stats.add_argument("--quarter", metavar="YYYYQn", help="e.g. 2026Q3")
    stats.add_argument("--half", metavar="YYYYHn", help="e.g. 2026H1")
    stats.add_argument("--year", metavar="YYYY")
    stats.add_argument(
        "--participant", action="append", default=[], metavar="ID", help="only this (repeatable)"
    )
    stats.add_argument("--replay", action="store_true", help="download and re-validate every log")
    stats.add_argument("--csv", type=Path, metavar="DIR|FILE.csv", help="the tables as CSV")
    stats.add_argument("--xlsx", type=Path, metavar="FILE", help="one sheet per table")
    stats.add_argument("--change-percent", type=_bounded(1, 10_000), default=50, metavar="N")
    stats.add_argument("--unit-value-factor", type=_bounded(2, 1_000), default=3, metavar="N")
    stats.add_argument("--late-days", type=_bounded(0, 3_650), default=30, metavar="N")
    _member_arguments(stats)
    stats.set_defaults(handler=_stats)

    report = commands.add_parser("report", help="reports of KP statistics")
    report_commands = report.add_subparsers(required=True, metavar="KIND")
    annual = report_commands.add_parser(
        "annual",
        parents=[common],
        help="a participant's annual report: Annex III tables, charts, anomalies (PDF, HTML)",
        description="A participant's report over a year (or a half, a quarter): the Annex III "
        "tables, charts of production and trade by quarter, partners and HS codes, and the "
        "anomalies with the entries behind each, stating the checkpoints it was computed from "
        "and the command that recomputes it (decision 0046). The format follows the extension "
        "of -o: .pdf, .html (with FILE_files/ beside it) or .json. PDF and HTML need the "
        "reports extra: pip install 'kp-ledger[reports]'. Exit 1 when what it was computed "
        "from did not check out (nodes disagree, a root is not the one given); anomalies are "
        "in the report.",
    )
    annual.add_argument("--participant", required=True, metavar="ID")
    when = annual.add_mutually_exclusive_group(required=True)
    when.add_argument("--year", metavar="YYYY")
    when.add_argument("--half", metavar="YYYYHn", help="an interim report, e.g. 2026H1")
    when.add_argument("--quarter", metavar="YYYYQn", help="an interim report, e.g. 2026Q3")
    annual.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    annual.add_argument(
        "--replay", action="store_true", help="download and re-validate every log instead"
    )
    annual.add_argument(
        "--at",
        action="append",
        default=[],
        metavar="LOG:SIZE[:ROOT]",
        help="count this log up to this size (repeatable; with --replay): the checkpoints a "
        "report states, to recompute it",
    )
    annual.add_argument(
        "--as-of",
        type=_date_arg,
        metavar="DATE",
        help="judge unconfirmed certificates on this day (default: today, or the period's end "
        "when it is over)",
    )
    annual.add_argument("--change-percent", type=_bounded(1, 10_000), default=50, metavar="N")
    annual.add_argument("--unit-value-factor", type=_bounded(2, 1_000), default=3, metavar="N")
    annual.add_argument("--late-days", type=_bounded(0, 3_650), default=30, metavar="N")
    annual.set_defaults(handler=_report_annual)

    disclosures = commands.add_parser("disclosures", help="who read the sealed values")
    disclosures_commands = disclosures.add_subparsers(required=True, metavar="ACTION")
    access = disclosures_commands.add_parser(
        "access",
        parents=[common],
        help="every read of your log's disclosures on a node, allowed or refused",
        description="The record of reads a node keeps of your log's sealed values: who read "
        "which entry, when, and which fields it was given or refused (decision 0040). Shown "
        "to your log's authority only: sign with an authority operator's key.",
    )
    _member_arguments(access)
    access.add_argument("--after", type=_bounded(0, 2**62), default=0, metavar="N")
    access.add_argument("--limit", type=_bounded(1, 1000), default=100, metavar="N")
    access.set_defaults(handler=_disclosure_access)

    certificate = commands.add_parser("certificate", help="the certificate as a document")
    certificate_commands = certificate.add_subparsers(required=True, metavar="ACTION")
    pdf = certificate_commands.add_parser(
        "pdf",
        parents=[common],
        help="write the printable certificate: KPCS Annex I, its place in the ledger, a QR code",
        description="Write the certificate as a one-page PDF: every element of KPCS Annex I, "
        "the import confirmation once recorded, its log, sequence number, entry hash and "
        "network genesis, and a QR code of its verification page on the first --node "
        "(decision 0042). Exporter, importer and value print sealed, unless --member signs "
        "for a member the disclosure policy entitles to them.",
    )
    pdf.add_argument("subject", help="certificate number or entry hash")
    pdf.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    _member_arguments(pdf)
    pdf.set_defaults(handler=_certificate_pdf)
    return parser


_VERIFY_EPILOG = """\
The first line is the verdict:
  VALID — USABLE for import into EU until 2026-12-31 (as of 2026-12-01T10:00:00Z)    exit 0
  VALID — CONFIRMED by EU on 2026-10-02, not usable again (recorded 2026-10-03)      exit 3
  VALID — REJECTED by EU on ..., not usable                                           exit 3
  VALID — VOIDED by BW on ..., not usable                                             exit 3
  VALID — EXPIRED on ..., never confirmed, not usable                                 exit 3
  VALID — SUSPENDED: charter version 3 suspends ZA, not usable for import into ZA     exit 3
  VALID — SUSPENDED WHEN ISSUED: accepted under charter version 2, but version 3
          suspends ZA and nothing shows it was issued first; not usable ...           exit 3
  VALID — NOT YET ISSUED on <--date> (issued ...), not usable then                    exit 3
  INVALID — <code>: <reason>                                                          exit 1
  (could not decide: no node answered, no bundle served)                             exit 2
  NOT FOUND — no certificate with this number on the ledger — it may be forged       exit 4
  (also for a text that is no certificate number or entry hash at all)
A certificate number is read in any case, with '-', '/' or spaces between its groups
(BW-2026-0005, BW/2026/0005, BW0001234).
A verdict on an entry that is not a certificate (a confirmation, a transform) is VALID, exit 0,
and states the status of the certificate it confirms. Offline, "as of" is the newest witness
cosignature on the importer's and issuer's checkpoints in the bundle: a confirmation recorded
after it cannot be seen; online, every node is asked, and "as of" is the moment of asking when
the importer's own node answered — when it did not, the headline says so.
By default the last steps are replayed (the certificate and the step that made its parcels) and
the history behind the parcels they consumed rests on the witnesses that re-validated it; a line
says how many entries were replayed and which parcels' history was not (decision 0039). --deep
replays everything back to the mines, as a chain of bounded bundles: each seed verified by the
bundle of the entry that last changed its parcel (--json: "pages", the bundles fetched).
"""


def _key_new(args: argparse.Namespace, out: _Output) -> int:
    """Write a new private key and its public key beside it (``FILE.pub``)."""
    key = crypto.generate_private_key()
    args.output.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    public_file = args.output.with_name(args.output.name + ".pub")
    if public_file.exists():
        raise KeyFileError(f"refusing to overwrite {public_file}", code="key.file_exists")
    crypto.save_private_key(args.output, key, passphrase=_passphrase(args.passphrase_env))
    public_file.write_bytes(crypto.public_key_pem(key))
    public_key = base64.b64encode(crypto.public_key_bytes(key)).decode()
    document = {
        "status": "created",
        "private_key_file": str(args.output),
        "public_key_file": str(public_file),
        "public_key": public_key,
    }
    if out.json:
        out.emit(document)
    else:
        out.console.print(
            f"private key {args.output} (keep it; mode 0600)\npublic key  {public_file}: "
            f"{public_key}\nthe authority registers it with: kp-node operator add --dir "
            f"NODE-DATA-DIR NAME --kind KIND --key-file {public_file.name}",
            markup=False,
        )
    return EXIT_OK


def _member_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--member", type=_member_arg, metavar="LOG:OPERATOR")
    parser.add_argument("--key-file", type=Path, help="the member's PEM key (with --member)")
    parser.add_argument("--passphrase-env", help="environment variable holding its passphrase")


def _bounded(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in {low}..{high}")
        return value

    return parse


def _depth_arg(text: str) -> int | None:
    try:
        return parse_depth(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _date_arg(text: str) -> str:
    try:
        if _DATE.fullmatch(text):
            return datetime.date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{text!r} is not a YYYY-MM-DD date")


def _member_arg(text: str) -> tuple[str, str]:
    found = _MEMBER.fullmatch(text)
    if found is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not LOG:OPERATOR")
    return found[1], found[2]


def _ref(text: str, *, with_out: bool) -> list[Value]:
    found = _REF.fullmatch(text)
    if found is None or (found[4] is not None and not with_out):
        shape = "LOG:SEQ:HASH[:OUT]" if with_out else "LOG:SEQ:HASH"
        raise argparse.ArgumentTypeError(f"{text!r} is not {shape}")
    ref: list[Value] = [found[1], int(found[2]), bytes.fromhex(found[3])]
    if with_out:
        ref.append(int(found[4] or 0))
    return ref


def _parcel_arg(text: str) -> list[Value]:
    return _ref(text, with_out=True)


def _entry_arg(text: str) -> list[Value]:
    return _ref(text, with_out=False)


def _output_arg(text: str) -> tuple[str, int, str]:
    parts = text.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or parts[2] not in HS_CODES:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not PARCEL:CENTICARATS:HS-CODE (HS codes {sorted(HS_CODES)})"
        )
    return parts[0], int(parts[1]), parts[2]


_PARTICIPANT = re.compile(r"[A-Z]{2,8}")  # DESIGN §2: ISO codes, EU, observers


def _today() -> str:
    return clock.today()


def _urls(args: argparse.Namespace) -> list[str]:
    given = args.node or [u for u in os.environ.get("KP_NODES", "").split(",") if u.strip()]
    urls = [u.strip().rstrip("/") for u in given]
    if not urls:
        raise _UsageError("no node to ask: give --node URL or set KP_NODES")
    if len(urls) > MAX_NODES:
        raise _UsageError(f"at most {MAX_NODES} nodes")
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise _UsageError(f"{url!r} is not an http(s) URL")
    return list(dict.fromkeys(urls))


def _trust(args: argparse.Namespace, *, required: bool) -> bytes | None:
    text = (args.trust or os.environ.get("KP_TRUST", "")).strip().lower()
    if not text:
        if required:
            raise _UsageError("no trust anchor: give --trust GENESIS-HEX or set KP_TRUST")
        return None
    if not _HASH.fullmatch(text):
        raise _UsageError("the trusted genesis is the 64 hex digits of its hash")
    return bytes.fromhex(text)


def _passphrase(env: str | None) -> bytes | None:
    if env is None:
        return None
    value = os.environ.get(env)
    if not value:
        raise _UsageError(f"environment variable {env} is empty")
    return value.encode()


def _member(args: argparse.Namespace) -> Operator | None:
    if args.member is None:
        if args.key_file is not None:
            raise _UsageError("--key-file needs --member LOG:OPERATOR")
        return None
    if args.key_file is None:
        raise _UsageError("--member needs --key-file")
    log, name = args.member
    key = crypto.load_private_key(args.key_file, passphrase=_passphrase(args.passphrase_env))
    return Operator(log, name, key)


# --- nodes ---------------------------------------------------------------------------------------


def _number(text: str, *, alternative: str) -> CertificateNumber:
    """A certificate number as typed; the usage error names the grammar."""
    try:
        return parse_certificate_number(text)
    except LedgerError as exc:
        raise _UsageError(
            f"{text[:128]!r} is neither {alternative} nor a certificate number: "
            f"{CERTIFICATE_NUMBER_GRAMMAR}",
            code=exc.code,
        ) from exc


def _subject_hash(nodes: Nodes, subject: str) -> tuple[str, str | None]:
    """An entry hash as given, or the certificate entry a number stands for (its verdict states
    what became of it). Returns ``(hash, number or None)``, the number as the ledger holds it."""
    text = subject.strip()
    if _HASH.fullmatch(text.lower()):
        return text.lower(), None
    try:
        number = parse_certificate_number(text)
    except LedgerError as exc:
        # What a border officer scanned or typed is no certificate of this ledger: possibly
        # forged, as an unknown number is (exit 4), with the grammar to spot a typo by.
        raise NotOnLedgerError(
            f"{text[:128]!r} is no certificate number or entry hash of the ledger — it may be "
            f"forged ({CERTIFICATE_NUMBER_GRAMMAR})",
            code=exc.code,
        ) from exc
    certificate = nodes.certificate(number)
    return certificate.ref.hash.hex(), certificate.number


# --- submit --------------------------------------------------------------------------------------


def _submit_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    signer = argparse.ArgumentParser(add_help=False, parents=[common])
    signer.add_argument("--key-file", type=Path, required=True, help="the operator's PEM key")
    signer.add_argument("--operator", required=True, help="the operator id, e.g. mine")
    signer.add_argument("--log", required=True, help="the operator's participant, e.g. BW")
    signer.add_argument("--passphrase-env", help="environment variable holding the passphrase")
    signer.add_argument("--wait", choices=("committed", "witnessed"), default="committed")

    submit = commands.add_parser("submit", help="sign and submit a record")
    kinds = submit.add_subparsers(required=True, metavar="TYPE")

    produce = kinds.add_parser("produce", parents=[signer], help="parcel.produce")
    produce.add_argument("parcel", help="the parcel's id, e.g. BW-JW-0001")
    produce.add_argument("--centicarats", type=_bounded(1, 10**12), required=True)
    produce.add_argument("--hs-code", choices=sorted(HS_CODES), required=True)
    produce.add_argument("--produced-on", type=_date_arg, default=None)
    produce.add_argument("--mine", help="the mine operator (default: --operator)")
    produce.add_argument("--holder", help="who holds the parcel (default: the mine)")
    produce.add_argument(
        "--value-usd-cents",
        type=_bounded(0, 2**62),
        help="the production's declared value, sealed (Annex III; optional)",
    )
    produce.set_defaults(handler=_submit, build=_build_produce)

    transform = kinds.add_parser("transform", parents=[signer], help="parcel.transform")
    transform.add_argument("--input", type=_parcel_arg, action="append", required=True)
    transform.add_argument(
        "--output", type=_output_arg, action="append", required=True, metavar="PARCEL:CT100:HS"
    )
    transform.add_argument("--kind", choices=sorted(TRANSFORM_KINDS), required=True)
    transform.set_defaults(handler=_submit, build=_build_transform)

    transfer = kinds.add_parser("transfer", parents=[signer], help="parcel.transfer")
    transfer.add_argument("parcel", type=_parcel_arg, help="LOG:SEQ:HASH[:OUT]")
    transfer.add_argument("--to", required=True, help="the receiving operator")
    transfer.add_argument("--invoice", required=True, help="invoice number (sealed)")
    transfer.set_defaults(handler=_submit, build=_build_transfer)

    certify = kinds.add_parser("certify", parents=[signer], help="certificate.issue")
    certify.add_argument("number", help="certificate number, e.g. BW-2026-0001")
    certify.add_argument("--exporter", required=True, help="the operator holding the parcels")
    certify.add_argument("--importing", required=True, help="the importing participant")
    certify.add_argument("--parcel", type=_parcel_arg, action="append", required=True)
    certify.add_argument("--centicarats", type=_bounded(1, 10**12), help="default: the parcels'")
    certify.add_argument("--hs-code", action="append", help="default: the parcels'")
    certify.add_argument("--origin", action="append", help="default: the parcels'")
    certify.add_argument("--issued-on", type=_date_arg)
    certify.add_argument("--expires-on", type=_date_arg, help="default: 30 days after issue")
    certify.add_argument("--value-usd-cents", type=_bounded(0, 2**62), required=True)
    certify.add_argument("--exporter-name", required=True)
    certify.add_argument("--importer-name", required=True)
    certify.add_argument("--seal-number", required=True)
    certify.set_defaults(handler=_submit, build=_build_certify)

    confirm = kinds.add_parser("confirm", parents=[signer], help="certificate.confirm")
    confirm.add_argument("certificate", help="LOG:SEQ:HASH or the certificate number")
    confirm.add_argument("--received-on", type=_date_arg)
    confirm.add_argument(
        "--parcel", type=_output_arg, action="append", required=True, metavar="PARCEL:CT100:HS"
    )
    confirm.add_argument("--holder", required=True, help="who holds the imported parcels")
    confirm.add_argument("--seal-broken", action="store_true")
    confirm.set_defaults(handler=_submit, build=_build_confirm)

    reject = kinds.add_parser("reject", parents=[signer], help="certificate.reject")
    reject.add_argument("certificate", help="LOG:SEQ:HASH or the certificate number")
    reject.add_argument("--reason", required=True)
    reject.set_defaults(handler=_submit, build=_build_reject)

    void = kinds.add_parser("void", parents=[signer], help="certificate.void")
    void.add_argument("certificate", help="LOG:SEQ:HASH or the certificate number")
    void.add_argument("--reason", required=True)
    void.add_argument("--evidence", type=_entry_arg, required=True, metavar="LOG:SEQ:HASH")
    void.set_defaults(handler=_submit, build=_build_void)


_Built = tuple[SignedRecord, Disclosures, int]  # signed record, disclosures, parcels it creates


def _build_produce(op: Operator, args: argparse.Namespace, nodes: Nodes) -> _Built:
    signed, disclosures = op.produce(
        args.parcel,
        centicarats=args.centicarats,
        hs_code=args.hs_code,
        produced_on=args.produced_on or _today(),
        mine=args.mine,
        holder=args.holder,
        value_usd_cents=args.value_usd_cents,
    )
    return signed, disclosures, 1


def _build_transform(op: Operator, args: argparse.Namespace, nodes: Nodes) -> _Built:
    signed, disclosures = op.transform(args.input, args.output, kind=args.kind)
    return signed, disclosures, len(args.output)


def _build_transfer(op: Operator, args: argparse.Namespace, nodes: Nodes) -> _Built:
    signed, disclosures = op.transfer(args.parcel, args.to, invoice=args.invoice)
    return signed, disclosures, 0


def _build_certify(op: Operator, args: argparse.Namespace, nodes: Nodes) -> _Built:
    centicarats, hs_codes, origins = args.centicarats, args.hs_code, args.origin
    if centicarats is None or not hs_codes or not origins:
        # What the parcels hold, as the node knows them; the rules check it again anyway.
        states = [
            nodes.first(methodcaller("parcel", str(p[0]), int(str(p[1])), int(str(p[3]))))
            for p in args.parcel
        ]
        centicarats = centicarats or sum(s.centicarats for s in states)
        hs_codes = hs_codes or sorted({s.hs_code for s in states})
        origins = origins or sorted({o for s in states for o in s.origins})
    issued = args.issued_on or _today()
    expires = (
        args.expires_on
        or (datetime.date.fromisoformat(issued) + datetime.timedelta(days=30)).isoformat()
    )
    signed, disclosures = op.certify(
        _issued_number(args.number),
        exporter=args.exporter,
        importing=args.importing,
        parcels=args.parcel,
        centicarats=centicarats,
        hs_codes=hs_codes,
        origins=origins,
        issued_on=issued,
        expires_on=expires,
        value_usd_cents=args.value_usd_cents,
        exporter_name=args.exporter_name,
        importer_name=args.importer_name,
        seal_number=args.seal_number,
    )
    return signed, disclosures, 0


def _issued_number(text: str) -> str:
    """The number a new certificate carries: as printed on it (upper case is supplied)."""
    number = _number(text, alternative="a number to issue")
    if CERTIFICATE_NUMBER.fullmatch(number.text) is None:
        raise _UsageError(
            f"{text!r}: a certificate is issued with its number written with single '-' or '/' "
            f"between its groups, e.g. {number.key}",
            code="certificate.number_invalid",
        )
    return number.text


def _certificate_ref(nodes: Nodes, text: str) -> list[Value]:
    if _REF.fullmatch(text):
        return _entry_arg(text)
    found = nodes.certificate(_number(text, alternative="LOG:SEQ:HASH"))
    return found.ref.to_value()


def _build_confirm(op: Operator, args: argparse.Namespace, nodes: Nodes) -> _Built:
    signed, disclosures = op.confirm(
        _certificate_ref(nodes, args.certificate),
        received_on=args.received_on or _today(),
        parcels=args.parcel,
        holder=args.holder,
        seal_intact=not args.seal_broken,
    )
    return signed, disclosures, len(args.parcel)


def _build_reject(op: Operator, args: argparse.Namespace, nodes: Nodes) -> _Built:
    signed, disclosures = op.reject(_certificate_ref(nodes, args.certificate), reason=args.reason)
    return signed, disclosures, 0


def _build_void(op: Operator, args: argparse.Namespace, nodes: Nodes) -> _Built:
    certificate = _certificate_ref(nodes, args.certificate)
    signed, disclosures = op.void(certificate, reason=args.reason, evidence=args.evidence)
    # A void releases each certified parcel as a new output of its own entry (decision 0009).
    digest = bytes(certificate[2]).hex()  # type: ignore[arg-type]
    body = nodes.entry(digest).signed.body
    if not isinstance(body, CertificateIssue):
        raise _UsageError(f"{args.certificate} is no certificate", code="certificate.unknown")
    return signed, disclosures, len(body.parcels)


def _submit(args: argparse.Namespace, out: _Output) -> int:
    """Build and sign the record once, and submit it to its own log's node only; the SDK
    retries a lost answer by resending those bytes, which the node answers with the receipt
    it gave first, so one invocation appends at most one entry."""
    urls = _urls(args)
    key = crypto.load_private_key(args.key_file, passphrase=_passphrase(args.passphrase_env))
    operator = Operator(args.log, args.operator, key)
    with Nodes(urls, timeout=args.timeout) as nodes:
        nodes.own_node(args.log)  # before reading anything to build the record with
        signed, disclosures, created = args.build(operator, args, nodes)
        node, receipt = nodes.submit(signed, disclosures, wait=args.wait)
    entry = f"{receipt.log}:{receipt.seq}:{receipt.entry_hash.hex()}"
    document = {
        "status": "accepted",
        "type": signed.type,
        "node": node,
        "entry_hash": receipt.entry_hash.hex(),
        "log": receipt.log,
        "seq": receipt.seq,
        "ref": entry,
        "witnessed": receipt.witnessed,
        "parcels": [f"{entry}:{out}" for out in range(created)],
    }
    if out.json:
        out.emit(document)
    else:
        table = Table(title=f"{signed.type} accepted by {node}", show_header=False)
        for name in ("entry_hash", "log", "seq", "witnessed"):
            table.add_row(name, str(document[name]))
        for parcel in document["parcels"]:
            table.add_row("parcel", parcel)
        out.console.print(table)
    return EXIT_OK


# --- verify and bundles --------------------------------------------------------------------------


def _read_bounded(path: Path, limit: int) -> bytes:
    with path.open("rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise _UsageError(f"{path} is larger than {limit} bytes")
    return data


def _verify(args: argparse.Namespace, out: _Output) -> int:
    genesis = _trust(args, required=True)
    if genesis is None:  # pragma: no cover - required=True raises instead
        raise _UsageError("no trust anchor")
    if args.bundle is not None:
        return _verify_offline(args, out, genesis)
    if args.subject is None:
        raise _UsageError("give the entry hash or certificate number to verify (or --bundle)")
    urls = _urls(args)
    with Nodes(urls, timeout=args.timeout) as nodes:
        subject, number = _subject_hash(nodes, args.subject)
        depth = DEFAULT_PAGE_DEPTH if args.deep else DEFAULT_DEPTH
        online = verify_online(
            urls,
            subject,
            genesis,
            timeout=args.timeout,
            today=args.date,
            depth=depth,
            deep=args.deep,
        )
        verdict = online.verdict
        if not online.decided:
            raise NodeUnavailableError(f"no node answered of {', '.join(urls)}")
        if any(f.code == "entry.unknown" for f in verdict.findings):
            raise NotOnLedgerError(
                f"no entry with this hash on the ledger — it may be forged: {subject} (asked "
                f"{', '.join(u for u in online.asked if u not in online.unreachable)})",
                code="entry.unknown",
            )
        if any(f.code == "bundle.unavailable" for f in verdict.findings):
            raise _UndecidedError(f"no node served the provenance of {subject}")
        bundle: Bundle | None = None  # a deep verdict spans bundles: its chain in time order
        if not args.deep:
            try:
                bundle = nodes.first(lambda c: c.provenance(subject, depth))
            except (ClientError, BundleError):
                bundle = None  # the tree then lists the chain in time order
    for url in online.unreachable:
        out.warn(f"{url} did not answer; it decided nothing")
    if args.deep and verdict.seeds:
        out.warn(
            f"--deep stopped after {online.pages} bundles: the history behind "
            f"{len(verdict.seeds)} parcels was not replayed (see the notes)"
        )
    extra: dict[str, Any] = {
        "mode": "online",
        "asked": list(online.asked),
        "unreachable": list(online.unreachable),
    }
    if args.deep:
        extra["pages"] = online.pages
    return _show_verdict(out, verdict, bundle, number, extra)


def _verify_offline(args: argparse.Namespace, out: _Output, genesis: bytes) -> int:
    data = _read_bounded(args.bundle, MAX_BUNDLE_BYTES)
    try:
        bundle: Bundle | None = Bundle.parse(data)
    except BundleError:
        bundle = None  # the verdict says why, from the same bytes
    verdict = check_bundle(data if bundle is None else bundle, genesis, today=args.date)
    if args.deep and verdict.seeds:
        out.warn(
            "--deep: this bundle replays its last steps only; export one with --depth all to "
            "replay the whole chain"
        )
    number = None
    if args.subject is not None:
        wanted = args.subject.strip()
        if _HASH.fullmatch(wanted.lower()):
            if verdict.subject != wanted.lower():
                verdict = _with_finding(
                    verdict, "bundle.other_subject", f"the bundle is of {verdict.subject}"
                )
        else:
            key = _number(wanted, alternative="an entry hash").key
            number = next(
                (s.certificate for s in verdict.chain if _same_number(s.certificate, key)), None
            )
            if number is None:
                number = wanted
                verdict = _with_finding(
                    verdict, "bundle.other_subject", f"certificate {wanted} is not in the chain"
                )
    return _show_verdict(out, verdict, bundle, number, {"mode": "offline"})


def _same_number(number: str | None, key: str) -> bool:
    try:
        return number is not None and certificate_number_key(number) == key
    except LedgerError:  # a number in a bundle that does not verify
        return False


def _with_finding(verdict: Verdict, code: str, detail: str) -> Verdict:
    return replace(verdict, findings=(*verdict.findings, Finding(code, detail)))


def _exit_code(verdict: Verdict) -> int:
    """0 VALID (a usable certificate, or a valid entry that is none), 1 INVALID, 3 a valid
    certificate that may not be accepted now: confirmed, rejected, voided or expired."""
    if not verdict.valid:
        return EXIT_INVALID
    status = verdict.certificate
    if status is not None and status.entry == verdict.subject and not status.usable:
        return EXIT_NOT_USABLE
    return EXIT_OK


def _show_verdict(
    out: _Output,
    verdict: Verdict,
    bundle: Bundle | None,
    number: str | None,
    extra: dict[str, Any],
) -> int:
    code = _exit_code(verdict)
    if out.json:
        document = verdict.to_json()
        document.update(extra)
        document["exit_code"] = code
        if number is not None:
            document["number"] = number
        out.emit(document)
        return code
    style = {EXIT_OK: "bold green", EXIT_NOT_USABLE: "bold yellow"}.get(code, "bold red")
    out.console.print(verdict.headline, style=style, markup=False)
    out.console.print(f"entry {verdict.subject}  (network {verdict.network})", markup=False)
    status = verdict.certificate
    if status is not None:
        out.console.print(
            f"certificate {status.number}: {status.issuer} to {status.importing}, issued "
            f"{status.issued_on}, expires {status.expires_on}; status {status.state}"
            + (f", proven by entry {status.decided_by}" if status.decided_by else "")
            + (
                f"; as of {status.as_of} ("
                + ", ".join(f"{log} at size {size}" for log, size in status.as_of_sizes)
                + ")"
                if status.as_of
                else ""
            ),
            markup=False,
        )
    if verdict.origins:
        out.console.print(f"mining origins: {', '.join(verdict.origins)}", markup=False)
    out.console.print(verdict.replayed_summary, markup=False)
    if verdict.chain:
        out.console.print(_chain_tree(verdict, bundle))
    if verdict.findings:
        table = Table(title="findings")
        for column in ("code", "where", "detail"):
            table.add_column(column)
        for f in verdict.findings:
            table.add_row(f.code, _where(f), f.detail)
        out.console.print(table)
    for note in verdict.notes:
        out.console.print(f"note {note.code} at {_where(note)}: {note.detail}", markup=False)
    return code


def _where(finding: Finding) -> str:
    if finding.log is None:
        return ""
    return finding.log + ("" if finding.seq is None else f"/{finding.seq}")


def _step_label(step: Step) -> str:
    parts = [step.date, step.log, step.type]
    if step.certificate:
        parts.append(step.certificate)
    if step.status:
        parts.append(step.status.upper())
    parts.append(_carats(step.centicarats))
    if step.origins:
        parts.append(f"origins {','.join(step.origins)}")
    parts.append(f"{step.witnesses} witnesses")
    parts.append(f"{step.log}/{step.seq} {step.hash[:12]}")
    return "  ".join(parts)


def _seed_label(seed: SeededParcel) -> str:
    return "  ".join(
        (
            "seeded",
            seed.log,
            seed.parcel,
            _carats(seed.centicarats),
            f"origins {','.join(seed.origins)}",
            "history rests on the witnesses",
            f"{seed.log}/{seed.seq}/{seed.out} {seed.hash[:12]}",
        )
    )


def _sources(bundle: Bundle | None) -> dict[str, list[str]]:
    """For each entry of a bundle, the entries it draws its parcels or certificate from."""
    edges: dict[str, list[str]] = {}
    for item in () if bundle is None else bundle.entries:
        try:
            body = Entry.parse(item.entry).signed.body
        except LedgerError:
            continue
        if isinstance(body, ParcelTransform):
            refs = [p.hash for p in body.inputs]
        elif isinstance(body, CertificateIssue):
            refs = [p.hash for p in body.parcels]
        elif isinstance(body, ParcelTransfer):
            refs = [body.parcel.hash]
        elif isinstance(body, CertificateConfirm | CertificateReject | CertificateVoid):
            refs = [body.certificate.hash]
        else:
            continue
        edges[item.hash.hex()] = list(dict.fromkeys(r.hex() for r in refs))
    return edges


def _chain_tree(verdict: Verdict, bundle: Bundle | None) -> Tree:
    """The chain as a tree: the subject at the root, what it came from below it, the mines at
    the leaves. Without the bundle's links, the steps in time order."""
    steps = {s.hash: s for s in verdict.chain}
    edges = _sources(bundle)
    seeded: dict[str, list[SeededParcel]] = {}
    for seed in verdict.seeds:
        seeded.setdefault(seed.hash, []).append(seed)
    root_step = steps.get(verdict.subject)
    if root_step is None or not edges:
        tree = Tree("chain, mines first")
        for step in verdict.chain:
            tree.add(_step_label(step))
        return tree
    tree = Tree(_step_label(root_step))

    def grow(branch: Tree, entry: str, path: frozenset[str]) -> None:
        for source in edges.get(entry, []):
            if source in path or len(path) > MAX_TRACE_DEPTH:
                continue
            step = steps.get(source)
            if step is None and source in seeded:  # where a bounded bundle starts
                for seed in seeded[source]:
                    branch.add(_seed_label(seed))
                continue
            if step is None:  # a transfer: show what it moved instead
                grow(branch, source, path | {source})
                continue
            grow(branch.add(_step_label(step)), source, path | {source})

    grow(tree, verdict.subject, frozenset({verdict.subject}))
    return tree


def _bundle_export(args: argparse.Namespace, out: _Output) -> int:
    urls = _urls(args)
    with Nodes(urls, timeout=args.timeout) as nodes:
        subject, number = _subject_hash(nodes, args.subject)
        try:
            bundle = nodes.first(lambda c: c.provenance(subject, args.depth))
        except ProblemError as exc:
            raise _UndecidedError(f"no node served the provenance of {subject}: {exc}") from exc
        source = nodes.answered
    temporary = args.output.with_name(args.output.name + ".tmp")
    temporary.write_text(json.dumps(bundle.to_json(), indent=2))
    temporary.replace(args.output)
    document = {
        "status": "written",
        "subject": subject,
        "certificate": number,
        "file": str(args.output),
        "node": source,
        "entries": len(bundle.entries),
        "depth": depth_text(bundle.depth),
        "seeds": len(bundle.seeds),
    }
    if out.json:
        out.emit(document)
    else:
        out.console.print(
            f"wrote the bundle of {subject} ({document['entries']} entries, depth "
            f"{document['depth']}, {_count(len(bundle.seeds), 'seeded parcel')}, from {source}) "
            f"to {args.output}",
            markup=False,
        )
    return EXIT_OK


# --- trace ---------------------------------------------------------------------------------------


def _trace(args: argparse.Namespace, out: _Output) -> int:
    urls = _urls(args)
    if (args.parcel is None) == (args.cursor is None):
        raise _UsageError("give the parcel to trace, LOG:SEQ:HASH:OUT, or --from CURSOR")
    start = (
        [ParcelRef(*args.parcel)]
        if args.parcel is not None
        else parse_cursor(args.cursor, max_parcels=MAX_TRACE_PARCELS)
    )
    with Nodes(urls, timeout=args.timeout) as nodes:
        try:
            traced = trace_from(
                nodes, start, max_depth=args.max_depth, max_parcels=args.max_parcels
            )
        except ProblemError as exc:
            raise _UndecidedError(f"no node could follow the parcel: {exc}") from exc
    more = (
        f"… {len(traced.cursor)} parcels not followed yet (--max-depth {args.max_depth}, "
        f"--max-parcels {args.max_parcels}): kp trace --from {cursor_text(traced.cursor)}"
    )
    if out.json:
        if traced.truncated:
            out.warn(more)
        out.emit(traced.to_json())
        return EXIT_OK
    for root in traced.roots:
        tree = Tree(_parcel_label(root))
        _grow_trace(tree, root)
        out.console.print(tree)
    if traced.truncated:
        out.console.print(more, markup=False, soft_wrap=True)
    return EXIT_OK


def _parcel_label(parcel: TracedParcel) -> str:
    state = "live" if parcel.live else "consumed"
    ref = parcel.ref
    return (
        f"{parcel.parcel}  {_carats(parcel.centicarats)}  {parcel.hs_code}  "
        f"origins {','.join(parcel.origins)}  held by {parcel.holder}  ({state})  "
        f"{ref.log}/{ref.seq}/{ref.out} {ref.hash.hex()[:12]}"
    )


def _grow_trace(branch: Tree, parcel: TracedParcel) -> None:
    step = parcel.next
    if step is None:
        if parcel.truncated:
            branch.add("… not followed yet (in the cursor)")
        return
    label = f"{step.date}  {step.type}"
    if step.kind is not None:
        label += f" ({step.kind})"
    if step.certificate is not None:
        label += f"  {step.certificate} to {step.importing}: {step.status}"
    node = branch.add(label)
    for child in step.parcels:
        _grow_trace(node.add(_parcel_label(child)), child)
    for ref in step.unfollowed:
        node.add(
            f"… {ref.log}/{ref.seq}/{ref.out} {ref.hash.hex()[:12]} not read yet (in the cursor)"
        )


# --- audit ---------------------------------------------------------------------------------------


def _download_ledger(
    nodes: Nodes, selected: list[str] | None, trust: bytes | None, out: _Output
) -> DownloadedLedger:
    """``download_ledger`` with its progress on stderr, its refusals as kp's exit-2 errors."""
    with out.progress() as bar:
        try:
            return download_ledger(nodes, selected, trust, on_progress=_tasks(bar))
        except UndecidedError as exc:
            if exc.code == "audit.too_large":
                raise _UsageError(exc.message) from exc
            raise _UndecidedError(exc.message) from exc


def _tasks(bar: Progress) -> OnProgress:
    """One bar per task the library names (``download BW``, ``replay``)."""
    tasks: dict[str, TaskID] = {}

    def update(task: str, done: int, total: int) -> None:
        if task not in tasks:
            tasks[task] = bar.add_task(task, total=total)
        bar.update(tasks[task], completed=done)

    return update


def _audit(args: argparse.Namespace, out: _Output) -> int:
    urls = _urls(args)
    trust = _trust(args, required=False)
    member = _member(args)
    with Nodes(urls, timeout=args.timeout) as nodes:
        ledger = _download_ledger(nodes, None if args.all or not args.log else args.log, trust, out)
        compared = cross_examine(nodes, ledger, on_warning=out.warn)
    if trust is None:
        out.warn(f"no --trust: the genesis {ledger.genesis} is the one {ledger.primary} serves")
    findings = [*ledger.problems(), *compared]
    custody = custody_of(ledger.replay, member.log, member.name) if member else []
    invoices: dict[str, Value] = {}
    read = DisclosedValues("invoice", {}, {})
    if member is not None:
        transfers = sorted(
            {
                e.entry.hash.hex()
                for parcel in custody
                for e in parcel.events
                if e.type == "parcel.transfer"
            }
        )
        read = read_disclosed(
            urls, args.timeout, member, transfers, "invoice", ledger.replay, on_warning=out.warn
        )
        invoices = read.values
        _warn_unread(out, read)
    report = AuditReport(
        network=ledger.network,
        genesis=ledger.genesis,
        nodes=tuple(urls),
        logs=tuple(ledger.checks),
        entries=sum(len(e) for e in ledger.entries.values()),
        accepted=len(ledger.replay.accepted),
        findings=tuple(findings),
        custody=tuple(custody),
        member=f"{member.log}:{member.name}" if member else None,
        notes=tuple(history_notes(ledger.replay)),
    )
    document = report.to_json()
    if member is not None:
        document["invoices"] = invoices  # sealed: only what this member could read
        document["unread"] = read.to_json()
    if args.report is not None:
        _write_atomically(args.report, json.dumps(document, indent=2) + "\n")
    if args.csv is not None:
        temporary = args.csv.with_name(args.csv.name + ".tmp")
        with temporary.open("w", newline="") as f:
            csv.writer(f).writerows(finding_rows(findings))
        temporary.replace(args.csv)
    if out.json:
        out.emit(document)
    else:
        _show_audit(out, report)
    return EXIT_OK if report.passed else EXIT_INVALID


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    temporary.replace(path)


def _show_audit(out: _Output, report: AuditReport) -> None:
    table = Table(title=f"audit of {report.network} ({report.genesis[:16]}…)")
    for column in ("log", "entries", "root", "witnesses", "findings"):
        table.add_column(column)
    for check in report.logs:
        table.add_row(
            check.log,
            str(check.size),
            check.root.hex()[:16],
            str(check.witnesses),
            str(sum(1 for f in report.findings if f.log == check.log)),
        )
    out.console.print(table)
    verdict = "[bold green]PASS[/]" if report.passed else "[bold red]FAIL[/]"
    out.console.print(f"{verdict}  {report.accepted} of {report.entries} entries replayed")
    if report.findings:
        findings = Table(title="findings")
        for column in ("log", "seq", "code", "detail"):
            findings.add_column(column)
        for row in finding_rows(report.findings)[1:]:
            findings.add_row(*row)
        out.console.print(findings)
    if report.notes:
        notes_table = Table(title="notes (valid history a reader must know of)")
        for column in ("log", "seq", "code", "detail"):
            notes_table.add_column(column)
        for row in finding_rows(report.notes)[1:]:
            notes_table.add_row(*row)
        out.console.print(notes_table)
    if report.member is not None:
        tree = Tree(f"parcels {report.member} held")
        for parcel in report.custody:
            branch = tree.add(
                f"{parcel.parcel}  {_carats(parcel.centicarats)}  {parcel.hs_code}  "
                f"origins {','.join(parcel.origins)}"
            )
            for event in parcel.events:
                branch.add(f"{event.date}  {event.type}  {event.event}  → {event.holder}")
        out.console.print(tree)


# --- stats ---------------------------------------------------------------------------------------


def _stats(args: argparse.Namespace, out: _Output) -> int:
    try:
        period = parse_period(
            quarter=args.quarter, half=args.half, year=args.year, start=args.start, end=args.end
        )
    except PeriodError as exc:
        raise _UsageError(str(exc)) from exc
    for participant in args.participant:
        if not _PARTICIPANT.fullmatch(participant):
            raise _UsageError(f"{participant[:20]!r} is not a participant id")
    urls = _urls(args)
    trust = _trust(args, required=False)
    member = _member(args)
    findings: list[dict[str, Any]] = []
    source: dict[str, Any]
    values: dict[str, int] = {}
    read: DisclosedValues | None = None
    if args.replay or member is not None:
        # Values are checked against the commitments in the entries, which only the replay
        # holds; reading them is the member's business, so the member's path replays.
        with Nodes(urls, timeout=args.timeout) as nodes:
            ledger = _download_ledger(nodes, None, trust, out)
        problems = ledger.problems()
        for problem in problems:
            out.warn(f"the ledger does not replay cleanly: {problem.code}: {problem.detail}")
        findings = [
            {"code": f.code, "detail": f.detail, "log": f.log, "seq": f.seq} for f in problems
        ]
        moves = replayed_movements(ledger.replay.accepted, ledger.replay.state)
        network, tolerance = ledger.network, ledger.charter.policy.mass_tolerance_ppm
        source = {"replay": True}
        if member is not None:
            # Certificates' values, and the member's own productions' where declared: only
            # its own participant may read those (decision 0045), so others' are not asked.
            wanted = sorted(
                {
                    value_key(m)
                    for m in moves
                    if m.kind in ("export", "import")
                    or (m.kind == "production" and m.valued and m.participant == member.log)
                }
            )
            read = read_disclosed(
                urls,
                args.timeout,
                member,
                wanted,
                "value_usd_cents",
                ledger.replay,
                on_warning=out.warn,
            )
            values = {h: v for h, v in read.values.items() if isinstance(v, int)}
            _warn_unread(out, read)
    else:
        with Nodes(urls, timeout=args.timeout) as nodes:
            info = nodes.first(methodcaller("network"))
            if trust is not None and info.genesis != trust:
                raise _UsageError(
                    f"{nodes.answered} serves the network {info.genesis.hex()}, not the trusted one"
                )
            fetched = fetch_movements(nodes, on_warning=out.warn)
        for finding in fetched.findings:
            out.warn(f"{finding.code}: {finding.detail}")
        findings = [
            {"code": f.code, "detail": f.detail, "log": f.log, "seq": f.seq}
            for f in fetched.findings
        ]
        moves = list(fetched.rows)
        network, tolerance = info.network, int(info.policy.get("mass_tolerance_ppm", 0))
        source = {"replay": False, **fetched.to_json()}
    statistics = compute_statistics(
        moves,
        period,
        today=_today(),
        values=values,
        tolerance_ppm=tolerance,
        participants=args.participant,
        thresholds=Thresholds(
            change_percent=args.change_percent,
            unit_value_factor=args.unit_value_factor,
            late_days=args.late_days,
        ),
    )
    tables = statistics.tables()
    if args.csv is not None:
        write_csv(tables, args.csv)
    if args.xlsx is not None:
        write_xlsx(tables, args.xlsx)
    document = statistics.to_json()
    document["network"] = network
    document["source"] = source
    document["member"] = f"{member.log}:{member.name}" if member else None
    if read is not None:
        document["unread"] = read.to_json()  # what the policy did not give this member
    document["findings"] = findings
    if out.json:
        document["tables"] = [t.to_json() for t in tables]
        out.emit(document)
    else:
        _show_stats(out, tables)
    return EXIT_OK if not statistics.anomalies and not findings else EXIT_INVALID


def _warn_unread(out: _Output, read: DisclosedValues) -> None:
    """Say, per participant, how many values stayed sealed to the member, and why."""
    for log, codes in sorted(read.unread.items()):
        why = ", ".join(f"{n} {code}" for code, n in sorted(codes.items()))
        out.warn(f"{read.field} of {sum(codes.values())} entries of {log} not read: {why}")


# --- report --------------------------------------------------------------------------------------

_REPORT_FORMATS = {".pdf": "pdf", ".html": "html", ".htm": "html", ".json": "json"}
_REPORTS_EXTRA = "pip install 'kp-ledger[reports]'"


def _report_annual(args: argparse.Namespace, out: _Output) -> int:
    from client.report import build_report
    from client.report_inputs import from_index, from_replay, parse_at

    kind = _REPORT_FORMATS.get(args.output.suffix.lower())
    if kind is None:
        raise _UsageError(f"-o {args.output}: the report is written as .pdf, .html or .json")
    writer = _report_writer(kind)
    if not _PARTICIPANT.fullmatch(args.participant):
        raise _UsageError(f"{args.participant[:20]!r} is not a participant id")
    try:
        period = parse_period(year=args.year, half=args.half, quarter=args.quarter)
    except PeriodError as exc:
        raise _UsageError(str(exc)) from exc
    at: dict[str, tuple[int, bytes | None]] = {}
    for text in args.at:
        try:
            log, size, root = parse_at(text)
        except ValueError as exc:
            raise _UsageError(f"--at: {exc}") from exc
        at[log] = (size, root)
    if at and not args.replay:
        raise _UsageError("--at recomputes from the logs themselves: add --replay")
    as_of = args.as_of or min(_today(), period.end)
    urls = _urls(args)
    trust = _trust(args, required=False)
    with Nodes(urls, timeout=args.timeout) as nodes:
        if args.replay:
            inputs = from_replay(_download_ledger(nodes, None, trust, out), at or None)
        else:
            inputs = from_index(nodes, trust, on_warning=out.warn)
    for finding in inputs.findings:
        out.warn(f"{finding.code}: {finding.detail}")
    report = build_report(
        inputs.moves,
        participant=args.participant,
        period=period,
        as_of=as_of,
        checkpoints=inputs.checkpoints,
        network=inputs.network,
        source=inputs.source,
        tolerance_ppm=inputs.tolerance_ppm,
        thresholds=Thresholds(
            change_percent=args.change_percent,
            unit_value_factor=args.unit_value_factor,
            late_days=args.late_days,
        ),
    )
    findings = [
        {"code": f.code, "detail": f.detail, "log": f.log, "seq": f.seq} for f in inputs.findings
    ]
    del inputs  # every movement of the ledger: let go before the charts are drawn
    written = writer(report, args.output)
    if out.json:
        out.emit({"written": [str(p) for p in written], "findings": findings, **report.to_json()})
    else:
        out.console.print(f"{report.title}: wrote {args.output}", markup=False)
        for path in written[1:]:
            out.console.print(f"  and {path}", markup=False)
        out.console.print(
            f"{len(report.anomalies)} anomalies; counted {len(report.checkpoints)} logs at "
            f"their checkpoints, as of {report.as_of}",
            markup=False,
        )
        out.console.print(f"recompute: {report.command}", markup=False)
    return EXIT_INVALID if findings else EXIT_OK


def _report_writer(kind: str) -> Callable[[Any, Path], list[Path]]:
    """The function that writes the report as ``kind``. PDF and HTML need the reports extra:
    whether it is installed is asked before any node is (without loading it: the libraries are
    loaded once the figures are computed and the movements let go, to keep the peak low), and
    its absence said with the command that installs it."""
    if kind == "json":

        def write_json(report: Any, target: Path) -> list[Path]:
            target.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
            return [target]

        return write_json
    for library in ("matplotlib", "jinja2", *(("fpdf",) if kind == "pdf" else ())):
        try:
            found = importlib.util.find_spec(library) is not None
        except ValueError:  # in sys.modules as None: made unimportable
            found = False
        if not found:
            raise _UsageError(
                f"a {kind.upper()} report needs the reports extra ({library} is not installed): "
                f"{_REPORTS_EXTRA}"
            )

    def write(report: Any, target: Path) -> list[Path]:
        if kind == "pdf":
            from client.report_pdf import write_pdf

            return write_pdf(report, target)
        from client.report_html import write_html

        return write_html(report, target)

    return write


# --- disclosures ---------------------------------------------------------------------------------


def _disclosure_access(args: argparse.Namespace, out: _Output) -> int:
    member = _member(args)
    if member is None:
        raise _UsageError("kp disclosures access needs --member LOG:OPERATOR --key-file PEM")
    with Nodes(_urls(args), timeout=args.timeout, auth=member.auth()) as nodes:
        page = nodes.first(methodcaller("disclosure_access", after=args.after, limit=args.limit))
        url = nodes.answered
    document = {
        "node": url,
        "log": page.log,
        "after": page.after,
        "next": page.next,
        "records": [
            {
                "n": r.n,
                "time": r.time,
                "key_id": r.key_id,
                "entry_hash": r.entry_hash.hex(),
                "seq": r.seq,
                "fields": dict(r.fields),
                "allowed": r.allowed,
            }
            for r in page.records
        ],
    }
    if out.json:
        out.emit(document)
        return EXIT_OK
    table = Table(title=f"reads of {page.log}'s disclosures on {url}")
    for column in ("n", "when (UTC)", "who", "entry", "given", "refused"):
        table.add_column(column)
    for r in page.records:
        when = datetime.datetime.fromtimestamp(r.time / 1000, datetime.UTC)
        given = sorted(f for f, code in r.fields.items() if code == "disclosure.allowed")
        refused = sorted(f"{f} ({c})" for f, c in r.fields.items() if c != "disclosure.allowed")
        table.add_row(
            str(r.n),
            when.strftime("%Y-%m-%d %H:%M:%S"),
            r.key_id,
            f"{page.log}:{r.seq}:{r.entry_hash.hex()}",
            ", ".join(given) or "-",
            ", ".join(refused) or "-",
        )
    out.console.print(table)
    if page.records:
        out.console.print(f"more with --after {page.next}", markup=False)
    return EXIT_OK


# --- certificate ---------------------------------------------------------------------------------


def _certificate_pdf(args: argparse.Namespace, out: _Output) -> int:
    # Here, not at the top: fpdf2 and the imaging libraries under it take about half a second
    # to import, which no other command should pay.
    from client.document import DOCUMENT_FIELDS, read_document, render_certificate

    member = _member(args)
    urls = _urls(args)
    auth = None if member is None else member.auth()
    with Nodes(urls, timeout=args.timeout, auth=auth) as nodes:
        subject, _ = _subject_hash(nodes, args.subject)
        document, sealed = read_document(
            nodes,
            subject,
            base_url=urls[0],
            today=_today(),
            genesis=_trust(args, required=False),
            disclose=member is not None,
        )
    body = render_certificate(document)
    temporary = args.output.with_name(args.output.name + ".tmp")
    temporary.write_bytes(body)
    temporary.replace(args.output)
    for name, code in sealed.items():
        out.warn(f"{name} stays sealed: {code}")
    result = {
        "status": "written",
        "certificate": document.certificate.number,
        "entry_hash": document.entry_hash.hex(),
        "certificate_status": document.status,
        "file": str(args.output),
        "bytes": len(body),
        "url": document.url,
        "disclosed": sorted(document.disclosed),
        "sealed": sorted(DOCUMENT_FIELDS - document.disclosed.keys()),
        "refused": sealed,
    }
    if out.json:
        out.emit(result)
    else:
        out.console.print(
            f"wrote certificate {result['certificate']} ({document.status}, {len(body):,} "
            f"bytes) to {args.output}; its QR code: {document.url}",
            markup=False,
        )
    return EXIT_OK


def _show_stats(out: _Output, tables: list[StatTable]) -> None:
    """Every table that has rows, as the model lays it out (client/stats.py ``StatTable``)."""
    for stat_table in tables:
        if not stat_table.rows:
            continue
        table = Table(title=stat_table.title)
        for column in stat_table.columns:
            numeric = column.kind in ("centicarats", "usd_cents", "count")
            table.add_column(column.name, justify="right" if numeric else "left")
        for row in stat_table.rows:
            table.add_row(*(_stat_cell(c, v) for c, v in zip(stat_table.columns, row, strict=True)))
        out.console.print(table)


def _stat_cell(column: Column, cell: Any) -> str:
    if column.kind == "usd_cents":
        return "sealed" if cell is None else f"${cell / 100:,.2f}"
    if column.kind == "centicarats":
        return f"{cell / 100:,.2f}"
    if column.kind == "entries":
        shown = [h[:16] for h in cell[:3]]
        return " ".join(shown) + (f" and {len(cell) - 3} more" if len(cell) > 3 else "")
    return escape(str(cell))


if __name__ == "__main__":
    sys.exit(main())
