"""Prometheus metrics of one node, in a registry of its own (so tests can run several apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from node.engine.ledger import CharterStatus

__all__ = ["NodeMetrics"]


class NodeMetrics:
    """What an operator alerts on: request latency and errors, commit latency and batch sizes,
    log sizes, evidence, members whose logs lag behind the newest charter version, and what
    replication does (``kp_replication_*``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "kp_http_request_seconds",
            "HTTP request latency by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.batch_records = Histogram(
            "kp_sequencer_batch_records",
            "Records appended per durable commit.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=self.registry,
        )
        self.commit_seconds = Histogram(
            "kp_sequencer_commit_seconds",
            "Time from batch start to durable commit.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=self.registry,
        )
        self.records_refused = Counter(
            "kp_records_refused",
            "Records refused, by error code.",
            ["code"],
            registry=self.registry,
        )
        self.log_size = Gauge(
            "kp_log_size", "Entries in each log this node holds.", ["log"], registry=self.registry
        )
        self.evidence = Gauge(
            "kp_evidence", "Stored evidence against logs.", registry=self.registry
        )
        # Anti-entropy at idle should show polls and checks growing while fetches, writes and
        # verifications stay still (decision 0033).
        self.replication = {
            what: Counter(f"kp_replication_{what}", help_text, registry=self.registry)
            for what, help_text in (
                ("polls", "Log listings anti-entropy asked of peers."),
                ("checks", "Logs compared with a peer's listing."),
                ("fetches", "Checkpoints fetched because a peer's listing differed from ours."),
                ("writes", "Write transactions replication opened (entries, cosignatures)."),
                ("verifications", "Cosignature lines replication verified before keeping them."),
            )
        }
        self.charter_newest_version = Gauge(
            "kp_charter_newest_version",
            "The newest charter version this node knows that verifies from the genesis.",
            registry=self.registry,
        )
        self.charter_adopted_version = Gauge(
            "kp_charter_adopted_version",
            "The charter version each member's log has adopted, as replicated here (0: none).",
            ["log"],
            registry=self.registry,
        )
        self.charter_peers_behind = Gauge(
            "kp_charter_peers_behind",
            "Members whose logs have not adopted the newest charter version.",
            registry=self.registry,
        )

    def charter_status(self, status: CharterStatus) -> None:
        """Set the charter gauges from ``status``."""
        self.charter_newest_version.set(status.newest.version)
        for log in status.logs:
            self.charter_adopted_version.labels(log.log).set(log.adopted_version or 0)
        self.charter_peers_behind.set(len(status.behind))
