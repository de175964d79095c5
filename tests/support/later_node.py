"""A node served days after today: ``python -m tests.support.later_node DIR DAYS``.

It serves the data directory ``DIR`` exactly as ``kp-node run`` does (its lock, its modes, the
application of ``create_app``, the bounded listener), except that the node's one injected clock
(``LedgerNode.clock``, node/core/clock.py) runs ``DAYS`` days ahead. The nodes of a devnet date
every record by the wall clock and refuse a certificate already expired, so a certificate is seen
expired only by a reader whose day is later: the browser tests show such a certificate on an
observer's node started this way, after it replicated every log. Nothing else in it differs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from node.core.clock import wall_ms
from node.engine.datadir import DataDir, check_data_dir_modes, lock_data_dir
from node.engine.ledger import LedgerNode
from node.server.app import create_app
from node.server.jsonlog import configure_logging
from node.server.listener import serve

DAY_MS = 86_400_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dir", type=Path)
    parser.add_argument("days", type=int)
    args = parser.parse_args()
    lock = lock_data_dir(args.dir, doing="run")
    try:
        check_data_dir_modes(args.dir)
        node = LedgerNode.open(DataDir(args.dir))
        ahead = args.days * DAY_MS
        node.clock = lambda: wall_ms() + ahead
        configure_logging(node.settings.log_level)
        try:
            serve(create_app(node, lock=lock), node.settings)
        finally:
            node.close()
    finally:
        lock.release()


if __name__ == "__main__":
    main()
