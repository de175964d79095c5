"""Provenance bundles (DESIGN §9): everything needed to verify a chain offline.

A bundle is JSON, media type ``application/vnd.kp-ledger.bundle.v1+json``::

    {"media_type": ..., "network": "kp.example", "genesis": <hex>, "subject": <hex entry hash>,
     "charters": [<base64 signed charter>, ...],          # the chain from the genesis, in order
     "checkpoints": {<log>: <checkpoint note>, ...},       # one per log, cosignatures attached
     "entries": [{"log", "seq", "hash": <hex>, "entry": <base64 canonical entry>,
                  "proof": <c2sp.org/tlog-proof text>}]}  # the DAG and what checks it

Every entry's tlog-proof leads to its log's checkpoint in ``checkpoints``. Each distinct
checkpoint appears there once with its cosignatures; the copy inside each tlog-proof carries the
origin's signature only, so it stays a standalone C2SP tlog-proof while the witness lines, ~130
bytes per cosigner, are not repeated per entry (decision 0034). Verifying a bundle needs only the
trusted genesis hash (client/verify.py).
"""

__all__ = ["BUNDLE_MEDIA_TYPE"]

BUNDLE_MEDIA_TYPE = "application/vnd.kp-ledger.bundle.v1+json"
