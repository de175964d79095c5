"""The one table from error to HTTP status, for both of a node's processes.

Every refusal a node answers is RFC 9457 problem+json with the stable ``code`` of the
``LedgerError`` behind it and the status this table gives its class. The sequencer process
judges records, so its refusals are mapped here too, *before* they cross the socket: they travel
as ``(code, status, detail)`` and come back as an ``ApiError`` carrying all three, whatever
module the class was defined in.

The table is exhaustive over what the service raises: ``tests/unit/node/test_problems.py``
walks every ``LedgerError`` subclass of the server and fails on one the table does not map.
An error that still reaches ``status_of`` unmapped is a fault of this code, answered 500 and
logged, never silently 400.
"""

from __future__ import annotations

import logging

from node.config import ConfigError
from node.datadir import DataDirError
from node.errors import (
    CharterError,
    DisclosureError,
    EncodingError,
    KeyFileError,
    KeyFormatError,
    KeyNotInForceError,
    LedgerError,
    NoteError,
    PendingError,
    ProofError,
    RecordError,
    RuleError,
    StoreError,
)
from node.httpsig import AuthError
from node.ingress import ClientBusyError, RequestTooLargeError
from node.ledger import NotAdoptedError
from node.log import SequencerBusyError, SequencerStoppedError
from node.replica import InvalidEntryError, QuarantinedError, ReplicaMismatchError
from node.replication import PeerError
from node.restore import RestoringError
from node.witness import WitnessError

__all__ = ["STATUS", "ApiError", "status_of"]

log = logging.getLogger("kp.api")


class ApiError(LedgerError):
    """An error whose status is chosen where it is raised: by the HTTP layer itself (bad query,
    unknown log, wrong content type), or by the sequencer process across its socket."""

    code = "request.invalid"

    def __init__(self, message: str, *, code: str, status: int) -> None:
        super().__init__(message, code=code)
        self.status = status


# Order matters: subclasses before their parents.
STATUS: tuple[tuple[type[LedgerError], int], ...] = (
    (PendingError, 409),  # references what this node does not hold yet: retry later
    (RequestTooLargeError, 413),
    (ClientBusyError, 429),  # this address has its share of the queue waiting: retry later
    (RuleError, 422),
    (DisclosureError, 422),
    (RecordError, 400),
    (EncodingError, 400),
    (CharterError, 422),
    (ProofError, 400),
    (NoteError, 400),  # a malformed or wrongly signed note or checkpoint in a request
    (KeyFormatError, 400),  # a malformed key in a request or document
    (AuthError, 401),
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
