"""KP Ledger node: the KP rules, the log engine and the service a participant runs.

Four layers, each importing only those before it (decision 0036, README "Module map"):

- ``node.core``: pure code over records, signed notes, charters and ledger state: what a
  verifier needs, with no server library (``pip install kp-ledger`` gives it and ``client``);
- ``node.engine``: the durable log: the LMDB store, the one writer, replicas, the data directory;
- ``node.server``: the processes a running node is made of: the HTTP service, the sequencer
  process, replication among peers;
- ``node.dev``: a local network and the README scenario, for development and tests only.

``node.cli`` (``kp-node``) is the operator's entry point over all of them.
"""

__all__ = ["cli", "core", "dev", "engine", "server"]
