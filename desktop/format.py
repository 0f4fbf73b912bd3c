"""How numbers read in the app: durations, sizes, dates, scores, rates. Plain functions, no Qt."""

from __future__ import annotations

import time


def format_size(n: int) -> str:
    """1536 → "1.5 KB" (decimal units, as file managers show them)."""
    value = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover - loop always returns


def format_date(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "unknown"


def format_score(score: float) -> str:
    return f"{score:.2f}"


def format_eta(seconds: float | None) -> str:
    """A rough time left: "about 5 min left"; "" when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:  # None, NaN
        return ""
    if seconds < 60:
        return "less than a minute left"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min left"
    return f"about {seconds / 3600:.1f} h left"


def format_count(n: int) -> str:
    return f"{n:,}"
