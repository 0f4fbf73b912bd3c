"""How a length of time reads, everywhere: the CLI's results and status line, and the app."""

from __future__ import annotations


def format_duration(seconds: float, *, padded: bool = False) -> str:
    """83.4 -> "1:23", 3723 -> "1:02:03" (whole seconds; a negative time reads as 0:00).

    ``padded`` always shows two-digit hours, minutes and seconds ("00:01:23"), so that the moments
    in a column of results line up (``lookalike search``'s output).
    """
    s = max(0, int(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if padded:
        return f"{h:02d}:{m:02d}:{sec:02d}"
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def rough_duration(seconds: float) -> str:
    """How long a job will take, as a person says it: 2900 -> "48 min", 14560 -> "4 h", 7800 ->
    "2 h 10 min", 200000 -> "56 h" (minutes under an hour, else hours to the nearest ten minutes and,
    from ten hours on, whole hours). Not a clock reading like :func:`format_duration`."""
    s = max(0.0, float(seconds))
    if s < 3600 - 30:
        return f"{max(1, round(s / 60))} min"
    if s >= 10 * 3600:
        return f"{round(s / 3600)} h"
    h, m = divmod(round(s / 600) * 10, 60)
    return f"{h} h {m} min" if m else f"{h} h"
