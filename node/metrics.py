"""Prometheus metrics of one node, in a registry of its own (so tests can run several apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["NodeMetrics"]


class NodeMetrics:
    """What an operator alerts on: request latency and errors, commit latency and batch sizes,
    log sizes, evidence."""

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
