"""What one delivery attempt came to."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Attempt"]


@dataclass(frozen=True)
class Attempt:
    """One attempt: the receiver's HTTP status (None when none answered, or for SMTP), how long
    it took in milliseconds, the reason it failed in one line (None on success), and whether
    trying again later can help (a timeout, a refused connection, a 5xx: yes; a 4xx or a
    redirect: no)."""

    status_code: int | None
    duration_ms: int
    error: str | None = None
    retryable: bool = False

    @property
    def delivered(self) -> bool:
        return self.error is None
