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
