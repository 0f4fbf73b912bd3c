"""Text meant for people on a terminal: file names made safe to print.

A file name may hold anything but ``/`` and NUL: escape sequences that move the cursor, clear the
screen or retitle the window (``\\x1b]0;…\\x07``), C1 controls (``\\x9b`` is a CSI on many terminals),
Unicode's bidirectional overrides that make ``gpj.exe`` read as ``exe.jpg``, and, on POSIX, bytes that
are not UTF-8, which Python carries as lone surrogates (``os.fsdecode``'s ``surrogateescape``) and
which ``print`` refuses with UnicodeEncodeError. :func:`for_terminal` shows all of these as visible
escapes instead. JSON output needs none of this: ``json.dumps`` escapes them itself.
"""

from __future__ import annotations

import unicodedata

#: Format characters that reorder or hide text (bidirectional embeddings, overrides and isolates,
#: marks, zero-width joiners are left alone: they are ordinary in many scripts).
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _escape(ch: str) -> str:
    o = ord(ch)
    if 0xDC80 <= o <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape: show the byte
        return f"\\x{o - 0xDC00:02x}"
    if o < 0x100:
        return f"\\x{o:02x}"
    return f"\\u{o:04x}"


def _unsafe(ch: str) -> bool:
    # Cc: C0, DEL and C1 controls; Cs: lone surrogates; Zl/Zp: line and paragraph separators.
    return unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") or ch in _BIDI


def for_terminal(s: object) -> str:
    """``s`` (a path, a name, an error message) as text that is safe to print on a terminal.

    Control characters, lone surrogates (undecodable bytes of a file name), line separators and
    bidirectional overrides become visible escapes: ``\\x1b``, ``\\xff`` for the byte 0xFF of a
    non-UTF-8 name, ``\\u202e``. Everything else, accents and CJK and emoji included, is unchanged.
    Never raises; the result always encodes as UTF-8.
    """
    text = s if isinstance(s, str) else str(s)
    if text.isprintable():  # the common case: no scan per character
        return text
    return "".join(_escape(ch) if _unsafe(ch) else ch for ch in text)
