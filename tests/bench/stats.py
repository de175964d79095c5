"""KP statistics over a year of records: ``kp stats`` from the statistics index against the
full replay it replaced (issue 18, decision 0045).

Run: ``.venv/bin/python -m tests.bench.stats [--certificates 2000 20000] [--port 8720]``

**Setup.** A devnet ``BW,CA,EU,AE,IN`` is created (``node.dev.devnet.devnet_create``: data
directories, keys, genesis, each node's own log adopted and its operators registered). The
year's records are then appended **straight into a real LMDB store** rather than over HTTP: the
initial logs are replicated into one store with ``replica.extend``, and each participant's
records go through a ``Sequencer`` on that store with the participant's own log key, the real
rules (``RuleCheck``, which also keeps the statistics index) and the real envelopes, signed
with the operators' keys ``devnet_create`` wrote. Over HTTP, every record would also be
re-validated by four replicas; on this 2-core machine that setup, not the statistics, would
take most of the time budget. The store is then copied (LMDB's compacting copy) into every
node's data directory, so all five nodes hold the same five logs, as replication would leave
them, and the five ``kp-node run`` processes are started on loopback.

**The year.** For each certificate the exporter (BW, CA, AE or IN in turn) produces a parcel
and certifies it to the next participant, which confirms it the same day: three records a
certificate; every tenth certificate carries two parcels of two HS codes (7102.21 and
7102.31), one more production. The entries' clock runs through 2027 (the year after the devnet
was made, so every entry is later than the setup entries).

**Measured**, for each size: the append time of the records with the index and without it
(the same rules, the index write left out: what the index adds to the append path); the time
and peak RSS of ``kp stats --year 2027 --json`` (the index, cross-checked with a second node),
and of ``kp stats --year 2027 --replay --json`` (the full download and replay, what ``kp stats``
did before); and whether the two give the same tables. The ratios between the sizes are
printed, with the issue's targets: at 20,000 certificates ≤ 3 s and ≤ 150 MB, and 10× the
records ≤ 10× the time. Every node started here is stopped, whatever happens.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from client.sdk import Operator
from node.core import crypto, rules
from node.core.charter import SignedCharter
from node.core.clock import utc_date
from node.core.notes import SignedCheckpoint
from node.core.records import Entry, SignedRecord
from node.core.sealing import encode_disclosures
from node.core.state import LedgerState
from node.dev.devnet import devnet_create
from node.engine.datadir import DataDir
from node.engine.replica import extend
from node.engine.sequencer import EnvelopeSeal, RuleCheck, Sequencer, Submission
from node.engine.statistics import ensure_index
from node.engine.store import Store, StoreWriter

PARTICIPANTS = ("BW", "CA", "EU", "AE", "IN")
EXPORTERS = ("BW", "CA", "AE", "IN")  # the Union has no mines of its own
YEAR = 2027
CODES = ("7102.10", "7102.21", "7102.31")


class RulesWithoutIndex(RuleCheck):
    """``RuleCheck`` with the statistics index left out: the append path before it."""

    def __call__(self, store: StoreWriter, entry: Entry, entry_hash: bytes) -> None:
        state = LedgerState(store, store)
        state.apply(entry.signed.log, rules.check(state, entry, entry_hash))


@dataclass
class Figures:
    certificates: int
    records: int = 0
    append_indexed: float = 0.0
    append_plain: float = 0.0
    index_seconds: float = 0.0
    index_mb: float = 0.0
    replay_seconds: float = 0.0
    replay_mb: float = 0.0
    same_tables: bool = False
    report_pdf_seconds: float = 0.0
    report_pdf_mb: float = 0.0
    report_html_seconds: float = 0.0
    report_html_mb: float = 0.0


def _operators(root: Path, member: str) -> dict[str, Operator]:
    keys = root / member / "operators"
    return {
        p.stem: Operator(member, p.stem, crypto.load_private_key(p))
        for p in sorted(keys.glob("*.pem"))
    }


def _master(root: Path, directory: Path) -> Store:
    """One store holding every participant's setup log, each re-validated into it."""
    genesis = SignedCharter.parse((root / "genesis.charter").read_bytes())
    store = Store.open(directory)
    with store.write() as writer:
        LedgerState(writer, writer).put_charter(genesis)
    for member in PARTICIPANTS:
        own = Store.open(DataDir(root / member).store_path)
        try:
            with own.read() as reader:
                log = reader.log(member)
                latest = log.latest_checkpoint()
                assert latest is not None
                size, note = latest
                entries = list(log.entries(0, size))
        finally:
            own.close()
        with store.write() as writer:
            extend(writer, member, SignedCheckpoint.parse(note), entries)
    ensure_index(store)
    return store


def _sequencers(
    root: Path, store: Store, validate: RuleCheck, clock: list[int]
) -> dict[str, Sequencer]:
    network = json.loads((root / "description.json").read_text())["network"]
    genesis = SignedCharter.parse((root / "genesis.charter").read_bytes())
    return {
        member: Sequencer(
            store,
            log=member,
            origin=f"{network}/{member}",
            log_key=DataDir(root / member).key("log"),
            genesis=genesis.hash,
            validate=validate,
            clock=lambda: clock[0],
            seal=EnvelopeSeal(member),
        )
        for member in PARTICIPANTS
    }


def _append(sequencer: Sequencer, items: list[tuple[SignedRecord, Any]]) -> list[Any]:
    receipts = sequencer.append_batch(
        [Submission(s.raw, encode_disclosures(d) if d else None, parsed=s) for s, d in items]
    )
    for receipt in receipts:
        if isinstance(receipt, Exception):
            raise receipt
    return receipts


def build_year(
    root: Path, store: Store, certificates: int, validate: RuleCheck
) -> tuple[int, float]:
    """Append the year's records into ``store``; return how many and the seconds it took."""
    clock = [int(datetime.datetime(YEAR, 1, 1, 8, tzinfo=datetime.UTC).timestamp() * 1000)]
    sequencers = _sequencers(root, store, validate, clock)
    operators = {m: _operators(root, m) for m in PARTICIPANTS}
    per_day = -(-certificates // 365)
    records = 0
    started = time.monotonic()
    made = 0
    day = 0
    while made < certificates:
        clock[0] += 3_600_000  # an hour, so the day's entries share its date
        today = utc_date(clock[0])
        batch = list(range(made, min(certificates, made + per_day)))
        produced: dict[str, list[tuple[int, int, str, int]]] = {m: [] for m in EXPORTERS}
        plan: dict[int, list[tuple[int, str]]] = {}
        for n in batch:
            exporter = EXPORTERS[n % len(EXPORTERS)]
            parcels = [(10_000 + n % 5_000, CODES[n % 2])]
            if n % 10 == 0:
                parcels = [(7_000 + n % 3_000, "7102.21"), (3_000 + n % 1_000, "7102.31")]
            plan[n] = parcels
            for mass, code in parcels:
                produced[exporter].append((n, mass, code, len(produced[exporter])))
        refs: dict[int, list[list[Any]]] = {n: [] for n in batch}
        for exporter, lots in produced.items():
            if not lots:
                continue
            mine = operators[exporter]["officer"]
            items = [
                mine.produce(
                    f"{exporter}-{YEAR}-{n}-{i}",
                    centicarats=mass,
                    hs_code=code,
                    produced_on=today,
                    mine="mine",
                    holder="officer",
                )
                for i, (n, mass, code, _) in enumerate(lots)
            ]
            for (n, _, _, _), receipt in zip(
                lots, _append(sequencers[exporter], items), strict=True
            ):
                refs[n].append([exporter, receipt.seq, receipt.entry_hash, 0])
            records += len(items)
        clock[0] += 3_600_000
        issued: dict[str, list[tuple[int, str]]] = {m: [] for m in PARTICIPANTS}
        for exporter in EXPORTERS:
            mine = [n for n in batch if EXPORTERS[n % len(EXPORTERS)] == exporter]
            if not mine:
                continue
            officer = operators[exporter]["officer"]
            items = []
            for n in mine:
                importing = PARTICIPANTS[(PARTICIPANTS.index(exporter) + 1 + n % 4) % 5]
                mass = sum(m for m, _ in plan[n])
                items.append(
                    officer.certify(
                        f"{exporter}-{YEAR}-{n:06d}",
                        exporter="officer",
                        importing=importing,
                        parcels=refs[n],
                        centicarats=mass,
                        hs_codes=sorted({c for _, c in plan[n]}),
                        origins=[exporter],
                        issued_on=today,
                        expires_on=(
                            datetime.date.fromisoformat(today) + datetime.timedelta(days=30)
                        ).isoformat(),
                        value_usd_cents=mass * (10_000 + n % 7 * 1_000),
                        exporter_name=f"{exporter} exporter",
                        importer_name=f"{importing} importer",
                        seal_number=f"S{n}",
                    )
                )
                issued[importing].append((n, exporter))
            for n, receipt in zip(mine, _append(sequencers[exporter], items), strict=True):
                refs[n] = [[exporter, receipt.seq, receipt.entry_hash]]
            records += len(items)
        clock[0] += 3_600_000
        for importing, certs in issued.items():
            if not certs:
                continue
            officer = operators[importing]["officer"]
            items = [
                officer.confirm(
                    refs[n][0],
                    received_on=today,
                    parcels=[(f"{importing}-in-{n}-{i}", m, c) for i, (m, c) in enumerate(plan[n])],
                    holder="officer",
                )
                for n, _ in certs
            ]
            _append(sequencers[importing], items)
            records += len(items)
        made += len(batch)
        day += 1
        clock[0] = (
            int(datetime.datetime(YEAR, 1, 1, 8, tzinfo=datetime.UTC).timestamp() * 1000)
            + day * 86_400_000
        )
    return records, time.monotonic() - started


def _measured(command: list[str]) -> tuple[float, float, str]:
    """Seconds, peak RSS (MB) and stdout of one ``kp`` process, measured by a parent of its own
    so that no earlier child's peak is taken for its."""
    probe = (
        "import resource, subprocess, sys, time; t = time.monotonic();"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        "e = time.monotonic() - t; r = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss;"
        "sys.stderr.write(p.stderr[-2000:]); print(e, r); print(p.stdout, end='')"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *command], capture_output=True, text=True, check=False
    )
    first, _, rest = done.stdout.partition("\n")
    seconds, rss = first.split()
    return float(seconds), int(rss) / 1024, rest


def _start(root: Path, member: str) -> subprocess.Popen[bytes]:
    log = (root / member / "node.log").open("ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "node.cli", "run", "--dir", str(root / member)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        log.close()


def _healthy(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become healthy")


def _profile(command: list[str], url: str) -> None:
    """Where the time of one ``kp stats`` goes: the node's pages, timed from here, and the
    client's own profile."""
    started, pages, after = time.monotonic(), 0, None
    with httpx.Client(base_url=url, timeout=60) as client:
        while True:
            params = {"limit": 5000, **({"after": after} if after else {})}
            page = client.get("/v1/statistics/movements", params=params).json()
            pages += 1
            after = page["next"]
            if after is None:
                break
    print(f"  {pages} pages from {url} in {time.monotonic() - started:.2f} s")
    with tempfile.NamedTemporaryFile(suffix=".prof") as out:
        subprocess.run(
            [command[0], "-m", "cProfile", "-o", out.name, *command[1:]],
            capture_output=True,
            check=False,
        )
        stats = pstats.Stats(out.name, stream=sys.stdout)
        stats.sort_stats("cumulative").print_stats(25)


def measure(certificates: int, port: int, keep: Path | None, profile: bool) -> Figures:
    figures = Figures(certificates)
    work = Path(tempfile.mkdtemp(prefix="kp-stats-bench-"))
    nodes: list[subprocess.Popen[bytes]] = []
    try:
        # What the index adds to the append path: the same records without it first.
        plain_root = work / "plain"
        devnet_create(plain_root, participants=list(PARTICIPANTS), base_port=port)
        (plain_root / "description.json").write_text(json.dumps({"network": "kp.devnet"}))
        plain = _master(plain_root, work / "plain-store")
        _, figures.append_plain = build_year(plain_root, plain, certificates, RulesWithoutIndex())
        plain.close()

        root = work / "net"
        description = devnet_create(root, participants=list(PARTICIPANTS), base_port=port)
        (root / "description.json").write_text(json.dumps(description))
        master = _master(root, work / "store")
        figures.records, figures.append_indexed = build_year(
            root, master, certificates, RuleCheck()
        )
        for member in PARTICIPANTS:
            target = DataDir(root / member).store_path
            shutil.rmtree(target)
            master.backup(target)
        master.close()
        for member in PARTICIPANTS:
            nodes.append(_start(root, member))
        urls = [description["participants"][m]["url"] for m in PARTICIPANTS]
        for url in urls:
            _healthy(url, 120)
        trust = ["--trust", description["genesis"]]
        kp = [sys.executable, "-m", "client.cli", "stats", "--year", str(YEAR), "--json", *trust]
        index_cmd = [*kp, "--node", urls[2], "--node", urls[0]]
        replay_cmd = [*kp, "--replay", "--node", urls[2]]
        _measured(index_cmd)  # warm the nodes' page cache once
        figures.index_seconds, figures.index_mb, indexed = _measured(index_cmd)
        figures.replay_seconds, figures.replay_mb, replayed = _measured(replay_cmd)
        if profile:
            _profile(index_cmd, urls[2])
        a, b = json.loads(indexed), json.loads(replayed)
        figures.same_tables = a["tables"] == b["tables"] and a["anomalies"] == b["anomalies"]
        if not figures.same_tables:
            print("the index and the replay disagree", file=sys.stderr)
        if a["findings"]:
            print(f"findings: {a['findings']}", file=sys.stderr)
        _measure_report(figures, work, [*trust, "--node", urls[2], "--node", urls[0]])
    finally:
        for process in nodes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
        for process in nodes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        if keep is not None:
            shutil.copytree(work, keep / f"{certificates}", dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)
    return figures


def _measure_report(figures: Figures, work: Path, nodes: list[str]) -> None:
    """``kp report annual`` of Canada's year from the index, as PDF and as HTML (decision
    0046): the same movements as ``kp stats``; Canada mines, exports to the UAE and imports from
    Botswana and the UAE, so every table has rows."""
    kp = [sys.executable, "-m", "client.cli", "report", "annual", "--participant", "CA"]
    for kind in ("pdf", "html"):
        command = [*kp, "--year", str(YEAR), "-o", str(work / f"report.{kind}"), *nodes]
        seconds, mb, _ = _measured(command)
        setattr(figures, f"report_{kind}_seconds", seconds)
        setattr(figures, f"report_{kind}_mb", mb)
        print(f"kp report annual -o report.{kind}: {seconds:.2f} s, {mb:.0f} MB")


def report(results: list[Figures]) -> None:
    print(
        f"{'certificates':>12} {'records':>8} {'append/1k':>10} {'no index/1k':>11} "
        f"{'stats s':>8} {'stats MB':>8} {'replay s':>8} {'replay MB':>9} same"
    )
    for f in results:
        per = 1000 / max(f.records, 1)
        print(
            f"{f.certificates:>12,} {f.records:>8,} {f.append_indexed * per:>9.2f}s "
            f"{f.append_plain * per:>10.2f}s {f.index_seconds:>8.2f} {f.index_mb:>8.0f} "
            f"{f.replay_seconds:>8.2f} {f.replay_mb:>9.0f} {f.same_tables}"
        )
    if len(results) >= 2:
        small, large = results[0], results[-1]
        print(
            f"ratio {large.records / small.records:.1f}x the records: kp stats "
            f"{large.index_seconds / small.index_seconds:.2f}x the time "
            f"(target <= {large.records / small.records:.0f}x), replay "
            f"{large.replay_seconds / small.replay_seconds:.2f}x"
        )
    print("targets at 20,000 certificates: kp stats <= 3 s and <= 150 MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certificates", type=int, nargs="+", default=[2_000, 20_000])
    parser.add_argument("--port", type=int, default=8720)
    parser.add_argument("--keep", type=Path, help="copy the stores here")
    parser.add_argument("--profile", action="store_true", help="profile kp stats once a size")
    args = parser.parse_args()
    load = os.getloadavg()
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, python {platform.python_version()}"
    )
    results = []
    for count in args.certificates:
        figures = measure(count, args.port, args.keep, args.profile)
        results.append(figures)
        report([figures])
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
