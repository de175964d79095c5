"""The receipt: what a submitter keeps of an appended record (DESIGN §7), in one shape.

The sequencer makes one when its commit is durable; the API sends ``to_json``; the SDK reads it
back with ``from_json``, strictly, so that a node's malformed answer fails at the edge and not
later where a field is used. The inclusion proof is carried twice on the wire, as a list of
base64 hashes and as a standalone c2sp.org/tlog-proof text, for clients that want either; both
are derived here from the same fields, and ``from_json`` refuses a receipt whose two disagree.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, TypeVar

from node.core.encoding import Value
from node.core.errors import LedgerError, ReceiptError
from node.core.notes import MAX_NOTE_BYTES, MAX_TLOG_PROOF_HASHES, SignedCheckpoint, TlogProof

__all__ = ["Receipt"]

_MAX_LOG_ID = 64  # far above any participant id (DESIGN §2)

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Receipt:
    """Proof that an entry is in a log.

    Attributes:
        entry_hash: the entry's RFC 6962 leaf hash.
        log: the participant id of the log.
        seq: the entry's index in the log.
        checkpoint: the signed C2SP checkpoint note the proof leads to: the commit's, or the
            newest witnessed one when ``witnessed``.
        proof: the RFC 9162 inclusion proof of ``seq`` in that checkpoint's tree.
        witnessed: whether the checkpoint carries the witness quorum.
    """

    entry_hash: bytes
    log: str
    seq: int
    checkpoint: str
    proof: tuple[bytes, ...]
    witnessed: bool = False

    def entry_ref(self) -> list[Value]:
        """``[log, seq, hash]``: the entry, as records reference it."""
        return [self.log, self.seq, self.entry_hash]

    def parcel_ref(self, out: int = 0) -> list[Value]:
        """``[log, seq, hash, out]``: the parcel ``out`` the entry created."""
        return [self.log, self.seq, self.entry_hash, out]

    def tlog_proof(self) -> str:
        """The proof as one c2sp.org/tlog-proof text."""
        return TlogProof(self.seq, self.proof, self.checkpoint).to_text()

    def to_json(self) -> dict[str, Any]:
        """The receipt as the API sends it (the ``ReceiptModel`` of the OpenAPI document)."""
        return {
            "entry_hash": self.entry_hash.hex(),
            "log": self.log,
            "seq": self.seq,
            "checkpoint": self.checkpoint,
            "proof": [base64.b64encode(h).decode() for h in self.proof],
            "tlog_proof": self.tlog_proof(),
            "witnessed": self.witnessed,
        }

    @classmethod
    def from_json(cls, document: object) -> Receipt:
        """Read a receipt as ``to_json`` writes it. Nothing is verified: the checkpoint is
        parsed, not checked against a key (a verifier does that with the charter's keys).

        Raises:
            ReceiptError: a field is missing, of the wrong type, out of bounds, or the two
                forms of the proof disagree (``receipt.malformed``).
        """
        if not isinstance(document, dict):
            raise ReceiptError("a receipt is a JSON object")
        try:
            entry_hash = bytes.fromhex(_field(document, "entry_hash", str))
            log = _field(document, "log", str)
            seq = _field(document, "seq", int)
            checkpoint = _field(document, "checkpoint", str)
            hashes = _field(document, "proof", list)
            witnessed = _field(document, "witnessed", bool)
            if len(hashes) > MAX_TLOG_PROOF_HASHES or not all(isinstance(h, str) for h in hashes):
                raise ReceiptError("a receipt's proof is a list of at most 64 base64 hashes")
            proof = tuple(base64.b64decode(h, validate=True) for h in hashes)
        except (ValueError, binascii.Error) as exc:
            raise ReceiptError(f"a receipt field is not hex or base64: {exc}") from None
        if len(entry_hash) != 32 or any(len(h) != 32 for h in proof):
            raise ReceiptError("a receipt's hashes are SHA-256 hashes")
        if not 0 < len(log) <= _MAX_LOG_ID or seq < 0 or len(checkpoint) > MAX_NOTE_BYTES:
            raise ReceiptError("a receipt's log, seq or checkpoint is out of bounds")
        try:
            SignedCheckpoint.parse(checkpoint)
        except LedgerError as exc:
            raise ReceiptError(f"a receipt's checkpoint: {exc.code}: {exc.message}") from None
        receipt = cls(entry_hash, log, seq, checkpoint, proof, witnessed)
        if document.get("tlog_proof", receipt.tlog_proof()) != receipt.tlog_proof():
            raise ReceiptError("a receipt's tlog-proof is not its proof and checkpoint")
        return receipt


def _field(document: dict[str, Any], name: str, kind: type[_T]) -> _T:
    value = document.get(name)
    # bool is an int to Python, not to JSON: a seq of true is not a seq.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ReceiptError(f"a receipt's {name} is missing or not a {kind.__name__}")
    return value
