"""The Python SDK: read any node, and build, seal, sign and submit records (DESIGN §10).

``LedgerClient`` talks to one node over httpx with timeouts; reads and submissions are retried
with backoff on connection failures, timeouts and 5xx/429/503 answers, a submission by sending
the very same bytes again (the node answers a record it holds with its original receipt, decision
0002), never by signing anew; every refusal becomes a ``ProblemError`` carrying the node's stable
``code``. ``Operator`` builds records of every type from plain
arguments, seals their commercial fields, and signs them with the operator's key.

    client = LedgerClient("http://127.0.0.1:8400")
    mine = Operator("BW", "mine", load_private_key("mine.pem"))
    receipt = client.submit(*mine.produce("BW-JW-0001", centicarats=125_000, hs_code="7102.10"))
    parcel = receipt.parcel_ref()  # what the next record of this parcel references
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from client.answers import (
    AccessPage,
    CertificateInfo,
    DisclosedEntry,
    EntryInfo,
    Evidence,
    Health,
    LogInfo,
    NetworkInfo,
    ParcelInfo,
    ParcelStates,
)
from client.errors import (
    AnswerLostError,
    ClientError,
    MalformedAnswerError,
    NodeUnavailableError,
    ProblemError,
)
from client.movement_pages import MovementDigest, MovementPage
from node.core import clock
from node.core.bundle import Bundle
from node.core.charter import SignedCharter
from node.core.encoding import Value, decode, encode, encode_array, encode_map
from node.core.errors import LedgerError
from node.core.httpsig import HttpxSigner
from node.core.provenance import DEFAULT_DEPTH, depth_text
from node.core.receipt import Receipt
from node.core.records import (
    LOG_SIGNER,
    ParcelRef,
    SignedRecord,
    parse_certificate_number,
    sign_record,
)
from node.core.sealing import Disclosures, seal

__all__ = [
    "PARCEL_STATES_PER_REQUEST",
    "AnswerLostError",
    "ClientError",
    "LedgerClient",
    "MalformedAnswerError",
    "NodeUnavailableError",
    "Operator",
    "ProblemError",
    "submission_bytes",
]

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
# A node's default ``max_parcel_states``: the most references one ``POST /v1/parcels/states``
# may carry.
PARCEL_STATES_PER_REQUEST = 256


class LedgerClient:
    """One node's API.

    Args:
        url: the node's base URL.
        transport: an httpx transport (tests pass ``httpx.ASGITransport``).
        timeout: seconds for any one request.
        retries: further attempts of an idempotent read that failed for a passing reason.
        auth: signs requests (``node.core.httpsig.HttpxSigner``) for members-only reads.
    """

    def __init__(
        self,
        url: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        auth: httpx.Auth | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.retries = retries
        self._http = httpx.Client(
            base_url=self.url, transport=transport, timeout=timeout, auth=auth
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LedgerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reads ----------------------------------------------------------------------------------

    def health(self) -> Health:
        """The node is up, and which log is its own.

        Raises:
            MalformedAnswerError: the answer is not of the API's shape (``client.malformed``),
                as for every read below.
        """
        return Health.from_json(self._json("/healthz"))

    def network(self) -> NetworkInfo:
        """The node's adopted charter, the genesis hash and the members (unverified)."""
        return NetworkInfo.from_json(self._json("/v1/network"))

    def charters(self) -> list[SignedCharter]:
        """Every charter version the node holds from the genesis, oldest first (unverified:
        check them with ``client.replay.trusted_charters`` against the genesis you trust)."""
        found = self._object("/v1/charters").get("charters")
        if not isinstance(found, list):
            raise MalformedAnswerError(f"{self.url} served no charter list")
        try:
            return [SignedCharter.parse(base64.b64decode(c["document"])) for c in found]
        except (KeyError, TypeError, ValueError, LedgerError) as exc:
            raise MalformedAnswerError(f"{self.url} served a malformed charter: {exc}") from exc

    def logs(self) -> list[LogInfo]:
        """Every log the node holds: its own and its replicas."""
        return [LogInfo.from_json(item) for item in self._array("/v1/logs")]

    def checkpoint(self, log: str, *, latest: bool = False) -> str:
        return self._get(f"/v1/logs/{log}/checkpoint", {"latest": 1} if latest else None).text

    def entries(self, log: str, start: int, end: int | None = None) -> list[bytes]:
        """Raw canonical entries ``start <= seq < end`` (one page; the node bounds its size)."""
        params: dict[str, Any] = {"start": start}
        if end is not None:
            params["end"] = end
        content = self._get(f"/v1/logs/{log}/entries", params).content
        page = decode(content, max_size=len(content))
        if not isinstance(page, list) or not all(isinstance(e, bytes) for e in page):
            raise MalformedAnswerError("node served a malformed page of entries")
        return [e for e in page if isinstance(e, bytes)]

    def inclusion_proof(self, log: str, index: int, size: int) -> list[bytes]:
        answer = self._object(f"/v1/logs/{log}/proof/inclusion", {"index": index, "size": size})
        return [base64.b64decode(h) for h in answer["hashes"]]

    def consistency_proof(self, log: str, old: int, new: int) -> list[bytes]:
        answer = self._object(f"/v1/logs/{log}/proof/consistency", {"old": old, "new": new})
        return [base64.b64decode(h) for h in answer["hashes"]]

    def entry(self, entry_hash: str) -> EntryInfo:
        """An entry by its hash, parsed; its bytes hash to the hash the node states (whether
        that is the hash asked for is the caller's to check: ``client.nodes.Nodes.entry``)."""
        return EntryInfo.from_json(self._json(f"/v1/entries/{entry_hash}"))

    def certificate(self, log: str, number: str) -> CertificateInfo:
        """A certificate of ``log`` by its number, typed any way the grammar allows
        (``BW/2026/0005``, ``bw 2026 0005``); the node reads it by its key (decision 0025).

        Raises:
            RecordError: ``certificate.number_invalid`` (before any request), naming the grammar.
            ProblemError: ``certificate.unknown`` when the node holds no such certificate.
        """
        key = parse_certificate_number(number).key  # letters, digits and one '-': URL-safe
        return CertificateInfo.from_json(self._json(f"/v1/certificates/{log}/{key}"))

    def parcel(self, log: str, seq: int, out: int) -> ParcelInfo:
        """A parcel's state: holder, mass, origins, and the entry that consumed it if any."""
        return ParcelInfo.from_json(self._json(f"/v1/parcels/{log}/{seq}/{out}"))

    def parcel_states(
        self, refs: Sequence[ParcelRef], *, per_request: int = PARCEL_STATES_PER_REQUEST
    ) -> list[ParcelInfo | None]:
        """The states of many parcels, in order: each as ``parcel`` answers it, or ``None``
        where the node holds no parcel of that reference (none at that place, or one made by
        another entry). One ``POST /v1/parcels/states`` per ``per_request`` references; no
        request for none.

        Raises:
            MalformedAnswerError: the node answered another number of states than it was
                asked, or a state of another parcel than the one asked in its place.
            ProblemError: the node refused (``request.batch_size`` if ``per_request`` is over
                its ``max_parcel_states``).
        """
        if per_request < 1:
            raise ValueError("per_request must be positive")
        found: list[ParcelInfo | None] = []
        for start in range(0, len(refs), per_request):
            chunk = refs[start : start + per_request]
            body = {"parcels": [[r.log, r.seq, r.hash.hex(), r.out] for r in chunk]}
            response = self._send("POST", "/v1/parcels/states", json=body, retry=True)
            answered = ParcelStates.from_json(_json_of(response)).parcels
            if len(answered) != len(chunk):
                raise MalformedAnswerError(
                    f"{self.url} answered {len(answered)} parcel states for {len(chunk)} asked"
                )
            for ref, state in zip(chunk, answered, strict=True):
                if state is not None and state.ref != ref:
                    raise MalformedAnswerError(
                        f"{self.url} answered the state of another parcel in the place of "
                        f"{ref.log}/{ref.seq}/{ref.out}"
                    )
            found.extend(answered)
        return found

    def provenance(self, entry_hash: str, depth: int | None = DEFAULT_DEPTH) -> Bundle:
        """The offline-verifiable bundle of an entry (client.verify checks its claims).

        Args:
            depth: levels of parcel-making entries replayed below the subject and its
                certificate, the parcels behind them seeded (decision 0039); None for the
                whole DAG back to the mines.

        Raises:
            BundleError: the node answered with no well-formed bundle (``bundle.malformed``).
            ProblemError: ``provenance.too_large`` (413) when the walk at that depth is wider
                than a bundle may be.
        """
        params = {"depth": depth_text(depth)}
        return Bundle.from_json(self._object(f"/v1/provenance/{entry_hash}", params))

    def disclosures(self, entry_hash: str) -> DisclosedEntry:
        """The sealed values of an entry the node's disclosure policy gives the signer (the
        client must have been made with a member's ``auth``); the fields it does not give are
        in ``refused`` with their codes.

        Raises:
            ProblemError: ``disclosure.unknown`` (404) when the node holds none of the entry;
                ``disclosure.*`` (403) when the policy gives the signer none of its fields.
        """
        return DisclosedEntry.from_json(self._json(f"/v1/disclosures/{entry_hash}"))

    def disclosure_access(self, *, after: int = 0, limit: int = 100) -> AccessPage:
        """Who read the disclosures of the signer's own log on this node, numbered above
        ``after`` (at most ``limit``, bounded by the node): for the log's authority only; the
        client must have been made with its ``auth`` (the log key or an authority operator).

        Raises:
            ProblemError: ``auth.*`` (401) or ``disclosure.*`` (403) when the signer may not.
        """
        params = {"after": after, "limit": limit}
        return AccessPage.from_json(self._json("/v1/disclosures/access", params))

    def statistics_movements(self, *, after: str | None = None, limit: int = 1000) -> MovementPage:
        """A page of the node's statistics index (decision 0045): at most ``limit`` movements
        after the cursor ``after`` (``LOG:SEQ``; None: from the start)."""
        params: dict[str, Any] = (
            {"limit": limit} if after is None else {"after": after, "limit": limit}
        )
        return MovementPage.from_json(self._json("/v1/statistics/movements", params))

    def statistics_digest(self, log: str, size: int) -> MovementDigest:
        """The node's chain digest of ``log``'s movements below ``size`` (clipped to what it
        holds)."""
        params = {"log": log, "size": size}
        return MovementDigest.from_json(self._json("/v1/statistics/digest", params))

    def evidence(self) -> list[Evidence]:
        """Evidence the node holds against any log (forks, invalid entries)."""
        return [Evidence.from_json(item) for item in self._array("/v1/evidence")]

    # --- writes ---------------------------------------------------------------------------------

    def submit(
        self,
        signed: SignedRecord,
        disclosures: Disclosures | None = None,
        *,
        wait: str = "committed",
    ) -> Receipt:
        """Submit one record; return its receipt.

        A timeout, a cut connection or a passing 5xx is retried ``retries`` times by sending the
        identical bytes: the node answers a record it already appended with its original receipt,
        so a retry never makes a second entry. Send it only to the node of ``signed.log``.

        Raises:
            ProblemError: the node refused the record (the code says which rule).
            NodeUnavailableError: the node could not be reached; nothing was submitted.
            AnswerLostError: no answer after the last attempt; the record may be appended.
            ClientError: the node answered something that is not a receipt
                (``client.malformed``).
        """
        body = submission_bytes(signed, disclosures)
        response = self._send(
            "POST",
            "/v1/records",
            params={"wait": wait},
            content=body,
            headers={"content-type": "application/msgpack"},
            retry=True,
        )
        return self._receipt(_json_of(response))

    def submit_batch(
        self, items: Sequence[tuple[SignedRecord, Disclosures | None]], *, wait: str = "committed"
    ) -> list[Receipt | ProblemError]:
        """Submit several records at once; one result per record, in order: its receipt, or
        the node's refusal of it. Retried as ``submit`` is, with the identical batch bytes."""
        batch = encode_array([submission_bytes(s, d) for s, d in items])
        response = self._send(
            "POST",
            "/v1/records",
            params={"wait": wait},
            content=encode_map({"batch": batch}),
            headers={"content-type": "application/msgpack"},
            retry=True,
        )
        answer = _json_of(response)
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list) or len(results) != len(items):
            raise MalformedAnswerError(f"{self.url} answered a malformed batch")
        return [self._batch_result(item, response.status_code) for item in results]

    def _receipt(self, document: object) -> Receipt:
        try:
            return Receipt.from_json(document)
        except LedgerError as exc:
            raise MalformedAnswerError(
                f"{self.url} answered a malformed receipt: {exc.message}"
            ) from exc

    def _batch_result(self, item: object, status: int) -> Receipt | ProblemError:
        if isinstance(item, dict) and isinstance(problem := item.get("problem"), dict):
            return ProblemError(
                int(problem.get("status", status)),
                str(problem.get("code", "http.error")),
                str(problem.get("detail", ""))[:300],
            )
        return self._receipt(item.get("receipt") if isinstance(item, dict) else None)

    # --- HTTP -----------------------------------------------------------------------------------

    def _json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return _json_of(self._get(path, params))

    def _object(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        found = self._json(path, params)
        if not isinstance(found, dict):
            raise MalformedAnswerError(f"{path}: not a JSON object")
        return found

    def _array(self, path: str) -> list[Any]:
        found = self._json(path)
        if not isinstance(found, list):
            raise MalformedAnswerError(f"{path}: not a JSON array")
        return found

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        return self._send("GET", path, params=params, retry=True)

    def _send(self, method: str, path: str, *, retry: bool, **kwargs: Any) -> httpx.Response:
        """One request, retried with backoff; ``kwargs`` (the body among them) are the same
        objects on every attempt, so a retried submission is byte for byte the first."""
        attempts = self.retries + 1 if retry else 1
        delay = 0.2
        answer_lost = False
        for attempt in range(attempts):
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                # Only a refused connection proves the request never arrived.
                arrived = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                answer_lost = answer_lost or arrived
                if attempt + 1 == attempts:
                    error = AnswerLostError if answer_lost else NodeUnavailableError
                    raise error(f"{self.url}{path}: {exc}") from exc
            else:
                if response.status_code < 400:
                    if len(response.content) > MAX_RESPONSE_BYTES:
                        raise MalformedAnswerError("response too large")
                    return response
                if response.status_code not in RETRIED_STATUSES or attempt + 1 == attempts:
                    raise _problem(response)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        raise NodeUnavailableError(f"{self.url}{path}: no answer")  # pragma: no cover


def _json_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise MalformedAnswerError(f"{response.url.path}: not JSON") from exc


def _problem(response: httpx.Response) -> ProblemError:
    try:
        body = response.json()
        return ProblemError(response.status_code, str(body["code"]), str(body["detail"]))
    except (ValueError, KeyError, TypeError):
        return ProblemError(response.status_code, "http.error", response.text[:300])


def submission_bytes(signed: SignedRecord, disclosures: Disclosures | None = None) -> bytes:
    """The canonical ``{signed, disclosures}`` a node takes at ``POST /v1/records``.

    The signed record goes in as the bytes it was signed as (``signed.raw``), not encoded again:
    only the disclosures, small, are encoded here.
    """
    fields = {"signed": signed.raw}
    if disclosures:
        fields["disclosures"] = encode({f: [salt, v] for f, (salt, v) in disclosures.items()})
    return encode_map(fields)


class Operator:
    """An operator of one participant, with its key: builds, seals and signs records.

    Each method returns ``(signed record, disclosures)``, ready for ``LedgerClient.submit``.
    Parcel and certificate references are ``[log, seq, hash(, out)]`` lists, e.g. from
    ``receipt.parcel_ref()``.
    """

    def __init__(self, log: str, name: str, key: Ed25519PrivateKey) -> None:
        self.log = log
        self.name = name
        self.key = key
        self._clock = 0

    def auth(self) -> HttpxSigner:
        """Signs members-only requests as this operator (``BW:debswana``)."""
        return HttpxSigner(f"{self.log}:{self.name}", self.key)

    def sign(
        self,
        record_type: str,
        body: dict[str, Value],
        *,
        sealed_values: Mapping[str, Value] | None = None,
    ) -> tuple[SignedRecord, Disclosures]:
        # Author times must differ, or two equal records would be one (decision 0002).
        self._clock = max(self._clock + 1, clock.wall_ms())
        sealed, disclosures = seal(dict(sealed_values or {}))
        record: dict[str, Value] = {
            "v": 1,
            "type": record_type,
            "log": self.log,
            "time": self._clock,
            "body": body,
            "sealed": dict(sealed),
        }
        signer = LOG_SIGNER if self.name == LOG_SIGNER else self.name
        return sign_record(record, [(signer, self.key)]), disclosures

    def produce(
        self,
        parcel: str,
        *,
        centicarats: int,
        hs_code: str,
        produced_on: str,
        mine: str | None = None,
        holder: str | None = None,
        value_usd_cents: int | None = None,
    ) -> tuple[SignedRecord, Disclosures]:
        """A ``parcel.produce``; ``value_usd_cents``, the declared value, is sealed when given
        (optional: a production without one seals nothing)."""
        return self.sign(
            "parcel.produce",
            {
                "parcel": parcel,
                "mine": mine or self.name,
                "produced_on": produced_on,
                "centicarats": centicarats,
                "hs_code": hs_code,
                "holder": holder or self.name,
            },
            sealed_values=None if value_usd_cents is None else {"value_usd_cents": value_usd_cents},
        )

    def transfer(
        self, parcel: list[Value], to: str, *, invoice: str
    ) -> tuple[SignedRecord, Disclosures]:
        return self.sign(
            "parcel.transfer",
            {"parcel": parcel, "to": to, "warranty": True},
            sealed_values={"invoice": invoice},
        )

    def transform(
        self, inputs: list[list[Value]], outputs: list[tuple[str, int, str]], *, kind: str
    ) -> tuple[SignedRecord, Disclosures]:
        return self.sign(
            "parcel.transform",
            {
                "inputs": list[Value](inputs),
                "outputs": [{"parcel": p, "centicarats": c, "hs_code": h} for p, c, h in outputs],
                "kind": kind,
            },
        )

    def certify(
        self,
        number: str,
        *,
        exporter: str,
        importing: str,
        parcels: list[list[Value]],
        centicarats: int,
        hs_codes: list[str],
        origins: list[str],
        issued_on: str,
        expires_on: str,
        value_usd_cents: int,
        exporter_name: str,
        importer_name: str,
        seal_number: str,
    ) -> tuple[SignedRecord, Disclosures]:
        return self.sign(
            "certificate.issue",
            {
                "number": number,
                "exporter": exporter,
                "importing": importing,
                "parcels": list[Value](parcels),
                "parcel_count": len(parcels),
                "centicarats": centicarats,
                "hs_codes": list[Value](sorted(hs_codes)),
                "origins": list[Value](sorted(origins)),
                "issued_on": issued_on,
                "expires_on": expires_on,
            },
            sealed_values={
                "value_usd_cents": value_usd_cents,
                "exporter_name": exporter_name,
                "importer_name": importer_name,
                "seal_number": seal_number,
            },
        )

    def confirm(
        self,
        certificate: list[Value],
        *,
        received_on: str,
        parcels: list[tuple[str, int, str]],
        holder: str,
        seal_intact: bool = True,
    ) -> tuple[SignedRecord, Disclosures]:
        return self.sign(
            "certificate.confirm",
            {
                "certificate": certificate,
                "received_on": received_on,
                "centicarats_received": sum(c for _, c, _ in parcels),
                "seal_intact": seal_intact,
                "parcels": [{"parcel": p, "centicarats": c, "hs_code": h} for p, c, h in parcels],
                "holder": holder,
            },
        )

    def reject(self, certificate: list[Value], *, reason: str) -> tuple[SignedRecord, Disclosures]:
        return self.sign("certificate.reject", {"certificate": certificate, "reason": reason})

    def void(
        self, certificate: list[Value], *, reason: str, evidence: list[Value]
    ) -> tuple[SignedRecord, Disclosures]:
        return self.sign(
            "certificate.void", {"certificate": certificate, "reason": reason, "evidence": evidence}
        )
