"""Cameras in the search box: a make or model *that made files in the library* ("canon", "iphone 12",
"taken with pixel", "hechas con el iphone").

As with places, a name filters only when the library has photos from that camera; otherwise it stays
text (a picture *of* a Canon camera, a sign that says "Pixel"). Names come from the library's own EXIF
make and model (``engine.storage.metadata.cameras``), folded (case and accents), as people say them:

* the start of the camera's name: "canon", "canon eos", "canon eos 80d"; "iphone", "iphone 12" (which
  also finds the iPhone 12 Pro: a name stands for every camera it starts);
* the start of the model alone, and the make alone ("nikon" for "NIKON CORPORATION" / "NIKON D750");
* two or more words from inside the name ("eos 80d"), or one word with both letters and digits
  ("80d", "d750"). A bare number ("12") is never a camera, and a name followed by a model number the
  library has no camera for ("iphone 13" among iPhone 12s) is none either: it stays text.

The words around it leave the query with it ("taken with", "shot on", "con mi"; "camera" after it),
from ``engine/data/cameras_*.toml``. A make that is an everyday word ("apple") is a camera only after
such a word. Longest name first, left to right; quoted text is never a camera.

Known trade-off, as with places: a camera named like a word ("pixel art" in a library with Pixel photos)
filters; quoting it ("\"pixel\" art") keeps it text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.search.query import fold
from engine.storage.metadata import CameraCount

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
#: Longest camera phrase looked for, in words ("canon eos 5d mark iv").
_LONGEST = 6


@dataclass(frozen=True)
class CameraMatch:
    """A camera found in the query: the fragment as typed (with the words around it), the chip label
    and the cameras (``file_meta.camera`` names) it stands for."""

    fragment: str
    label: str
    cameras: tuple[str, ...]


@dataclass(frozen=True)
class Words:
    before: frozenset[tuple[str, ...]]
    after: frozenset[tuple[str, ...]]
    needs_cue: frozenset[str]


def _phrase(text: str) -> tuple[str, ...]:
    return tuple(fold(w) for w in _WORD.findall(text or ""))


@functools.lru_cache(maxsize=4)
def words(data_dir: Path = DATA_DIR) -> Words:
    """Every cameras_*.toml in ``data_dir`` merged (read once). Raises ValueError naming a bad file."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    before: set[tuple[str, ...]] = set()
    after: set[tuple[str, ...]] = set()
    needs: set[str] = set()
    for path in sorted(data_dir.glob("cameras_*.toml")):
        try:
            t = tomllib.loads(path.read_text(encoding="utf-8"))
            before |= {_phrase(w) for w in t.get("before", [])}
            after |= {_phrase(w) for w in t.get("after", [])}
            needs |= {fold(w) for w in t.get("needs_cue", [])}
        except (tomllib.TOMLDecodeError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path.name}: {exc}") from exc
    before.discard(())
    after.discard(())
    return Words(frozenset(before), frozenset(after), frozenset(needs))


def _mixed(token: str) -> bool:
    """A model-like word: letters and digits both ("80d", "d750", "x100v")."""
    return len(token) >= 3 and any(c.isdigit() for c in token) and any(c.isalpha() for c in token)


def _model_number(token: str) -> bool:
    """A word that goes on a model's name ("13", "7a", "s21", "5d"): short, with a digit, not a year."""
    return len(token) <= 4 and any(c.isdigit() for c in token) and not (len(token) == 4 and token.isdigit())


class _Words:
    """A name's words, folded, with where each is in the name (for labels as the camera writes them:
    "X-T3", not "X T3")."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.spans = [(m.start(), m.end()) for m in _WORD.finditer(text)]
        self.folded = tuple(fold(text[a:b]) for a, b in self.spans)

    def label(self, i: int, j: int) -> str:
        """Words ``i`` to ``j`` (exclusive) as written, with what stands between them."""
        return self.text[self.spans[i][0] : self.spans[j - 1][1]]


class CameraIndex:
    """The names of the cameras in one library, ready to be found in queries."""

    def __init__(self, cameras: list[CameraCount], data_dir: Path = DATA_DIR) -> None:
        self.words = words(data_dir)
        #: folded phrase -> (label, camera names, needs a cue word before it).
        self.names: dict[tuple[str, ...], tuple[str, list[str], bool]] = {}
        self.cameras = [c.camera for c in cameras]
        for c in cameras:
            shown = _Words(c.camera)
            full = shown.folded
            model = _Words(c.model or "")
            make = _Words(c.make or "")
            phrases: dict[tuple[str, ...], tuple[str, bool]] = {}
            for n in range(1, len(full) + 1):  # the name's starts: "canon", "canon eos", ...
                phrases[full[:n]] = (shown.label(0, n), False)
            for n in range(1, len(model.folded) + 1):
                phrases.setdefault(model.folded[:n], (model.label(0, n), False))
            if make.folded:
                weak = make.folded[0] in self.words.needs_cue
                phrases[make.folded[:1]] = (make.label(0, 1), weak)
                phrases.setdefault(make.folded, (make.label(0, len(make.folded)), weak))
            for i in range(1, len(full)):  # from inside the name: "eos 80d", "80d"
                for j in range(i + 1, min(len(full), i + _LONGEST) + 1):
                    if j - i >= 2 or _mixed(full[i]):
                        phrases.setdefault(full[i:j], (shown.label(i, j), False))
            for phrase, (label, weak) in phrases.items():
                if all(t.isdigit() for t in phrase) or (len(phrase) == 1 and len(phrase[0]) < 3):
                    continue  # "12" alone is a number, not an iPhone; "sm" (of SM-G991B) is no name
                if phrase[0] in self.words.needs_cue and phrase == full[:1] and len(full) > 1:
                    weak = True  # "apple" is the fruit unless "taken with apple"
                had = self.names.get(phrase)
                if had is None:
                    self.names[phrase] = (label, [c.camera], weak)
                elif c.camera not in had[1]:
                    had[1].append(c.camera)
                    self.names[phrase] = (had[0], had[1], had[2] and weak)

    def __len__(self) -> int:
        return len(self.cameras)

    def find(self, text: str, taken: list[tuple[int, int]] | None = None) -> list[CameraMatch]:
        """Cameras named in ``text``, left to right, skipping the character spans in ``taken`` (quoted
        phrases)."""
        toks = [(fold(m.group()), m.start(), m.end()) for m in _WORD.finditer(text)]
        folded = [t[0] for t in toks]
        taken = taken or []

        def free(a: int, b: int) -> bool:
            return not any(toks[a][1] < e and s < toks[b - 1][2] for s, e in taken)

        def cue_before(i: int) -> int | None:
            """Where the longest cue that ends just before word ``i`` starts (None: no cue there)."""
            for n in range(min(3, i), 0, -1):
                if tuple(folded[i - n : i]) in self.words.before and free(i - n, i):
                    return i - n
            return None

        out: list[CameraMatch] = []
        i = 0
        while i < len(toks):
            found = self._match_at(i, toks, folded, free, cue_before)
            if found is None:
                i += 1
                continue
            start, end, label, cams = found
            first = toks[start][1]
            out.append(CameraMatch(text[first : toks[end - 1][2]], label, tuple(cams)))
            i = end
        return out

    def _match_at(
        self,
        i: int,
        toks: list[tuple[str, int, int]],
        folded: list[str],
        free: Callable[[int, int], bool],
        cue_before: Callable[[int], int | None],
    ) -> tuple[int, int, str, list[str]] | None:
        """The longest camera name starting at word ``i``: (first word with its cue, word after it and
        the words after it, label, cameras); None when none starts there."""
        for n in range(min(_LONGEST, len(toks) - i), 0, -1):
            hit = self.names.get(tuple(folded[i : i + n]))
            if hit is None or not free(i, i + n):
                continue
            label, cams, weak = hit
            start = cue_before(i)
            if weak and start is None:
                continue
            end = i + n
            if end < len(toks) and _model_number(folded[end]) and free(end, end + 1):
                # "iphone 13" where the library has only iPhone 12s: a camera it does not have, so no
                # filter (the words stay text), rather than every other iPhone.
                return None
            for m in range(min(2, len(toks) - end), 0, -1):
                if tuple(folded[end : end + m]) in self.words.after and free(end, end + m):
                    end += m
                    break
            return (start if start is not None else i), end, label, cams
        return None
