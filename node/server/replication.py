"""Replication among peers (DESIGN §8): pull every other log, push our checkpoints to witnesses.

* **Pull** (anti-entropy, the fallback to push): one peer per tick, round-robin, asked for its
  brief log listing (per log: size and a digest of the checkpoint note it serves). A log whose
  size and digest say nothing changed costs no further request and no verification; otherwise
  its checkpoint is fetched and what we lack is fetched, in bounded pages, from that peer — any
  peer, not only the origin. The tick doubles from ``interval`` up to ``max_interval`` while
  polls change nothing, and is reset by any change (a poll's, or a push received), so a node's
  requests per second at idle do not grow with the network (decision 0033). Entries are written
  only through ``replica.extend`` (signed root, then every rule), so a lying peer changes
  nothing and a lying origin leaves evidence. While the node restores its own log, every peer
  is asked every ``interval``. The envelopes of the entries taken (decision 0041) are fetched
  from the same peer and kept through ``replica.keep_envelopes``; a peer that serves none, or
  bad ones, costs the entries nothing.
* **Push**: after each commit of our own log, send the newest checkpoint to the *first
  witnesses* — the policy's ``witness_quorum`` plus one spare, healthy peers first, in an order
  of their own per log so that the logs of a network spread over different witnesses — at
  ``/witness/add-checkpoint`` (c2sp.org/tlog-witness). Once it is witnessed, every other peer
  is sent the witnessed checkpoint, each at most once per ``interval``: a node's pushes per
  commit do not grow with the network (decision 0037). If the quorum has not cosigned within
  ``interval``, every peer is asked. One request in flight per peer; a newer checkpoint
  supersedes an unsent one, so witnessing cost does not grow with the append rate.
  Cosignatures that come back before the quorum are verified and attached to the stored
  checkpoint; later ones are not (the quorum is what a verifier needs). A peer that failed is
  tried again with backoff; a peer up to date is not woken for.

httpx errors are translated here, at the edge that meets them; the loops back off and go on.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import math
import multiprocessing
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from node.core import notes
from node.core.charter import Charter, SignedCharter
from node.core.encoding import decode
from node.core.errors import (
    InvalidEntryError,
    LedgerError,
    PeerError,
    PendingError,
    QuarantinedError,
    ReplicaMismatchError,
)
from node.core.records import LOG_SIGNER, Entry, OperatorRegister
from node.engine import restore
from node.engine.ledger import CharterStatus, LedgerNode
from node.engine.replica import (
    Evidence,
    Extension,
    exit_with_parent,
    extend,
    fork_evidence,
    keep_envelopes,
    quarantined,
    record_evidence,
    verify_ahead,
)
from node.engine.witness import (
    add_cosignatures,
    merge_cosignatures,
    needs_store,
    store_merged,
    witnessed,
)

if TYPE_CHECKING:
    from node.server.metrics import NodeMetrics

__all__ = [
    "Replicator",
    "first_witnesses",
    "note_digest",
]

log = logging.getLogger("kp.replication")

PAGE_ENTRIES = 1000
# A page of envelopes is read whole; a peer covers fewer entries (max_page_envelopes) to stay
# well under this: 256 entries sealed to two recipients at the largest disclosures are 8 MiB.
MAX_ENVELOPES_PAGE_BYTES = 16 * 1024 * 1024
VERIFY_AHEAD_MIN = 512  # entries in one catch-up before signatures are checked in a worker
VERIFY_AHEAD_CHUNK = 2000
JITTER = 0.1  # each tick is drawn within ±10% so that nodes started together drift apart
MAX_CHARTER_VERSIONS = 1000  # charter documents taken from one peer's answer


def _code(exc: Exception) -> str:
    return exc.code if isinstance(exc, LedgerError) else type(exc).__name__


def note_digest(note: str) -> str:
    """A short digest of a checkpoint note: its text and who signed it (each signature line's
    key name and ID), so anti-entropy compares digests instead of fetching notes.

    Equal digests mean the same checkpoint with signatures by the same keys. Timestamps are
    left out: two copies may hold different cosignatures by one witness (decision 0029), and
    a newer one adds nothing a verifier counts, so such copies must not look different to
    each other forever. A note that does not parse is digested whole."""
    try:
        signed = notes.parse_note(note)
    except LedgerError:
        return hashlib.sha256(note.encode()).hexdigest()[:32]
    signers = sorted({(s.name, s.key_id) for s in signed.signatures})
    digest = hashlib.sha256(signed.text.encode())
    for name, key_id in signers:
        digest.update(b"\n" + name.encode() + b" " + key_id)
    return digest.hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class _Held:
    """Entries of a log fetched and checked against a signed root but not yet applied: the
    first of them waits on a log this node does not hold far enough yet. They are applied from
    here once it does, so a restore fetches each page once, whatever order the logs come in."""

    signed: notes.SignedCheckpoint
    start: int  # the seq of entries[0]
    entries: list[bytes]


class Replicator:
    """Keeps this node's replicas current and its own log witnessed.

    Args:
        node: this node.
        client: the HTTP client for peers (its timeouts bound every request).
        interval: seconds between anti-entropy polls while something changes (the shortest
            tick); also the first delay before a failed push is tried again.
        max_interval: the longest tick, reached by doubling while polls change nothing.
        metrics: counters of polls, checks, fetches, writes and cosignature verifications.
        on_evidence: called with each new piece of evidence (metrics, logs).
        on_witnessed: called when our own log's witnessed size grows.
        on_charter_status: called after each anti-entropy round with which charter version
            each member's log has adopted (metrics).
        on_restored: called once a restore of this node's own log completes
            (node/engine/restore.py), on the event loop: the node starts its sequencer then.
    """

    def __init__(
        self,
        node: LedgerNode,
        client: httpx.AsyncClient,
        *,
        interval: float = 2.0,
        max_interval: float = 30.0,
        metrics: NodeMetrics | None = None,
        on_evidence: Callable[[Evidence], None] | None = None,
        on_witnessed: Callable[[int], None] | None = None,
        on_charter_status: Callable[[CharterStatus], None] | None = None,
        on_restored: Callable[[], None] | None = None,
    ) -> None:
        self.node = node
        self.client = client
        self.interval = interval
        self.max_interval = max(interval, max_interval)
        self.metrics = metrics
        self.on_evidence = on_evidence
        self.on_witnessed = on_witnessed
        self.on_charter_status = on_charter_status
        self.on_restored = on_restored
        self.restoring = node.restoring()
        self._own_sizes: dict[str, int] = {}  # while restoring: peer → its size of our log
        self._restore_ended = False
        self._held: dict[str, _Held] = {}
        self._adoptions_seen: dict[str, tuple[int | None, int, bool]] = {}
        # (peer, log) → the digest of the note that peer served when we last caught up to it.
        self._seen: dict[tuple[str, str], str] = {}
        # log → when its origin last pushed a checkpoint to us: while it does, anti-entropy
        # leaves that log to the pushes instead of chasing it through every other peer.
        self._pushed_at: dict[str, float] = {}
        self._changes = 0  # local writes by replication (entries or cosignatures), ever
        self._activity = asyncio.Event()  # set on each of them: cuts a long tick short
        self._charters_changed = True  # a log extended or a charter arrived since last watched
        self._own_size_watched = -1
        self._commit = asyncio.Event()
        self._push_all = True  # every peer is owed our newest checkpoint (at start, restored)
        self._committed = False  # the first witnesses are owed a new commit
        self._witnessed = False  # every other peer is owed a newly witnessed checkpoint
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: ProcessPoolExecutor | None = None

    # --- the charter's view of the network ----------------------------------------------------

    def charter(self) -> Charter:
        charter = self.node.trusted_charter()
        if charter is None:
            raise PendingError("no charter adopted or published", code="charter.not_adopted")
        return charter

    def peers(self) -> dict[str, str]:
        """Every other member's first endpoint."""
        return {
            member.id: member.endpoints[0].rstrip("/")
            for member in self.charter().participants.values()
            if member.id != self.node.log and member.endpoints
        }

    def _quorum(self) -> int:
        return self.charter().policy.witness_quorum

    def _newest_is_witnessed(self) -> bool:
        with self.node.store.read() as reader:
            latest = reader.log(self.node.log).latest_checkpoint()
            return latest is None or witnessed(reader, self.node.log) >= latest[0]

    # --- running ------------------------------------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._commit.set()  # every peer is owed our newest checkpoint once, at start
        self._tasks.append(asyncio.create_task(self._pull_forever(), name="pull"))
        self._tasks.append(asyncio.create_task(self._push_forever(), name="push"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def notify_commit(self) -> None:
        """Called on the event loop after each commit of our log."""
        self._committed = True
        self._charters_changed = True  # our own log may have adopted a charter version
        self._commit.set()

    def _notify_witnessed(self) -> None:
        """Called on the event loop when our newest checkpoint reached the quorum."""
        self._witnessed = True
        self._commit.set()

    def _changed(self) -> None:
        """Replication wrote something: anti-entropy goes back to its shortest tick."""
        self._changes += 1
        self._charters_changed = True
        self._activity.set()

    def _count(self, what: str, amount: int = 1) -> None:
        if self.metrics is not None and amount:
            self.metrics.replication[what].inc(amount)

    # --- pull ---------------------------------------------------------------------------------

    async def _pull_forever(self) -> None:
        rounds = self._rounds()
        while True:
            try:
                tick = await anext(rounds)
            except Exception as exc:
                # A failure of our own (the store refused a read) must not end anti-entropy
                # for the life of the process: log it, and start again after a short tick.
                log.exception("replication round failed", extra={"code": _code(exc)})
                rounds = self._rounds()
                tick = self.interval
            await self._sleep(tick)

    async def _rounds(self) -> AsyncIterator[float]:
        """One anti-entropy round per step; each yields the tick to sleep before the next."""
        failures: dict[str, int] = {}  # peer → failed polls in a row
        skip_until: dict[str, float] = {}  # peer → when a failed peer may be asked again
        turn = 0  # round-robin position
        tick = self.interval
        while True:
            try:
                peers = self.peers()
            except PendingError:
                yield self.interval
                continue
            before = self._changes
            if self.restoring:
                # Ending a restore needs answers from enough peers: ask them all each round.
                chosen = list(peers.items())
            else:
                # Around the ring of ids from the one after ours, so that nodes started
                # together do not all ask the same peer at the same tick.
                ring = sorted(peers.items())
                after = sum(1 for peer, _ in ring if peer < self.node.log)
                order = ring[after:] + ring[:after]
                now = time.monotonic()
                ready = [p for p in order if skip_until.get(p[0], 0) <= now]
                chosen = [ready[turn % len(ready)]] if ready else []
                turn += 1
            for peer, url in chosen:
                try:
                    await self.sync_from(url, peer)
                    failures.pop(peer, None)
                    skip_until.pop(peer, None)
                except (PeerError, LedgerError) as exc:
                    failures[peer] = failures.get(peer, 0) + 1
                    delay = min(self.max_interval, self.interval * 2 ** failures[peer])
                    skip_until[peer] = time.monotonic() + delay
                    log.info(
                        "pull from peer failed",
                        extra={"peer": peer, "code": exc.code, "detail": exc.message},
                    )
            await self.resume_held()
            if self.restoring:
                await asyncio.to_thread(self._check_restored, len(peers))
            with self.node.store.read() as reader:
                own_size = reader.log(self.node.log).size()
            if own_size != self._own_size_watched:
                # An admin command in another process (`kp-node charter adopt`) appends to our
                # log without a commit of our sequencer: its checkpoint is pushed as a commit's
                # would be (peers leave a log its origin pushes to those pushes).
                if self._own_size_watched >= 0 and not self.restoring:
                    self.notify_commit()
                self._own_size_watched, self._charters_changed = own_size, True
            if self._charters_changed:
                self._charters_changed = False
                try:
                    await asyncio.to_thread(self.watch_charters)
                except LedgerError as exc:
                    self._charters_changed = True
                    log.info("charter status unavailable", extra={"code": exc.code})
            busy = self.restoring or self._changes != before or bool(self._held)
            tick = self.interval if busy else min(self.max_interval, tick * 2)
            yield tick
            if self._changes != before:
                tick = self.interval  # a push arrived meanwhile: the network is moving

    async def _sleep(self, tick: float) -> None:
        """Sleep one jittered tick; a change made meanwhile (a push received) cuts it down to
        ``interval`` from then."""
        self._activity.clear()
        seconds = tick * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 - not a secret
        started = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._activity.wait(), timeout=seconds)
        if self._activity.is_set():
            left = seconds - (time.monotonic() - started)
            await asyncio.sleep(max(0.0, min(left, self.interval)))

    async def sync_from(self, url: str, peer: str | None = None) -> None:
        """Fetch from the peer at ``url`` every entry of every log it holds beyond ours, and
        the cosignatures it holds that we lack.

        A log whose size is not beyond ours and whose checkpoint digest is ours, or the one
        this peer served when we last caught up to it, costs nothing more: its checkpoint is
        not fetched, nothing is verified, no write transaction is opened.

        ``peer`` names it, so that while this node restores its own log (node/engine/restore.py) the
        size of our log it reports counts towards ending the restore."""
        charter = self.charter()
        listing = await self._get_json(f"{url}/v1/logs", params={"notes": "false"})
        self._count("polls")
        if not isinstance(listing, list):
            raise PeerError(f"{url} answered a malformed log list")
        if self.restoring and peer is not None:
            own = [i for i in listing if isinstance(i, dict) and i.get("log") == self.node.log]
            size = own[0].get("size") if own else 0
            self._own_sizes[peer] = size if isinstance(size, int) and size >= 0 else 0
        source = peer or url
        held: dict[str, tuple[int, bool, str | None]] = {}
        with self.node.store.read() as reader:
            for name in reader.logs():
                log_reader = reader.log(name)
                latest = log_reader.latest_checkpoint()
                digest = note_digest(latest[1]) if latest else None
                held[name] = (log_reader.size(), quarantined(reader, name), digest)
        for item in listing:
            log_id = item.get("log") if isinstance(item, dict) else None
            if not isinstance(log_id, str):
                continue
            if log_id == self.node.log and not self.restoring:
                continue  # this node alone writes its log, once it is back
            if log_id not in charter.participants:
                continue
            self._count("checks")
            if time.monotonic() - self._pushed_at.get(log_id, -math.inf) < self.max_interval:
                continue  # its origin pushes to us: the pushes bring it
            ours, stop, our_digest = held.get(log_id, (0, False, None))
            theirs = item.get("size")
            if stop or not isinstance(theirs, int) or theirs < ours:
                continue
            digest = item.get("digest")
            note = item.get("checkpoint")  # a peer that sends notes whole spares a request
            if "digest" in item and digest is None and note is None:
                continue  # the peer holds no checkpoint of it yet
            known = (our_digest, self._seen.get((source, log_id)))
            if theirs == ours and isinstance(digest, str) and digest in known:
                continue  # the same note as ours, or as when we last took theirs
            if not isinstance(note, str):
                note = await self._get_text(f"{url}/v1/logs/{log_id}/checkpoint?latest=1")
            self._count("fetches")
            signed = notes.SignedCheckpoint.parse(note)
            done = await self.catch_up(log_id, signed, [url])
            if done.pending is None and done.size >= signed.size:
                self._seen[(source, log_id)] = note_digest(note)
        await self.resume_held()

    async def resume_held(self) -> None:
        """Apply entries held back by a reference to another log (``_Held``), fetching nothing.
        Repeats while any log advances, so logs waiting on each other settle in one call."""
        progress = True
        while progress:
            progress = False
            for log_id, held in list(self._held.items()):
                try:
                    done = await self.catch_up(log_id, held.signed, [])
                except LedgerError as exc:
                    if not isinstance(exc, PendingError | PeerError):
                        log.info("held entries refused", extra={"log": log_id, "code": exc.code})
                    continue
                progress = progress or done.size > held.start

    def _check_restored(self, peers: int) -> None:
        """End the restore once enough peers answered and our log reached what they hold."""
        if self._restore_ended:
            return  # ``ended`` is on its way to the event loop
        with self.node.store.read() as reader:
            size = reader.log(self.node.log).size()
        quorum = self.charter().policy.witness_quorum
        if not restore.complete(size, self._own_sizes, peers, quorum):
            return
        self.node.finish_restore()
        self._restore_ended = True
        log.warning(
            "own log restored from peers; the sequencer starts",
            extra={"log": self.node.log, "size": size, "peers": sorted(self._own_sizes)},
        )

        def ended() -> None:
            # The sequencer's start is under way before the node stops saying it restores, so
            # no reader sees a node neither restoring nor taking records (GET /healthz).
            if self.on_restored is not None:
                self.on_restored()
            self.restoring = False
            self._push_all = True  # push our log's checkpoint to every peer
            self.notify_commit()

        if self._loop is None:
            ended()
        else:
            self._loop.call_soon_threadsafe(ended)

    def pushed(self, log_id: str) -> None:
        """The origin of ``log_id`` pushed us a checkpoint of it (``/witness/add-checkpoint``)."""
        self._pushed_at[log_id] = time.monotonic()

    async def catch_up(
        self, log_id: str, signed: notes.SignedCheckpoint, sources: list[str]
    ) -> Extension:
        """Bring our replica of ``log_id`` to the checkpoint ``signed`` (by the origin),
        fetching entries from ``sources`` in turn, and keep the cosignatures it carries.

        Raises:
            NoteError: the note is not signed by the log's origin.
            CheckpointError: it is a checkpoint of another log (``checkpoint.wrong_origin``).
            QuarantinedError: the log is quarantined.
            InvalidEntryError: the log holds an entry that breaks a rule (evidence stored).
            PendingError: an entry waits for another log (or a charter) not held yet.
            PeerError: no source served entries that hash to the signed root.
        """
        charter = self.charter()
        signed.verify([charter.log_verifier_key(log_id)], origin=charter.origin(log_id))
        lock = self._locks.setdefault(log_id, asyncio.Lock())
        async with lock:
            with self.node.store.read() as reader:
                if quarantined(reader, log_id):
                    raise QuarantinedError(f"log {log_id} is quarantined")
                size = reader.log(log_id).size()
            done = Extension(size=size)
            if size < signed.size:
                done = await self._extend_from(log_id, signed, size, sources)
                if done.size > size:
                    self._changed()
            if done.size >= signed.size:
                kept = await asyncio.to_thread(self._keep_cosignatures, charter, log_id, signed)
                if kept:
                    self._changed()
            return done

    async def _extend_from(
        self, log_id: str, signed: notes.SignedCheckpoint, size: int, sources: list[str]
    ) -> Extension:
        ahead: list[bytes] = []  # entries from ``size`` fetched before (``_Held``)
        held = self._held.get(log_id)
        if held is not None and held.start <= size < held.start + len(held.entries):
            ahead = held.entries[size - held.start :]
            if held.signed.size >= signed.size:
                signed = held.signed
        last: Exception | None = None
        # With no source, only what is held can be applied.
        for url in [*sources] if sources else [None]:
            missing = signed.size - size - len(ahead)
            try:
                if missing and url is None:
                    raise PeerError(f"{log_id}: nothing held reaches size {signed.size}")
                fetched = []
                if missing and url is not None:
                    fetched = await self._fetch_entries(url, log_id, size + len(ahead), signed.size)
            except PeerError as exc:
                last = exc
                continue
            entries = ahead + fetched
            for _ in range(3):  # a missing charter document is fetched, then tried again
                try:
                    done = await asyncio.to_thread(self._extend, log_id, signed, entries)
                except ReplicaMismatchError as exc:
                    last, ahead = exc, []  # fetch the whole range from the next source
                    break
                except PendingError as exc:
                    if exc.code != "charter.unknown" or url is None:
                        raise
                    await self._fetch_charters(url)
                    continue
                if done.pending is None:
                    self._held.pop(log_id, None)
                else:
                    rest = entries[done.size - size :]
                    self._held[log_id] = _Held(signed, done.size, rest)
                if url is not None and done.size > size:
                    await self._replicate_envelopes(url, log_id, size, done.size)
                return done
        raise PeerError(f"no peer served entries of {log_id} matching its checkpoint: {last}")

    def _extend(
        self, log_id: str, signed: notes.SignedCheckpoint, entries: list[bytes]
    ) -> Extension:
        verified = self._verify_ahead(log_id, entries)
        self._count("writes")
        try:
            with self.node.store.write() as writer:
                done = extend(
                    writer, log_id, signed, entries, verified=verified, clock=self.node.clock
                )
        except InvalidEntryError as invalid:
            self.report(invalid.evidence)
            raise
        if done.pending is not None and done.pending.code == "charter.unknown":
            raise done.pending
        return done

    def _verify_ahead(
        self, log_id: str, entries: list[bytes]
    ) -> Callable[[int], frozenset[tuple[bytes, bytes, bytes]]] | None:
        """For a long range (a node catching up), have a worker process verify signatures chunk
        by chunk while this thread applies the entries before them; ``None`` for short ranges,
        where starting the work costs more than it saves."""
        if len(entries) < VERIFY_AHEAD_MIN:
            return None
        keys = self._signer_keys(log_id, entries)
        if self._pool is None:
            # spawn: a forked child would inherit the open LMDB environment.
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=exit_with_parent,
                initargs=(os.getpid(),),
            )
        chunks = [
            self._pool.submit(verify_ahead, entries[start : start + VERIFY_AHEAD_CHUNK], keys)
            for start in range(0, len(entries), VERIFY_AHEAD_CHUNK)
        ]

        def verified(offset: int) -> frozenset[tuple[bytes, bytes, bytes]]:
            return chunks[offset // VERIFY_AHEAD_CHUNK].result()

        return verified

    def _signer_keys(self, log_id: str, entries: list[bytes]) -> dict[str, set[bytes]]:
        """Every key the log's signers may use in ``entries``: those registered now, those the
        range itself registers, and the log key. Which one is in force for an entry stays the
        rules' decision: a verified triple names its key."""
        keys: dict[str, set[bytes]] = {}
        with self.node.state() as state:
            for op in state.operators(log_id):
                keys.setdefault(op.operator, set()).add(op.public_key)
            charter = state.adopted_charter(log_id) or self.charter()
        if log_id in charter.participants:
            keys.setdefault(LOG_SIGNER, set()).add(charter.participants[log_id].log_key)
        for raw in entries:
            if b"operator.register" not in raw:  # registrations are rare: parse only those
                continue
            with contextlib.suppress(LedgerError):
                body = Entry.parse(raw).signed.body
                if isinstance(body, OperatorRegister):
                    keys.setdefault(body.operator, set()).add(body.public_key)
        return keys

    def report(self, evidence: Evidence) -> None:
        """Store evidence and quarantine the log it concerns; say so loudly."""
        with self.node.store.write() as writer:
            fresh = record_evidence(writer, evidence)
        if fresh:
            log.error(
                "evidence against a log; it is quarantined",
                extra={
                    "log": evidence.log,
                    "kind": evidence.kind,
                    "code": evidence.code,
                    "detail": evidence.detail,
                },
            )
            if self.on_evidence is not None:
                self.on_evidence(evidence)

    def _keep_cosignatures(
        self, charter: Charter, log_id: str, signed: notes.SignedCheckpoint
    ) -> bool:
        """Attach the cosignatures ``signed`` carries to our stored checkpoint of that size; if
        our stored one has another root, the origin signed two trees of one size. Returns
        whether anything was written.

        The merge is judged in a read transaction first: lines we already hold (or older ones)
        are not verified, and when nothing is new no write transaction is opened at all."""
        keys = charter.cosigner_keys(exclude=log_id)
        quorum = charter.policy.witness_quorum
        merged = None
        with self.node.store.read() as reader:
            ours = reader.log(log_id).checkpoint(signed.size)
            if ours is not None:
                mine = notes.SignedCheckpoint.parse(ours)
                if mine.root == signed.root:
                    merged = merge_cosignatures(mine, signed.signatures, keys)
                    self._count("verifications", merged.verified)
                    if not needs_store(reader, log_id, signed.size, merged, quorum):
                        return False
        self._count("writes")
        with self.node.store.write() as writer:
            stored = writer.log(log_id).checkpoint(signed.size)
            if stored is None:
                if writer.log(log_id).root(signed.size) != signed.root:
                    return False  # cannot happen after extend; nothing to keep
                base = signed.origin_signed()
                writer.log(log_id).put_checkpoint(signed.size, base.to_text())
            else:
                base = notes.SignedCheckpoint.parse(stored)
                if base.root != signed.root:
                    evidence = fork_evidence(
                        log_id,
                        [stored, signed.to_text()],
                        "two signed trees of one size",
                        self.node.clock(),
                    )
                    record_evidence(writer, evidence)
                    return True
            if merged is None or stored != ours:
                # Not judged above, or the note changed since: merge into what is stored now.
                merged = merge_cosignatures(base, signed.signatures, keys)
                self._count("verifications", merged.verified)
            store_merged(writer, log_id, signed.size, merged, quorum)
        return True

    async def _fetch_entries(self, url: str, log_id: str, start: int, end: int) -> list[bytes]:
        entries: list[bytes] = []
        while start + len(entries) < end:
            first = start + len(entries)
            response = await self._get(
                f"{url}/v1/logs/{log_id}/entries",
                params={"start": first, "end": min(end, first + PAGE_ENTRIES)},
            )
            try:
                page = decode(response.content, max_size=len(response.content) + 1)
            except LedgerError as exc:
                raise PeerError(f"{url} served malformed entries: {exc.message}") from exc
            if (
                not isinstance(page, list)
                or not page
                or not all(isinstance(e, bytes) for e in page)
            ):
                raise PeerError(f"{url} served an empty or malformed page")
            entries.extend(e for e in page if isinstance(e, bytes))
        return entries[: end - start]

    async def _replicate_envelopes(self, url: str, log_id: str, start: int, end: int) -> None:
        """Fetch from ``url`` the envelopes of entries ``start <= seq < end`` of ``log_id``
        (held now) and keep those that verify. Failures are logged, never raised: the entries
        are kept already, and the envelopes are public ciphertexts any other copy serves."""
        try:
            fetched = await self._fetch_envelopes(url, log_id, start, end)
        except PeerError as exc:
            log.info("envelopes not fetched", extra={"log": log_id, "peer": url, "why": str(exc)})
            return
        if not fetched:
            return
        charter = self.charter()

        def keep() -> None:
            with self.node.store.write() as writer:
                kept = keep_envelopes(
                    writer,
                    log_id,
                    fetched,
                    network=charter.network,
                    participant=self.node.log,
                    keys=self.node.disclosure_keys,
                )
            for seq, code in kept.refused:
                log.warning(
                    "envelopes refused",
                    extra={"log": log_id, "seq": seq, "peer": url, "code": code},
                )

        await asyncio.to_thread(keep)

    async def _fetch_envelopes(
        self, url: str, log_id: str, start: int, end: int
    ) -> dict[int, bytes]:
        """seq → encoded envelopes, as ``url`` serves them for ``start <= seq < end``."""
        found: dict[int, bytes] = {}
        first = start
        while first < end:
            response = await self._get(
                f"{url}/v1/logs/{log_id}/envelopes", params={"start": first, "end": end}
            )
            try:
                page = decode(response.content, max_size=MAX_ENVELOPES_PAGE_BYTES)
            except LedgerError as exc:
                raise PeerError(f"{url} served malformed envelopes: {exc.message}") from exc
            stop = page.get("end") if isinstance(page, dict) else None
            items = page.get("envelopes") if isinstance(page, dict) else None
            if not isinstance(stop, int) or not first < stop <= end or not isinstance(items, list):
                raise PeerError(f"{url} served a malformed page of envelopes")
            for item in items:
                if (
                    not isinstance(item, list)
                    or len(item) != 2
                    or not isinstance(item[0], int)
                    or not first <= item[0] < stop
                    or not isinstance(item[1], bytes)
                ):
                    raise PeerError(f"{url} served a malformed page of envelopes")
                found[item[0]] = item[1]
            first = stop
        return found

    async def _fetch_charters(self, url: str) -> None:
        """Fetch and publish every charter version the peer knows, from the genesis to its
        newest: a log's first entry may adopt version N, which needs the whole chain below it
        (decision 0024), and the peer's own adoption may be older than what others adopted."""
        network = await self._get_json(f"{url}/v1/network")
        try:
            chain = network.get("charters", [])
            items = [*chain[:MAX_CHARTER_VERSIONS], network["charter"]]
            documents = [
                SignedCharter.parse(base64.b64decode(item["document"], validate=True))
                for item in items
            ]
        except (AttributeError, KeyError, TypeError, ValueError, LedgerError) as exc:
            raise PeerError(f"{url} served no usable charter documents") from exc

        def publish() -> None:
            # Publishing is safe: adopting a version still requires the TUF rule.
            for signed in documents:
                self.node.publish_charter(signed)

        await asyncio.to_thread(publish)
        self._charters_changed = True

    # --- the charter versions each log has adopted ---------------------------------------------

    def watch_charters(self) -> CharterStatus | None:
        """Compare each member's adopted version with the newest this node knows; log a WARNING
        when a member falls behind or its version changes while behind, INFO when it catches
        up. Returns the status (for metrics)."""
        status = self.node.charter_status()
        if status is None:
            return None
        for member in status.logs:
            seen = self._adoptions_seen.get(member.log)
            now = (member.adopted_version, status.newest.version, member.behind)
            if seen == now:
                continue
            self._adoptions_seen[member.log] = now
            extra = {
                "log": member.log,
                "adopted_version": member.adopted_version,
                "newest_version": status.newest.version,
            }
            if member.behind:
                log.warning("member's log is behind the newest charter version", extra=extra)
            elif seen is not None and seen[2]:
                log.info("member's log adopted the newest charter version", extra=extra)
        if self.on_charter_status is not None:
            self.on_charter_status(status)
        return status

    # --- push ---------------------------------------------------------------------------------

    async def _push_forever(self) -> None:
        believed: dict[str, int] = {}  # the size each witness last said it cosigned
        shared: dict[str, int] = {}  # the witnessed size each peer was last sent, cosigned
        in_flight: dict[str, asyncio.Task[None]] = {}
        due: dict[str, float] = {}  # peer → when it is owed a push (after a failure: later)
        failures: dict[str, int] = {}
        started: dict[str, float] = {}  # peer → when its last push began
        escalate_at: float | None = None  # not witnessed by then: the next witnesses are asked
        first: list[str] = []  # the first witnesses of the newest commit

        async def push(peer: str, url: str, follow: bool) -> None:
            try:
                pushed = await self._push_to(peer, url, believed, shared, follow=follow)
            except Exception as exc:  # our own failure (the store): try again later, as for
                # a peer's, rather than end this peer's pushes with an unretrieved exception
                log.exception("push failed here", extra={"peer": peer, "code": _code(exc)})
                pushed = False
            if pushed:
                failures.pop(peer, None)
                return
            failures[peer] = failures.get(peer, 0) + 1
            wait = min(self.max_interval, self.interval * 2 ** (failures[peer] - 1))
            due[peer] = time.monotonic() + wait
            self._commit.set()  # the loop below sleeps until the earliest retry

        while True:
            now = time.monotonic()
            wake = [*due.values(), *([] if escalate_at is None else [escalate_at])]
            timeout = max(0.0, min(wake) - now) if wake else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._commit.wait(), timeout=timeout)
            self._commit.clear()
            if self.restoring:
                continue  # what we hold of our log came from the witnesses themselves
            try:
                peers = self.peers()
            except PendingError:
                await asyncio.sleep(self.interval)
                continue
            now = time.monotonic()
            if self._push_all:
                # At start and after a restore: every peer is owed our newest checkpoint now,
                # a failed one included.
                self._push_all = self._committed = False
                escalate_at = None
                due = dict.fromkeys(peers, now)
            elif escalate_at is not None and now >= escalate_at:
                # The first witnesses did not cosign in time: as many more are asked, the next
                # in the same order, and so on each interval until the quorum is reached.
                quorum = self._quorum()
                ranked = first_witnesses(self.node.log, peers, failures, len(peers))
                first = ranked[: len(first) + quorum + 1]
                for peer in first:
                    due.setdefault(peer, now)
                escalate_at = now + self.interval
            if self._committed:
                self._committed = False
                first = first_witnesses(self.node.log, peers, failures, self._quorum())
                for peer in first:
                    due[peer] = now
                if escalate_at is None:
                    escalate_at = now + self.interval
            if self._witnessed:
                # Every copy of our log should serve it witnessed: each peer is sent it, but
                # however fast we commit, a first witness no more often than every
                # ``interval``, any other peer less often still (at most ``max_interval``).
                self._witnessed = False
                # A commit made since is still owed its quorum: the timer goes on for it.
                escalate_at = None if self._newest_is_witnessed() else now + self.interval
                # The others share one budget the size of the first witnesses': as many shares
                # per interval, so the origin's pushes do not grow with the network.
                others = max(1, len(peers) - len(first))
                slow = min(
                    self.max_interval, self.interval * math.ceil(others / max(1, len(first)))
                )
                for peer in peers:
                    spacing = self.interval if peer in first else slow
                    later = max(now, started.get(peer, 0.0) + spacing)
                    due[peer] = min(due.get(peer, later), later)
            for peer, url in peers.items():
                if due.get(peer, now + 1) > now:
                    continue
                del due[peer]
                task = in_flight.get(peer)
                if task is not None and not task.done():
                    # One request in flight per peer: a first witness's reads our newest
                    # checkpoint again after each answer, so it pushes what was committed
                    # meanwhile; any other peer is owed the next witnessed one.
                    continue
                started[peer] = now
                follow = peer in first  # a first witness follows our commits
                in_flight[peer] = asyncio.create_task(push(peer, url, follow))
            for peer in [p for p in due if p not in peers]:
                del due[peer]

    async def _push_to(
        self,
        peer: str,
        url: str,
        believed: dict[str, int],
        shared: dict[str, int],
        *,
        follow: bool = True,
    ) -> bool:
        """Push our newest checkpoint to ``peer`` until it has cosigned it (and, once
        witnessed, been sent it with its cosignatures); with ``follow``, also each checkpoint
        committed meanwhile. Returns ``False`` if it failed and should be tried again later."""
        charter = self.charter()
        # Until this witness has cosigned our newest checkpoint: a 409 tells its size, and a
        # commit made while a request was in flight is pushed right after it. Once the newest
        # checkpoint is witnessed, it goes once more to every peer with all its cosignatures,
        # so that every copy of our log is served witnessed without waiting for a pull.
        answered = False
        for _ in range(8):
            if answered and not follow:
                return True  # not a first witness: one checkpoint per push, not each commit
            with self.node.store.read() as reader:
                own = reader.log(self.node.log)
                latest = own.latest_checkpoint()
                if latest is None:
                    return True
                size, note = latest
                old = believed.get(peer, 0)
                # The note as stored carries the cosignatures gathered so far: once it is
                # witnessed, the push that brings it is also the one that shares it.
                already = witnessed(reader, self.node.log) == size
                sharing = old >= size and already
                if old >= size and not (sharing and shared.get(peer, 0) < size):
                    return True
                proof = own.consistency_proof(old, size) if 0 < old < size else []
            body = (
                f"old {min(old, size)}\n"
                + "".join(base64.b64encode(h).decode() + "\n" for h in proof)
                + "\n"
                + note
            )
            try:
                response = await self.client.post(
                    f"{url}/witness/add-checkpoint", content=body.encode()
                )
            except httpx.HTTPError as exc:
                log.info("push failed", extra={"peer": peer, "detail": str(exc)})
                return False
            if response.status_code == 409 and response.text.strip().isdigit():
                believed[peer] = int(response.text.strip())
                continue
            if response.status_code != 200:
                log.info(
                    "witness refused",
                    extra={
                        "peer": peer,
                        "status": response.status_code,
                        "detail": response.text[:300],
                    },
                )
                return False
            believed[peer] = size
            answered = True
            if already:
                shared[peer] = size  # and its cosignature is one more than the quorum needs
                continue
            keys = charter.cosigner_keys(exclude=self.node.log)
            try:
                lines = notes.parse_signature_lines(response.text)
                count = await asyncio.to_thread(self._attach, size, lines, keys, charter)
            except LedgerError as exc:
                log.warning("bad cosignature", extra={"peer": peer, "code": exc.code})
                return False
            log.debug("cosigned", extra={"peer": peer, "size": size, "cosigners": count})
        return False  # still moving after eight rounds: the retry picks it up

    def _attach(
        self, size: int, lines: Sequence[notes.NoteSignature], keys: list[str], charter: Charter
    ) -> int:
        with self.node.store.write() as writer:
            before = witnessed(writer, self.node.log)
            count = add_cosignatures(
                writer, self.node.log, size, lines, keys, charter.policy.witness_quorum
            )
            after = witnessed(writer, self.node.log)
        if after > before and self._loop is not None:
            # Share the witnessed checkpoint with every peer now (this runs in a worker thread).
            self._loop.call_soon_threadsafe(self._notify_witnessed)
            if self.on_witnessed is not None:
                self.on_witnessed(after)
        return count

    # --- HTTP ---------------------------------------------------------------------------------

    async def _get(self, url: str, params: dict[str, Any] | None = None) -> httpx.Response:
        try:
            response = await self.client.get(url, params=params)
        except httpx.HTTPError as exc:
            raise PeerError(f"{url}: {exc}") from exc
        if response.status_code != 200:
            raise PeerError(f"{url} answered {response.status_code}")
        return response

    async def _get_json(self, url: str, params: dict[str, Any] | None = None) -> Any:
        response = await self._get(url, params)
        try:
            return response.json()
        except ValueError as exc:
            raise PeerError(f"{url} answered malformed JSON") from exc

    async def _get_text(self, url: str) -> str:
        return (await self._get(url)).text


def first_witnesses(
    log: str, peers: dict[str, str], failures: dict[str, int], quorum: int
) -> list[str]:
    """The peers a new checkpoint of ``log`` is pushed to first: ``quorum`` and one spare (with
    ``quorum`` the number of peers, every peer in that order).

    Peers whose last push failed come last. Among the rest the order is a hash of the log and
    the peer, so every log has witnesses of its own and no node is every log's first witness.
    """
    ranked = sorted(
        peers,
        key=lambda peer: (
            failures.get(peer, 0) > 0,
            hashlib.sha256(f"{log}\n{peer}".encode()).digest(),
        ),
    )
    return ranked[: quorum + 1]
