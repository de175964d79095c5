"""What a verifier, an auditor or a node's cross-examination found wrong: one shape for all."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Finding"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong: a stable code, where, and why."""

    code: str
    detail: str
    log: str | None = None
    seq: int | None = None
