"""Provenance at a trading hub: bundle, verification and explorer against the hub's history.

How a certificate's bundle, its verification online and offline and its explorer page grow with
the history of the hub it went through (issue 15).

Run: ``.venv/bin/python -m tests.bench.provenance [--rounds 100 1000] [--merge 256]
[--repeat 5] [--timeout 600] [--profile 10] [--save DIR]``

A devnet ``BW,CA,EU,IN,ZA`` with default settings (every node a real ``kp-node run`` process
on 127.0.0.1, records signed with the operator keys ``devnet up`` wrote and submitted with the
SDK, ``client/sdk.py``).

**The pooling hub.** EU first imports one parcel, its stock. Then every round EU imports a new
parcel (a supplier, BW, CA, IN and ZA in turn, produces 10 ct and certifies it to EU; EU
confirms), merges its stock with the import, splits the pool into the stock and one export of
10 ct, and certifies the export to the next supplier in turn, which confirms. So the stock's
lineage, and every export's provenance DAG, holds the hub's whole history: each round adds a
merge, a split, an import's confirmation, certificate and production. What does not depend on
an earlier answer is submitted with ``submit_batch`` (every production, certificate and
confirmation); the merges and splits must name the entry hash of the one before,
so they are sent one at a time (``wait=committed``). The rounds of ``--rounds`` are cumulative:
one network grows from the smallest count to the largest and is measured at each.

**A merge of imports** (``--merge``, 0 to leave it out). EU confirms ``--merge`` more imports
and merges them all into one parcel, which it certifies to BW, and BW confirms. A transform
takes at most ``node.core.records.MAX_REFS`` (64) parcels, so 256 imports are merged as a tree:
four merges of 64, then one of the four.

Before each measurement the network is left until every node holds every log at its origin's
size and the hub serves a witnessed checkpoint of each at that size. Then, for the certificate
of the last export (its ``certificate.issue`` entry):

  - entries and bytes: of the bundle the hub's node serves at ``GET /v1/provenance/HASH``
    (the subject's DAG, its confirmation's, the operators' registrations and the charter
    adoptions, each with its inclusion proof);
  - GET: the time of that request, from this process, median of ``--repeat``;
  - offline: ``Bundle.parse`` and ``client.verify.check_bundle`` of those bytes against the
    genesis, what ``kp verify --bundle FILE`` does, median of ``--repeat``;
  - online: ``client.online.verify_online`` over every node's URL, what ``kp verify HASH``
    does (which then fetches the bundle once more, to draw the chain), timed once; the HTTP
    requests it sends are counted per node by a transport that wraps httpx's;
  - explorer: ``GET /verify/HASH`` on the hub's node, which builds the bundle and verifies it in
    the HTTP process, median of ``--repeat``.

Each verdict is printed beside the figures, so that a fast answer that says INVALID is seen.
A step that fails outright (a timeout, a bundle beyond ``MAX_BUNDLE_BYTES``) is printed as
failed, with why, and the run goes on. The targets of issue 15 are printed beside the figures:
at 1,000 rounds a bundle of at most 100 kB, offline verification within 0.3 s, online within
1 s with at most 5 requests per node, the explorer within 200 ms; and the figure at the largest
round count at most twice the one at the smallest (10,000 against 100). Nothing is asserted:
this is the instrument that shows how far the code is from them. The machine and its load
average are printed first: on a shared machine read the times with them; counts are exact.
Every node started here is stopped, whatever happens.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import io
import pstats
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from client.online import verify_online
from client.sdk import LedgerClient, Operator, ProblemError
from client.verify import Verdict, check_bundle
from node.core import notes
from node.core.bundle import Bundle
from node.core.encoding import Value
from node.core.receipt import Receipt
from node.core.records import MAX_REFS
from node.core.sealing import Disclosures
from tests.bench.network import machine, sizes
from tests.support.network import Devnet, devnet

PARTICIPANTS = "BW,CA,EU,IN,ZA"
HUB = "EU"
SUPPLIERS = ("BW", "CA", "IN", "ZA")
MASS = 1_000  # centicarats of every import and every export
HS = "7102.10"
BATCH = 200
POLL_SECONDS = 0.5

# Issue 15's targets, at 1,000 rounds; and the largest round count against the smallest.
TARGET_ROUNDS = 1_000
TARGET_BYTES = 100_000
TARGET_OFFLINE = 0.3
TARGET_ONLINE = 1.0
TARGET_REQUESTS_PER_NODE = 5
TARGET_EXPLORER = 0.2
TARGET_GROWTH = 2.0

_HEADLINE = re.compile(r'<p id="headline" class="headline">[^:<]*: (?P<text>[^<]*)</p>')

T = TypeVar("T")
Signed = tuple[Any, Disclosures]


def _day(offset: int = 0) -> str:
    today = datetime.datetime.now(datetime.UTC).date()
    return (today + datetime.timedelta(days=offset)).isoformat()


def _wait(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"timed out after {seconds:.0f} s waiting for {what}")


# --- the trade ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Export:
    """A parcel the hub certifies to ``to``, with the origins and mass the certificate states."""

    parcel: list[Value]
    to: str
    origins: set[str]
    mass: int


class Trade:
    """The five participants' nodes and operators, and what the hub holds."""

    def __init__(self, net: Devnet, timeout: float) -> None:
        self.net = net
        self.timeout = timeout
        members = list(net.description["participants"])
        self.clients = {m: LedgerClient(net.url(m), timeout=timeout) for m in members}
        self.operators = {
            (m, name): Operator(m, name, net.operator_key(m, name))
            for m in members
            for name in net.description["participants"][m]["operators"]
        }
        self.serial: Counter[str] = Counter()
        self.stock: list[Value] | None = None
        self.origins: set[str] = set()
        self.rounds = 0
        self.last_export: Receipt | None = None

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    def _operator(self, member: str, name: str) -> Operator:
        return self.operators[(member, name)]

    def _next(self, member: str) -> int:
        self.serial[member] += 1
        return self.serial[member]

    def submit_all(self, member: str, items: Sequence[Signed]) -> list[Receipt]:
        receipts = []
        for start in range(0, len(items), BATCH):
            for result in self.clients[member].submit_batch(items[start : start + BATCH]):
                if isinstance(result, ProblemError):
                    raise RuntimeError(f"{member} refused a record: {result}")
                receipts.append(result)
        return receipts

    def submit(self, member: str, item: Signed) -> Receipt:
        return self.clients[member].submit(*item)

    def _certify(
        self, issuer: str, parcel: list[Value], importing: str, origins: set[str], mass: int
    ) -> Signed:
        serial = self._next(f"{issuer}-cert")
        return self._operator(issuer, "officer").certify(
            f"{issuer}-{_day()[:4]}-{serial:06d}",
            exporter="trader",
            importing=importing,
            parcels=[parcel],
            centicarats=mass,
            hs_codes=[HS],
            origins=sorted(origins),
            issued_on=_day(),
            expires_on=_day(30),
            value_usd_cents=1_000_000,
            exporter_name=f"Exporter in {issuer}",
            importer_name=f"Importer in {importing}",
            seal_number=f"SEAL-{issuer}-{serial}",
        )

    def _confirm(self, member: str, certificate: Receipt, mass: int = MASS) -> Signed:
        serial = self._next(f"{member}-import")
        return self._operator(member, "officer").confirm(
            certificate.entry_ref(),
            received_on=_day(),
            parcels=[(f"{member}-IMP-{serial}", mass, HS)],
            holder="trader",
        )

    def wait_replicated(self, member: str, log: str, seq: int) -> None:
        url = self.net.url(member)
        _wait(lambda: sizes(url).get(log, 0) > seq, self.timeout, f"{member} to hold {log}/{seq}")

    def imports(self, suppliers: Sequence[str]) -> list[tuple[str, list[Value]]]:
        """Each supplier in ``suppliers`` produces one parcel and certifies it to the hub, which
        confirms: the hub's new parcels (with their supplier), in the order given."""
        certificates: dict[int, Receipt] = {}
        for supplier in sorted(set(suppliers)):
            mine = self._operator(supplier, "mine")
            turns = [i for i, s in enumerate(suppliers) if s == supplier]
            produced = self.submit_all(
                supplier,
                [
                    mine.produce(
                        f"{supplier}-P-{self._next(f'{supplier}-parcel')}",
                        centicarats=MASS,
                        hs_code=HS,
                        produced_on=_day(),
                        holder="trader",
                    )
                    for _ in turns
                ],
            )
            issued = self.submit_all(
                supplier,
                [self._certify(supplier, r.parcel_ref(), HUB, {supplier}, MASS) for r in produced],
            )
            certificates.update(zip(turns, issued, strict=True))
            self.wait_replicated(HUB, supplier, issued[-1].seq)
        ordered = [certificates[i] for i in range(len(suppliers))]
        confirmed = self.submit_all(HUB, [self._confirm(HUB, c) for c in ordered])
        return [(s, r.parcel_ref()) for s, r in zip(suppliers, confirmed, strict=True)]

    def exports(self, parcels: Sequence[Export]) -> list[Receipt]:
        """The hub certifies each parcel to its importer, and each importer confirms."""
        issued = self.submit_all(
            HUB, [self._certify(HUB, e.parcel, e.to, e.origins, e.mass) for e in parcels]
        )
        for buyer in sorted({e.to for e in parcels}):
            mine = [(c, e) for c, e in zip(issued, parcels, strict=True) if e.to == buyer]
            self.wait_replicated(buyer, HUB, mine[-1][0].seq)
            self.submit_all(buyer, [self._confirm(buyer, c, e.mass) for c, e in mine])
        return issued

    def _transform(self, inputs: list[list[Value]], outputs: list[int], kind: str) -> Receipt:
        trader = self._operator(HUB, "trader")
        named = [(f"{HUB}-LOT-{self._next('lot')}", mass, HS) for mass in outputs]
        return self.submit(HUB, trader.transform(inputs, named, kind=kind))

    def hub_rounds(self, until: int) -> None:
        """Trade rounds up to ``until`` in all: imports and exports in batches, the merge and the
        split of each round one after the other."""
        if self.stock is None:
            [(supplier, self.stock)] = self.imports([SUPPLIERS[0]])
            self.origins = {supplier}
        turns = range(self.rounds, until)
        suppliers = [SUPPLIERS[i % len(SUPPLIERS)] for i in turns]
        imported = self.imports(suppliers)
        outgoing: list[Export] = []
        for i, (supplier, parcel) in zip(turns, imported, strict=True):
            pool = self._transform([self.stock, parcel], [2 * MASS], "merge")
            split = self._transform([pool.parcel_ref()], [MASS, MASS], "split")
            self.origins.add(supplier)
            self.stock = split.parcel_ref(0)
            buyer = SUPPLIERS[(i + 1) % len(SUPPLIERS)]
            outgoing.append(Export(split.parcel_ref(1), buyer, set(self.origins), MASS))
        self.last_export = self.exports(outgoing)[-1]
        self.rounds = until

    def merge_of(self, count: int) -> Receipt:
        """``count`` imports merged into one parcel (as a tree of merges of at most
        ``MAX_REFS``), certified to BW, which confirms; the certificate."""
        suppliers = [SUPPLIERS[i % len(SUPPLIERS)] for i in range(count)]
        imported = self.imports(suppliers)
        parcels = [parcel for _, parcel in imported]
        masses = [MASS] * len(parcels)
        while len(parcels) > 1:
            groups = [
                range(i, min(i + MAX_REFS, len(parcels))) for i in range(0, len(parcels), MAX_REFS)
            ]
            merged = []
            for group in groups:
                if len(group) == 1:  # a merge takes two parcels or more: carried up as it is
                    merged.append((parcels[group[0]], masses[group[0]]))
                    continue
                mass = sum(masses[i] for i in group)
                done = self._transform([parcels[i] for i in group], [mass], "merge")
                merged.append((done.parcel_ref(), mass))
            parcels, masses = [p for p, _ in merged], [m for _, m in merged]
        [certificate] = self.exports([Export(parcels[0], "BW", set(suppliers), masses[0])])
        return certificate

    def settle(self) -> None:
        """Until every node holds every log at its origin's size and the hub serves a witnessed
        checkpoint of each at that size."""
        urls = {m: self.net.url(m) for m in self.clients}

        def settled() -> bool:
            origin = {m: sizes(url)[m] for m, url in urls.items()}
            if any(sizes(url) != origin for url in urls.values()):
                return False
            hub = self.clients[HUB]
            return all(
                notes.SignedCheckpoint.parse(hub.checkpoint(log)).size == size
                for log, size in origin.items()
            )

        _wait(settled, self.timeout, "every node to hold every log, witnessed")


# --- the measurement ----------------------------------------------------------------------------


class CountingTransport(httpx.BaseTransport):
    """httpx's own transport, counting the requests sent to each host:port."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.requests: Counter[str] = Counter()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests[f"{request.url.host}:{request.url.port}"] += 1
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


@dataclass
class Figures:
    """One export's figures; a figure that could not be measured is None, and why is kept."""

    name: str
    rounds: int | None
    setup_seconds: float
    entries: int | None = None
    bundle_bytes: int | None = None
    get_seconds: float | None = None
    offline_seconds: float | None = None
    online_seconds: float | None = None
    requests: dict[str, int] = field(default_factory=dict)
    explorer_seconds: float | None = None
    verdicts: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def requests_per_node(self) -> int | None:
        return max(self.requests.values()) if self.requests else None


def _median_seconds(repeat: int, run: Callable[[], T]) -> tuple[float, T]:
    times = []
    result: T | None = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    assert result is not None
    return statistics.median(times), result


def _attempt(figures: Figures, what: str, run: Callable[[], None]) -> None:
    try:
        run()
    except Exception as exc:  # the instrument reports a failure and goes on
        figures.failures[what] = f"{type(exc).__name__}: {str(exc)[:300]}"


def _short(verdict: Verdict) -> str:
    return verdict.headline[:100]


def measure(
    net: Devnet,
    figures: Figures,
    subject: str,
    args: argparse.Namespace,
    profile: int,
) -> None:
    """Every figure of ``subject`` into ``figures``; a step that fails is recorded there."""
    repeat, timeout = args.repeat, args.timeout
    genesis = bytes.fromhex(net.description["genesis"])
    hub = net.url(HUB)
    served: list[bytes] = []

    def get() -> None:
        def fetch() -> bytes:
            response = httpx.get(f"{hub}/v1/provenance/{subject}", timeout=timeout)
            response.raise_for_status()
            return response.content

        figures.get_seconds, data = _median_seconds(repeat, fetch)
        figures.bundle_bytes = len(data)
        served.append(data)
        if args.save is not None:
            name = re.sub(r"[^0-9a-z]+", "-", figures.name.lower()).strip("-")
            (args.save / f"{name}.json").write_bytes(data)

    def offline() -> None:
        [data] = served
        figures.entries = len(Bundle.parse(data).entries)
        figures.offline_seconds, verdict = _median_seconds(
            repeat, lambda: check_bundle(Bundle.parse(data), genesis)
        )
        figures.verdicts["offline"] = _short(verdict)
        if profile:
            print(_profile(lambda: check_bundle(Bundle.parse(data), genesis), profile))

    def online() -> None:
        transport = CountingTransport()
        urls = [net.url(m) for m in net.description["participants"]]
        started = time.perf_counter()
        result = verify_online(urls, subject, genesis, transport=transport, timeout=timeout)
        figures.online_seconds = time.perf_counter() - started
        figures.requests = dict(transport.requests)
        unreachable = f" ({len(result.unreachable)} unreachable)" if result.unreachable else ""
        figures.verdicts["online"] = _short(result.verdict) + unreachable

    def explorer() -> None:
        def look_up() -> str:
            response = httpx.get(f"{hub}/verify/{subject}", timeout=timeout)
            response.raise_for_status()
            return response.text

        figures.explorer_seconds, page = _median_seconds(repeat, look_up)
        found = _HEADLINE.search(page)
        figures.verdicts["explorer"] = found["text"][:100] if found else "(no verdict on page)"

    _attempt(figures, "GET provenance", get)
    if served:
        _attempt(figures, "offline verify", offline)
    _attempt(figures, "online verify", online)
    _attempt(figures, "explorer", explorer)


def _profile(run: Callable[[], object], lines: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(lines)
    return "offline verify under cProfile, by cumulative time:\n" + out.getvalue().strip()


# --- the report ---------------------------------------------------------------------------------

COLUMNS = (
    ("entries", 8),
    ("bundle B", 12),
    ("GET s", 8),
    ("offline s", 10),
    ("online s", 9),
    ("req/node", 9),
    ("req total", 10),
    ("explorer s", 11),
)


def _cells(figures: Figures) -> list[str]:
    def number(value: float | None, spec: str) -> str:
        return "failed" if value is None else format(value, spec)

    total = sum(figures.requests.values()) if figures.requests else None
    return [
        number(figures.entries, ","),
        number(figures.bundle_bytes, ","),
        number(figures.get_seconds, ".3f"),
        number(figures.offline_seconds, ".3f"),
        number(figures.online_seconds, ".2f"),
        number(figures.requests_per_node, ","),
        number(total, ","),
        number(figures.explorer_seconds, ".3f"),
    ]


def _row(label: str, cells: Sequence[str]) -> str:
    return f"{label:<22}" + "".join(
        f" {cell:>{width}}" for cell, (_, width) in zip(cells, COLUMNS, strict=True)
    )


def _ratio(large: float | None, small: float | None) -> str:
    if large is None or small is None or small == 0:
        return "-"
    return f"{large / small:.1f}x"


def report(results: Sequence[Figures]) -> None:
    print()
    print(_row("export of", [name for name, _ in COLUMNS]))
    for figures in results:
        print(_row(figures.name, _cells(figures)))
    targets = [
        "",
        f"<={TARGET_BYTES:,}",
        "",
        f"<={TARGET_OFFLINE}",
        f"<={TARGET_ONLINE}",
        f"<={TARGET_REQUESTS_PER_NODE}",
        "",
        f"<={TARGET_EXPLORER}",
    ]
    print(_row(f"target at {TARGET_ROUNDS:,} rounds", targets))
    hubs = [f for f in results if f.rounds is not None]
    if len(hubs) >= 2:
        small, large = hubs[0], hubs[-1]
        pairs: list[tuple[float | None, float | None]] = [
            (large.entries, small.entries),
            (large.bundle_bytes, small.bundle_bytes),
            (large.get_seconds, small.get_seconds),
            (large.offline_seconds, small.offline_seconds),
            (large.online_seconds, small.online_seconds),
            (large.requests_per_node, small.requests_per_node),
            (
                sum(large.requests.values()) if large.requests else None,
                sum(small.requests.values()) if small.requests else None,
            ),
            (large.explorer_seconds, small.explorer_seconds),
        ]
        label = f"{large.rounds:,} / {small.rounds:,} rounds"
        print(_row(label, [_ratio(a, b) for a, b in pairs]))
        print(_row("target ratio", [f"<={TARGET_GROWTH:g}x"] * len(COLUMNS)))
    print()
    for figures in results:
        print(f"{figures.name}: set up in {figures.setup_seconds:.0f} s")
        for what, verdict in figures.verdicts.items():
            print(f"  {what} verdict: {verdict}")
        if figures.requests:
            per_node = ", ".join(f"{host} {n}" for host, n in sorted(figures.requests.items()))
            print(f"  online requests per node: {per_node}")
        for what, failure in figures.failures.items():
            print(f"  FAILED {what}: {failure}")


@dataclass
class _Run:
    results: list[Figures] = field(default_factory=list)

    def add(self, figures: Figures) -> None:
        self.results.append(figures)
        cells = " ".join(
            f"{name} {cell}" for (name, _), cell in zip(COLUMNS, _cells(figures), strict=True)
        )
        print(f"{figures.name}: {cells}", flush=True)


def _hosts(net: Devnet) -> Iterator[tuple[str, str]]:
    for member in net.description["participants"]:
        yield net.url(member).split("//", 1)[1], member


def run(args: argparse.Namespace) -> list[Figures]:
    done = _Run()
    rounds = sorted(set(args.rounds))
    with (
        tempfile.TemporaryDirectory(prefix="kp-bench-provenance-") as root,
        devnet(Path(root) / "net", PARTICIPANTS, timeout=args.timeout) as net,
    ):
        names = dict(_hosts(net))
        trade = Trade(net, args.timeout)
        try:
            for count in rounds:
                started = time.monotonic()
                figures = Figures(f"hub, {count:,} rounds", count, 0.0)
                try:
                    trade.hub_rounds(count)
                    trade.settle()
                except Exception as exc:  # reported; the hub grows no further
                    figures.setup_seconds = time.monotonic() - started
                    figures.failures["setup"] = f"{type(exc).__name__}: {str(exc)[:300]}"
                    done.add(figures)
                    break
                figures.setup_seconds = time.monotonic() - started
                assert trade.last_export is not None
                profile = args.profile if count == rounds[-1] else 0
                measure(net, figures, trade.last_export.entry_hash.hex(), args, profile)
                figures.requests = {names.get(h, h): n for h, n in figures.requests.items()}
                done.add(figures)
            if args.merge:
                started = time.monotonic()
                figures = Figures(f"merge of {args.merge}", None, 0.0)
                try:
                    certificate = trade.merge_of(args.merge)
                    trade.settle()
                except Exception as exc:  # reported like any other failure
                    figures.failures["setup"] = f"{type(exc).__name__}: {str(exc)[:300]}"
                else:
                    figures.setup_seconds = time.monotonic() - started
                    measure(net, figures, certificate.entry_hash.hex(), args, 0)
                    figures.requests = {names.get(h, h): n for h, n in figures.requests.items()}
                figures.setup_seconds = time.monotonic() - started
                done.add(figures)
        finally:
            trade.close()
    return done.results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--rounds",
        type=int,
        nargs="+",
        default=[100, 1_000],
        help="hub round counts, cumulative on one network (10000 is allowed, and slow)",
    )
    parser.add_argument("--merge", type=int, default=256, help="imports merged into one; 0: none")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each timed GET and check")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds, per request/wait")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="LINES",
        help="profile the offline verify at the largest round count; print the top LINES",
    )
    parser.add_argument(
        "--save", type=Path, metavar="DIR", help="also write each bundle measured into DIR"
    )
    args = parser.parse_args()
    if args.save is not None:
        args.save.mkdir(parents=True, exist_ok=True)
    print(machine(), flush=True)
    started = time.monotonic()
    results = run(args)
    report(results)
    print(f"\nwhole run: {time.monotonic() - started:.0f} s; {machine().rsplit('; ', 1)[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
