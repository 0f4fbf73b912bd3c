"""Progress snapshots and cancellation: what long work reports and what it checks between steps."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Progress:
    """A snapshot of long work, for a progress bar or a status line."""

    phase: str = "idle"
    total: int = 0
    done: int = 0
    failed: int = 0
    current: str = ""
    started_at: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started_at
        return (self.done + self.failed) / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        left = self.total - self.done - self.failed
        return left / self.rate if self.rate > 0 else None


ProgressFn = Callable[[Progress], None]
CancelFn = Callable[[], bool]


def never() -> bool:
    return False
