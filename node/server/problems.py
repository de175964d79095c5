"""The one table from error to HTTP status, for both of a node's processes.

Every refusal a node answers is RFC 9457 problem+json with the stable ``code`` of the
``LedgerError`` behind it and the status this table gives its class. The sequencer process
judges records, so its refusals are mapped here too, *before* they cross the socket: they travel
as ``(code, status, detail)`` and come back as an ``ApiError`` carrying all three, whatever
module the class was defined in.

The table is exhaustive over what the service raises: ``tests/unit/node/server/test_problems.py``
walks every ``LedgerError`` subclass of the server and fails on one the table does not map.
An error that still reaches ``status_of`` unmapped is a fault of this code, answered 500 and
logged, never silently 400.
"""

from __future__ import annotations

import logging

from node.core.errors import (
    ApiError,
    AuthError,
    BundleError,
    CharterError,
    ClientBusyError,
    ConfigError,
    DataDirError,
    DisclosureError,
    DisclosureRefusedError,
    EncodingError,
    EnvelopeError,
    InvalidEntryError,
    KeyFileError,
    KeyFormatError,
    KeyNotInForceError,
    LedgerError,
    NotAdoptedError,
    NoteError,
    PeerError,
    PendingError,
    ProofError,
    QuarantinedError,
    RecordError,
    ReplicaMismatchError,
    RequestError,
    RequestTooLargeError,
    RestoringError,
    RuleError,
    SequencerBusyError,
    SequencerStoppedError,
    StoreError,
    WitnessError,
)

__all__ = ["STATUS", "status_of"]

log = logging.getLogger("kp.api")


# Order matters: subclasses before their parents.
STATUS: tuple[tuple[type[LedgerError], int], ...] = (
    (PendingError, 409),  # references what this node does not hold yet: retry later
    (RequestTooLargeError, 413),
    (RequestError, 400),  # a read's body malformed or over its count bound
    (ClientBusyError, 429),  # this address has its share of the queue waiting: retry later
    (RuleError, 422),
    (DisclosureError, 422),
    (RecordError, 400),
    (EncodingError, 400),
    (CharterError, 422),
    (ProofError, 400),
    (NoteError, 400),  # a malformed or wrongly signed note or checkpoint in a request
    (KeyFormatError, 400),  # a malformed key in a request or document
    (BundleError, 400),  # a malformed provenance bundle (no route takes one today)
    (AuthError, 401),
    (DisclosureRefusedError, 403),  # a verified member the disclosure policy refuses
    (EnvelopeError, 422),  # an envelope (a peer's, or one posted) that does not open
    (WitnessError, 400),
    (InvalidEntryError, 422),  # a log whose entries break the rules: evidence kept
    (QuarantinedError, 422),  # a log this node stopped following on evidence
    (ReplicaMismatchError, 502),  # a peer served entries its own root does not cover
    (PeerError, 502),  # a peer this request needed did not answer
    (NotAdoptedError, 503),
    (KeyNotInForceError, 503),  # the node must restart on its new log key
    (RestoringError, 503),  # its own log is still coming back from peers
    (SequencerBusyError, 503),
    (SequencerStoppedError, 503),
    (KeyFileError, 500),  # the node's own key file
    (ConfigError, 500),  # the node's own settings
    (DataDirError, 500),
    (StoreError, 500),
)


def status_of(error: LedgerError) -> int:
    """The HTTP status that answers ``error``."""
    if isinstance(error, ApiError):
        return error.status
    for kind, status in STATUS:
        if isinstance(error, kind):
            return status
    log.error("an error without a status", extra={"code": error.code, "class": type(error)})
    return 500
