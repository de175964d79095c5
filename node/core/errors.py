"""The one error tree of KP Ledger.

Every failure the ledger reports on purpose is a ``LedgerError`` with a stable ``code`` string: the
HTTP API puts it in problem+json (with the status node/server/problems.py gives each class), the
command lines print it, verifiers list it as a finding. Foreign exceptions (msgpack, lmdb,
OpenSSL, httpx) are translated once, at the edge that meets them. The client's own errors, which
no node raises, extend this tree in client/errors.py (``ClientError`` and its subclasses, each with
its code: ``client.malformed`` for a node's malformed answer) and client/verify.py.

    LedgerError
    │   ── the records, notes and proofs (node.core) ──
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
    │   ├── DisclosureError      a sealed value does not match its commitment
    │   └── ReceiptError         a receipt (of an appended record) is malformed
    ├── RuleError                a well-formed record breaks a rule of DESIGN §6
    │   └── PendingError         it references an entry this store does not hold yet
    ├── AuthError                a member request's RFC 9421 signature is missing or fails
    ├── DisclosureRefusedError   the disclosure policy refuses a verified member (decision 0040)
    ├── EnvelopeError            an encrypted disclosure is malformed or does not open (0041)
    ├── BundleError              a provenance bundle is not of the form of DESIGN §9
    │   ── one node's log (node.engine) ──
    ├── StoreError               the LMDB store failed or holds something it must not
    │   └── LogCorruptError      stored entries, tree nodes or checkpoints disagree
    ├── ConfigError              a setting is missing, malformed or out of its bounds
    ├── DataDirError             the data directory is missing, unsafe or held by another node
    ├── NotAdoptedError          the node has adopted no charter yet
    ├── RestoringError           the node is getting its own log back from peers
    ├── SequencerBusyError       the writer's queue is full: retry
    ├── SequencerStoppedError    the writer has stopped
    ├── ReplicaMismatchError     fetched entries do not hash to the signed root (a bad peer)
    ├── QuarantinedError         the log is quarantined under evidence
    ├── InvalidEntryError        an entry its origin signed breaks a rule: carries the evidence
    ├── WitnessError             an add-checkpoint request is malformed
    │   ── the running node (node.server) ──
    ├── ApiError                 a refusal whose HTTP status is chosen where it is raised
    ├── RequestError             a read's body is malformed, or asks for more than its bound
    ├── RequestTooLargeError     a body or a submission in it is over its bound
    ├── ClientBusyError          this client address has its share of the writer's queue
    ├── PeerError                a peer could not be reached or answered nonsense
    │   ── development tools (node.dev) ──
    ├── DevnetError              a local network could not be started or stopped
    ├── ScenarioError            the README scenario did not go as written
    │   ── the client, which no node raises (client/errors.py, client/verify.py) ──
    ├── ClientError              a node could not be asked, refused, or answered malformed
    └── VerificationError        a bundle does not verify
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "AuthError",
    "BundleError",
    "CharterError",
    "CheckpointError",
    "ClientBusyError",
    "ConfigError",
    "DataDirError",
    "DevnetError",
    "DisclosureError",
    "DisclosureRefusedError",
    "EncodingError",
    "EnvelopeError",
    "InvalidEntryError",
    "KeyFileError",
    "KeyFormatError",
    "KeyNotInForceError",
    "LedgerError",
    "LogCorruptError",
    "NotAdoptedError",
    "NoteError",
    "PeerError",
    "PendingError",
    "ProofError",
    "QuarantinedError",
    "ReceiptError",
    "RecordError",
    "ReplicaMismatchError",
    "RequestError",
    "RequestTooLargeError",
    "RestoringError",
    "RuleError",
    "ScenarioError",
    "SequencerBusyError",
    "SequencerStoppedError",
    "SignatureError",
    "StoreError",
    "WitnessError",
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


class ReceiptError(RecordError):
    code = "receipt.malformed"


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


class AuthError(LedgerError):
    """A member request is unsigned, or its signature does not satisfy the ``kp`` profile.

    Codes: ``auth.missing`` (no ``kp`` signature), ``auth.malformed`` (unparsable or oversize
    fields, missing parameters), ``auth.components`` (required components not covered, or the
    body does not match the signed Content-Digest), ``auth.algorithm`` (``alg`` is not
    ``ed25519``), ``auth.unknown_key`` (the key id does not resolve), ``auth.key_not_in_force``
    (the key is registered but may not act today: revoked, past its ``valid_until``, or its
    participant suspended; raised by the caller's ``resolve``), ``auth.bad_signature``
    (the signature does not verify), ``auth.expired`` (``created`` outside the window).
    """

    code = "auth.failed"


class DisclosureRefusedError(LedgerError):
    """A member whose request verified may not read what it asked for (node/core/disclosure.py,
    decision 0040). Codes: ``disclosure.not_entitled`` (no party to the record, nor the
    authority of one), ``disclosure.suspended`` (its participant is suspended),
    ``disclosure.key_not_in_force`` (its operator key is revoked, past ``valid_until`` or not
    registered), ``disclosure.aggregates_only`` (an observer: statistics, not one record's
    values), ``disclosure.not_sealed`` (the record seals no such field)."""

    code = "disclosure.not_entitled"


class EnvelopeError(LedgerError):
    """An envelope (the disclosures of an entry encrypted to one participant, decision 0041) is
    malformed, addressed to a participant the policy does not name, does not decrypt with its
    key and context, or decrypts to values that do not open the record's commitments. Codes:
    ``envelope.malformed``, ``envelope.not_recipient``, ``envelope.absent`` (none addressed to
    the participant), ``envelope.invalid``."""

    code = "envelope.invalid"


class BundleError(LedgerError):
    """A provenance bundle is not JSON of its media type, a field is missing, of another type
    or over its bound, or an entry appears twice (node/core/bundle.py). Codes:
    ``bundle.malformed``, and ``tlog_proof.malformed`` for an entry's tlog-proof."""

    code = "bundle.malformed"


class ConfigError(LedgerError):
    code = "config.invalid"


class DataDirError(LedgerError):
    code = "datadir.invalid"


class NotAdoptedError(LedgerError):
    code = "charter.not_adopted"


class RestoringError(LedgerError):
    """The node is restoring its own log from peers and appends nothing until it is back."""

    code = "node.restoring"


class SequencerBusyError(LedgerError):
    code = "sequencer.busy"


class SequencerStoppedError(LedgerError):
    code = "sequencer.stopped"


class ReplicaMismatchError(LedgerError):
    """The fetched entries do not hash to the signed root: bad data from a peer, not a lie of
    the origin. Fetch them again elsewhere."""

    code = "replica.mismatch"


class QuarantinedError(LedgerError):
    code = "log.quarantined"


class InvalidEntryError(LedgerError):
    """An entry covered by the origin's signed checkpoint breaks a rule."""

    code = "evidence.invalid_entry"

    def __init__(self, evidence: Any) -> None:  # node.engine.replica.Evidence
        super().__init__(evidence.detail, code=evidence.code)
        self.evidence = evidence


class WitnessError(LedgerError):
    code = "witness.malformed"


class ApiError(LedgerError):
    """An error whose status is chosen where it is raised: by the HTTP layer itself (bad query,
    unknown log, wrong content type), or by the sequencer process across its socket."""

    code = "request.invalid"

    def __init__(self, message: str, *, code: str, status: int) -> None:
        super().__init__(message, code=code)
        self.status = status


class RequestError(LedgerError):
    """The body of a read that takes one (``POST /v1/parcels/states``) is not of its shape
    (``request.invalid``), or asks about more items than its bound (``request.batch_size``);
    400 either way. A body over its byte bound is ``RequestTooLargeError``."""

    code = "request.invalid"


class RequestTooLargeError(LedgerError):
    """A body, or a submission in it, is over a bound of decision 0028 (413)."""

    code = "request.too_large"


class ClientBusyError(LedgerError):
    """This client address already has its share of the sequencer's queue waiting (429)."""

    code = "sequencer.client_busy"


class PeerError(LedgerError):
    """A peer could not be reached, or answered nonsense."""

    code = "peer.unavailable"


class DevnetError(LedgerError):
    code = "devnet.failed"


class ScenarioError(LedgerError):
    code = "scenario.failed"
