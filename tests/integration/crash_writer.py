"""A writer process for the crash-safety test: appends until killed, printing each receipt.

``python -m tests.integration.crash_writer STORE_DIR LOG_SEED_HEX OPERATOR_SEED_HEX``

A line ``<seq> <entry hash hex>`` is printed (and flushed) only when the sequencer has answered,
i.e. after the durable commit: every printed line is an acknowledged entry.
"""

from __future__ import annotations

import os
import sys
import threading

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core.records import sign_record
from node.engine.sequencer import Sequencer, SignatureCheck
from node.engine.store import Store
from tests.support.records import GENESIS, ORIGIN, produce_body


def main() -> None:
    store_dir, log_seed, operator_seed = sys.argv[1:4]
    log_key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(log_seed))
    operator = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(operator_seed))
    store = Store.open(store_dir, map_size=1 << 30)
    sequencer = Sequencer(
        store,
        log="BW",
        origin=ORIGIN,
        log_key=log_key,
        genesis=GENESIS,
        validate=SignatureCheck({"debswana": operator.public_key()}),
        max_batch=64,
    )
    sequencer.start()
    lock = threading.Lock()

    def client() -> None:
        while True:
            record = sign_record(
                {
                    "v": 1,
                    "type": "parcel.produce",
                    "log": "BW",
                    "time": 1,
                    "sealed": {},
                    "body": produce_body(int.from_bytes(os.urandom(6), "big")),
                },
                [("debswana", operator)],
            )
            receipt = sequencer.submit(record.raw).result()
            with lock:
                sys.stdout.write(f"{receipt.seq} {receipt.entry_hash.hex()}\n")
                sys.stdout.flush()

    for _ in range(8):
        threading.Thread(target=client, daemon=True).start()
    threading.Event().wait()  # until SIGKILL


if __name__ == "__main__":
    main()
