"""The one error tree of KP Ledger.

Every failure the ledger reports on purpose is a ``LedgerError`` with a stable ``code`` string: the
HTTP API puts it in problem+json, the command lines print it, verifiers list it as a finding.
Foreign exceptions (msgpack, lmdb, OpenSSL, httpx) are translated once, at the edge that meets them.

    LedgerError
    ├── EncodingError            input is not the canonical msgpack of DESIGN §4
    ├── CharterError             a charter version is malformed or its signatures fall short
    ├── KeyFileError             a key file is missing, malformed, wrongly protected or encrypted
    ├── KeyFormatError           a C2SP verifier or signer key string is malformed
    ├── KeyNotInForceError       this node's log key is not the one its log's charter lists
    ├── NoteError                a signed note is malformed or fails verification
    │   └── CheckpointError      a note's text is not a strict C2SP tlog-checkpoint
    ├── ProofError               a Merkle inclusion or consistency proof does not verify
    ├── RecordError              a signed record or entry is structurally invalid
    │   ├── SignatureError       a record signature is missing, unknown or does not verify
    │   └── DisclosureError      a sealed value does not match its commitment
    ├── RuleError                a well-formed record breaks a rule of DESIGN §6
    │   └── PendingError         it references an entry this store does not hold yet
    └── StoreError               the LMDB store failed or holds something it must not
        └── LogCorruptError      stored entries, tree nodes or checkpoints disagree
"""

from __future__ import annotations

__all__ = [
    "CharterError",
    "CheckpointError",
    "DisclosureError",
    "EncodingError",
    "KeyFileError",
    "KeyFormatError",
    "KeyNotInForceError",
    "LedgerError",
    "LogCorruptError",
    "NoteError",
    "PendingError",
    "ProofError",
    "RecordError",
    "RuleError",
    "SignatureError",
    "StoreError",
]


class LedgerError(Exception):
    """Root of every error KP Ledger raises on purpose.

    Attributes:
        code: stable, dotted identifier of the failure (``encoding.non_canonical``); clients
            and tests match on it, never on the message.
    """

    code: str = "ledger.error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class EncodingError(LedgerError):
    code = "encoding.invalid"


class CharterError(LedgerError):
    code = "charter.invalid"


class KeyFileError(LedgerError):
    code = "key.file_invalid"


class KeyFormatError(LedgerError):
    code = "key.format_invalid"


class KeyNotInForceError(LedgerError):
    """The node holds a log key other than the one its log's adopted charter lists: a rotation
    was adopted and the node still runs on the old key (or was given the new one too early).
    It appends nothing until restarted on the right key (docs/operations.md)."""

    code = "key.not_in_force"


class NoteError(LedgerError):
    code = "note.invalid"


class CheckpointError(NoteError):
    code = "checkpoint.invalid"


class ProofError(LedgerError):
    code = "proof.invalid"


class RecordError(LedgerError):
    code = "record.invalid"


class SignatureError(RecordError):
    code = "signature.invalid"


class DisclosureError(RecordError):
    code = "disclosure.mismatch"


class RuleError(LedgerError):
    """A record that parsed but may not be appended; ``code`` names the rule it breaks."""

    code = "rule.violation"


class PendingError(RuleError):
    """Not a verdict: the record points into a log (or charter) this store has not reached yet.

    The sequencer refuses it; a replica waits for the referenced log and tries again.
    """

    code = "reference.unknown"


class StoreError(LedgerError):
    code = "store.failed"


class LogCorruptError(StoreError):
    code = "store.corrupt"
