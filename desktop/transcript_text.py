"""The words around a spoken match, for the preview: the segment said at the moment (matched words in
bold), with the segments just before and after it in grey (engine.search.retrievers.speech puts them in
the reason's detail)."""

from __future__ import annotations

import html
import re
from typing import Any

from engine.core.durations import format_duration


def spoken_reason(r: Any) -> Any | None:
    """The result's best reason that carries what was said (exact words before meaning), or None."""
    reasons = [x for x in getattr(r, "reasons", None) or [] if "said" in x.detail]
    reasons.sort(key=lambda x: x.retriever != "said")
    return reasons[0] if reasons else None


def said_html(r: Any) -> str:
    """Rich text for the preview's "Said" row; "" when the result matched on something else."""
    reason = spoken_reason(r)
    if reason is None:
        return ""
    d = reason.detail
    text = html.escape(d["said"])
    for word in sorted(set(d.get("matched") or []), key=len, reverse=True):
        pattern = re.compile(rf"(?<!\w)({re.escape(html.escape(word))}\w*)", re.IGNORECASE)
        text = pattern.sub(r"<b>\1</b>", text)
    grey = '<span style="color: gray">{}</span>'
    parts = [f"@ {format_duration(float(d.get('start') or 0))} "]
    if d.get("before"):
        parts.append(grey.format("…" + html.escape(d["before"]) + " "))
    parts.append(f"“{text}”")
    if d.get("after"):
        parts.append(grey.format(" " + html.escape(d["after"]) + "…"))
    return "".join(parts)
