"""Movements: the one row per entry that KP statistics count (KPCS Section V, Annex III).

A movement is what an accepted entry did to a participant's rough-diamond stock, reduced to the
public fields statistics need: a ``parcel.produce`` (production), a ``certificate.issue``
(export), a ``certificate.confirm`` (import), a ``certificate.reject`` and a
``certificate.void`` (which take a certificate out of the awaiting and export figures). Every
other record moves nothing across a border and has no row.

``movement`` is the one function that makes a row, from the entry and the ledger state *after*
the entry was applied. It reads only what no later entry changes (a parcel's mass and HS code, a
certificate's number and origins), so the same row comes out on a node as it appends or
replicates the entry (node/engine/statistics.py), when the node rebuilds its index from the final
state, and in a verifier's full replay (client/stats.py): the index and the replay cannot drift.

A row carries the mass per HS code of the parcels themselves — a certificate of a 7102.21 and a
7102.31 parcel counts each parcel's mass under its own code, never under a joined code — and no
sealed value: values are read by members, through the disclosure policy (decision 0040).

The canonical encoding of a row (``encode``) is what the index stores and hashes into each log's
movement digest (decision 0045): a node's digest of a log's rows up to a size is a pure function
of that log's prefix, so honest nodes agree on it and a client can compare them.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from typing import Any

from node.core.clock import utc_date
from node.core.encoding import Value, decode_trusted, encode
from node.core.errors import LogCorruptError
from node.core.records import (
    CertificateConfirm,
    CertificateIssue,
    CertificateReject,
    CertificateVoid,
    Entry,
    EntryRef,
    ParcelProduce,
)
from node.core.state import LedgerView

__all__ = [
    "KINDS",
    "Movement",
    "chain_digest",
    "movement",
]

KINDS = ("production", "export", "import", "reject", "void")
_DIGEST_START = hashlib.sha256(b"kp-ledger/movements/v1\n").digest()
_KEYS = frozenset(
    {
        "kind",
        "participant",
        "date",
        "recorded_on",
        "entry",
        "hs",
        "partner",
        "origins",
        "mine",
        "certificate",
        "number",
        "expires_on",
        "valued",
    }
)


@dataclass(frozen=True, slots=True)
class Movement:
    """One entry's movement of rough diamonds (public fields only).

    Attributes:
        kind: one of ``KINDS``.
        participant: whose figures it counts in: the log that recorded it.
        date: the date it counts on: ``produced_on``, ``issued_on``, ``received_on``, or the
            entry's UTC date for a reject or void.
        recorded_on: the entry's UTC date (a confirmation recorded long after receipt shows here).
        entry: the entry that records it.
        by_hs_code: centicarats per HS code: the parcels' own codes and masses.
        partner: the importing participant of an export, the issuer of an import, reject or void's
            certificate (the importer, for a void).
        origins: the mining origins (a production's own participant).
        mine: the mine operator of a production.
        certificate: the hash of the certificate.issue entry (certificate movements).
        number: the certificate number.
        expires_on: an export's expiry date.
        valued: a production that seals a declared ``value_usd_cents`` (a certificate always
            seals one).
    """

    kind: str
    participant: str
    date: str
    recorded_on: str
    entry: EntryRef
    by_hs_code: tuple[tuple[str, int], ...]
    partner: str | None = None
    origins: tuple[str, ...] = ()
    mine: str | None = None
    certificate: bytes | None = None
    number: str | None = None
    expires_on: str | None = None
    valued: bool = False

    @property
    def centicarats(self) -> int:
        """The whole mass moved (one or a few HS codes: summed on each use, which costs less
        than keeping it in each of a year's rows)."""
        return sum(cc for _, cc in self.by_hs_code)

    @property
    def hs_codes(self) -> tuple[str, ...]:
        return tuple(code for code, _ in self.by_hs_code)

    def to_value(self) -> dict[str, Value]:
        """The canonical map the index stores (absent fields are left out)."""
        value: dict[str, Value] = {
            "kind": self.kind,
            "participant": self.participant,
            "date": self.date,
            "recorded_on": self.recorded_on,
            "entry": self.entry.to_value(),
            "hs": [[code, cc] for code, cc in self.by_hs_code],
        }
        optional: dict[str, Value] = {
            "partner": self.partner,
            "origins": list(self.origins) if self.origins else None,
            "mine": self.mine,
            "certificate": self.certificate,
            "number": self.number,
            "expires_on": self.expires_on,
            "valued": True if self.valued else None,
        }
        value.update({k: v for k, v in optional.items() if v is not None})
        return value

    def encode(self) -> bytes:
        return encode(self.to_value())

    @classmethod
    def from_value(cls, value: Value) -> Movement:
        """A row as stored or served; raises ``LogCorruptError`` on any other shape (the
        caller that reads a peer's answer translates it).

        A client reads a year of rows at once, so this is written for speed: one pass, the
        texts that repeat from row to row (kinds, participants, dates, codes) interned.
        """
        try:
            if not isinstance(value, dict) or not value.keys() <= _KEYS:
                raise TypeError("not a movement map")
            log, seq, digest = _list(value["entry"])
            hs = value["hs"]
            if not isinstance(hs, list):
                raise TypeError("hs")
            by_hs = []
            for pair in hs:
                code, cc = _list(pair)
                by_hs.append((_text(code), _count(cc)))
            origins = value.get("origins", ())
            found = cls(
                _text(value["kind"]),
                _text(value["participant"]),
                _text(value["date"]),
                _text(value["recorded_on"]),
                EntryRef(_text(log), _count(seq), _digest(digest)),
                tuple(by_hs),
                partner=_maybe_text(value.get("partner")),
                origins=tuple(_text(o) for o in _list(origins)) if origins else (),
                mine=_maybe_text(value.get("mine")),
                certificate=_maybe(value.get("certificate"), _digest),
                number=_maybe(value.get("number"), _plain_text),
                expires_on=_maybe_text(value.get("expires_on")),
                valued=_flag(value.get("valued")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise LogCorruptError(f"a movement of the wrong shape: {exc}") from exc
        if found.kind not in KINDS:
            raise LogCorruptError(f"a movement of an unknown kind {found.kind!r:.40}")
        return found

    @classmethod
    def decode(cls, raw: bytes) -> Movement:
        return cls.from_value(decode_trusted(raw))

    @classmethod
    def from_json(cls, value: object) -> Movement:
        """A row as ``to_json`` wrote it (a node's answer); raises ``LogCorruptError`` on any
        other shape, which the client translates for the node that sent it."""
        try:
            if not isinstance(value, dict):
                raise TypeError("not an object")
            log, seq, digest = _text(value["entry"]).split(":")
            hs = value["by_hs_code"]
            certificate = value.get("certificate")
            if not isinstance(hs, dict) or not seq.isdigit():
                raise TypeError("entry or by_hs_code")
            stored: dict[str, Value] = {
                "kind": value["kind"],
                "participant": value["participant"],
                "date": value["date"],
                "recorded_on": value["recorded_on"],
                "entry": [log, int(seq), bytes.fromhex(digest)],
                "hs": [[k, v] for k, v in hs.items()],
                "origins": value.get("origins") or [],
            }
            for name in ("partner", "mine", "number", "expires_on"):
                stored[name] = value.get(name)
            stored["valued"] = True if value.get("valued") else None
            stored["certificate"] = None if certificate is None else bytes.fromhex(certificate)
        except (KeyError, TypeError, ValueError) as exc:
            raise LogCorruptError(f"a movement of the wrong shape: {exc}") from exc
        return cls.from_value(stored)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "participant": self.participant,
            "date": self.date,
            "recorded_on": self.recorded_on,
            "entry": f"{self.entry.log}:{self.entry.seq}:{self.entry.hash.hex()}",
            "centicarats": self.centicarats,
            "by_hs_code": dict(self.by_hs_code),
            "partner": self.partner,
            "origins": list(self.origins),
            "mine": self.mine,
            "certificate": None if self.certificate is None else self.certificate.hex(),
            "number": self.number,
            "expires_on": self.expires_on,
            "valued": self.valued,
        }


def movement(ref: EntryRef, entry: Entry, view: LedgerView) -> Movement | None:
    """The movement an accepted entry recorded, read from the state after it was applied.

    Args:
        ref: the entry's reference (its log, seq and hash).
        entry: the entry.
        view: the ledger state once the entry has been applied (or any later state).

    Returns:
        The row, or None for a record that moves nothing across a border.
    """
    body = entry.signed.body
    recorded = utc_date(entry.time)
    if isinstance(body, ParcelProduce):
        return Movement(
            "production",
            ref.log,
            body.produced_on,
            recorded,
            ref,
            ((body.hs_code, body.centicarats),),
            origins=(ref.log,),
            mine=body.mine,
            valued="value_usd_cents" in entry.signed.record["sealed"],  # type: ignore[operator]
        )
    if isinstance(body, CertificateIssue):
        masses: dict[str, int] = {}
        for parcel_ref in body.parcels:
            parcel = view.parcel(parcel_ref.log, parcel_ref.seq, parcel_ref.out)
            if parcel is None:
                raise LogCorruptError(f"certificate {body.number}: a parcel is not in the state")
            masses[parcel.hs_code] = masses.get(parcel.hs_code, 0) + parcel.centicarats
        return Movement(
            "export",
            ref.log,
            body.issued_on,
            recorded,
            ref,
            tuple(sorted(masses.items())),
            partner=body.importing,
            origins=body.origins,
            certificate=ref.hash,
            number=body.number,
            expires_on=body.expires_on,
        )
    if isinstance(body, CertificateConfirm):
        certificate = view.certificate(body.certificate.log, body.certificate.seq)
        if certificate is None:
            raise LogCorruptError("a confirmed certificate is not in the state")
        received: dict[str, int] = {}
        for output in body.parcels:
            received[output.hs_code] = received.get(output.hs_code, 0) + output.centicarats
        return Movement(
            "import",
            ref.log,
            body.received_on,
            recorded,
            ref,
            tuple(sorted(received.items())),
            partner=body.certificate.log,
            origins=certificate.origins,
            certificate=body.certificate.hash,
            number=certificate.number,
        )
    if isinstance(body, CertificateReject | CertificateVoid):
        certificate = view.certificate(body.certificate.log, body.certificate.seq)
        if certificate is None:
            raise LogCorruptError("a rejected or voided certificate is not in the state")
        rejected = isinstance(body, CertificateReject)
        return Movement(
            "reject" if rejected else "void",
            ref.log,
            recorded,
            recorded,
            ref,
            (),
            partner=body.certificate.log if rejected else certificate.importing,
            certificate=body.certificate.hash,
            number=certificate.number,
        )
    return None


def chain_digest(previous: bytes | None, row: bytes) -> bytes:
    """The digest of a log's movements after one more row: SHA-256 over the previous digest and
    the row's canonical bytes, from a fixed start for the log's first row."""
    return hashlib.sha256((previous or _DIGEST_START) + row).digest()


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r:.40} is not text")
    return sys.intern(value)


def _plain_text(value: object) -> str:
    if not isinstance(value, str):  # a certificate number: one per row, not worth interning
        raise TypeError(f"{value!r:.40} is not text")
    return value


def _maybe_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _count(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError(f"{value!r:.40} is not a count")
    return value


def _digest(value: object) -> bytes:
    if not isinstance(value, bytes) or len(value) != 32:
        raise TypeError("not a 32-byte hash")
    return value


def _list(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError("not a list")
    return value


def _flag(value: object) -> bool:
    # Stored only when true, so that one row has one encoding.
    if value is None:
        return False
    if value is not True:
        raise TypeError("valued is true or absent")
    return True


def _maybe(value: object, parse: Any) -> Any:
    return None if value is None else parse(value)
