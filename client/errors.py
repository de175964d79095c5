"""The client's branch of the one error tree (node/core/errors.py): errors no node raises.

Each is a ``LedgerError`` with a stable code, raised by the SDK where it meets httpx or a node's
answer, or by the library modules above it; ``kp`` maps them to its exit codes.

    LedgerError
    └── ClientError              a node could not be asked, or its answer is unusable
        ├── NodeUnavailableError     the node could not be reached; nothing arrived
        │   └── AnswerLostError      the request may have arrived, no answer came back
        ├── ProblemError             the node refused: its problem+json code, status, detail
        ├── MalformedAnswerError     the node answered something not of the API's shape
        ├── NodeBehindError          the node does not hold a log up to a checkpoint yet
        ├── NotOnLedgerError         no node that answered holds the certificate or entry
        ├── NotSubmittedError        the record's own node did not take it; sent nowhere else
        └── UndecidedError           the nodes could not settle what was asked of them
"""

from __future__ import annotations

from node.core.errors import LedgerError

__all__ = [
    "AnswerLostError",
    "ClientError",
    "MalformedAnswerError",
    "NodeBehindError",
    "NodeUnavailableError",
    "NotOnLedgerError",
    "NotSubmittedError",
    "ProblemError",
    "UndecidedError",
]


class ClientError(LedgerError):
    """Root of the client's errors (translated from httpx in client/sdk.py, at the edge)."""

    code = "client.error"


class NodeUnavailableError(ClientError):
    """The node could not be reached: the request never arrived, so nothing was submitted."""

    code = "node.unavailable"


class AnswerLostError(NodeUnavailableError):
    """The request may have arrived but no answer came back (a timeout, a cut connection): a
    submission may have been appended. Sending the same bytes again settles it."""

    code = "node.no_answer"


class ProblemError(ClientError):
    """The node refused: its RFC 9457 problem, with the stable code."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}", code=code)
        self.status = status
        self.detail = detail


class MalformedAnswerError(ClientError):
    """The node answered, with something that is not of the shape its API documents (a field
    missing or of another type, a hash that is no hash, an entry that does not parse)."""

    code = "client.malformed"


class NodeBehindError(ClientError):
    """The node does not hold a log up to the size asked about: it has not replicated it yet,
    and can neither confirm nor contradict what was asked."""

    code = "node.behind"


class NotOnLedgerError(ClientError):
    """Every node that answered holds no certificate with the number (or no entry with the
    hash) asked for: it may be forged. ``code`` is ``certificate.unknown`` or
    ``entry.unknown``, or the grammar's code for a text that is no number at all."""

    code = "certificate.unknown"


class NotSubmittedError(ClientError):
    """The node of the record's own log did not take the record, or its answer was lost; it
    was sent to no other node. ``code`` is ``node.own_unavailable``, or ``node.no_answer`` when
    the record may have been appended."""

    code = "node.own_unavailable"


class UndecidedError(ClientError):
    """The nodes asked could not settle the question: the charter versions they serve do not
    chain from the trusted genesis (``audit.charters_unchained``), a log asked for is held by
    none (``audit.log_unknown``), or there is more to download than an audit's bound
    (``audit.too_large``)."""

    code = "client.undecided"
