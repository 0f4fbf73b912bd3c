"""The coalescing change queue between the observers' threads and the core thread that applies changes.

Many events on one path are one entry, taken once the path has been quiet for ``quiet_period`` seconds;
a create followed by a delete is nothing; moves are kept in order, and queued entries follow them.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

#: What an observer saw happen to a path (the queue keeps the first one per entry).
CREATED, MODIFIED, DELETED, MOVED_IN = "created", "modified", "deleted", "moved_in"


@dataclass
class Change:
    """One coalesced path: look at it again once it has been quiet."""

    path: str
    first: str
    first_at: float
    last_at: float


@dataclass(frozen=True)
class Move:
    """A rename or move seen by the watcher (file or directory): re-point rows, keep vectors."""

    src: str
    dest: str


class ChangeQueue:
    """Thread-safe coalescing queue of paths to look at, plus the ordered moves seen.

    ``put`` is what watcher threads call; ``take`` is for the one consumer. ``on_put`` is called
    (outside the lock) after every put, to wake the consumer.
    """

    def __init__(
        self,
        quiet_period: float,
        *,
        on_put: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.quiet_period = quiet_period
        self._on_put = on_put
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, Change] = {}
        self._moves: list[Move] = []

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries) + len(self._moves)

    def put(self, path: str, event: str) -> None:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(path)
            if entry is None:
                self._entries[path] = Change(path, event, now, now)
            elif event == DELETED and entry.first == CREATED:
                # Born and gone within one quiet period (a temp file, a cancelled copy): nothing to do.
                del self._entries[path]
            else:
                entry.last_at = now
        if self._on_put:
            self._on_put()

    def put_move(self, src: str, dest: str) -> None:
        """A rename or move of a file or folder. Queued entries under ``src`` follow it to ``dest``."""
        now = self._clock()
        with self._lock:
            self._moves.append(Move(src, dest))
            prefix = src.rstrip(os.sep) + os.sep
            for path in [p for p in self._entries if p == src or p.startswith(prefix)]:
                old = self._entries.pop(path)
                new = dest + path[len(src) :]
                mine = self._entries.get(new)
                if mine is None:
                    self._entries[new] = Change(new, old.first, old.first_at, old.last_at)
                else:
                    mine.last_at = max(mine.last_at, old.last_at)
            # The destination is looked at too, once quiet: anything changed inside it gets noticed.
            # MOVED_IN (not CREATED) so a later delete is never dropped as "born and gone".
            entry = self._entries.get(dest)
            if entry is None:
                self._entries[dest] = Change(dest, MOVED_IN, now, now)
            else:
                entry.last_at = now
        if self._on_put:
            self._on_put()

    def take(self, *, force: bool = False) -> tuple[list[Move], list[Change]]:
        """All moves so far, and the entries quiet for ``quiet_period`` (every entry when ``force``)."""
        now = self._clock()
        with self._lock:
            moves, self._moves = self._moves, []
            due = [e for e in self._entries.values() if force or now - e.last_at >= self.quiet_period]
            for e in due:
                del self._entries[e.path]
        return moves, due

    def again_later(self, paths: Iterable[str]) -> None:
        """Put back paths whose files are still being written; they are looked at after another quiet
        period (a new event on them would have done the same)."""
        now = self._clock()
        with self._lock:
            for p in paths:
                entry = self._entries.get(p)
                if entry is None:
                    self._entries[p] = Change(p, MODIFIED, now, now)
                else:
                    entry.last_at = max(entry.last_at, now)

    def next_due_in(self) -> float | None:
        """Seconds until the next entry becomes due (0 if one is due or a move waits), None if empty."""
        with self._lock:
            if self._moves:
                return 0.0
            if not self._entries:
                return None
            oldest = min(e.last_at for e in self._entries.values())
        return max(0.0, oldest + self.quiet_period - self._clock())

    def drop_under(self, folder: str) -> int:
        """Forget queued changes inside ``folder`` (removed from the library, or gone offline)."""
        prefix = folder.rstrip(os.sep) + os.sep
        with self._lock:
            gone = [p for p in self._entries if p == folder or p.startswith(prefix)]
            for p in gone:
                del self._entries[p]
            before = len(self._moves)
            self._moves = [m for m in self._moves if not (m.src.startswith(prefix) or m.src == folder)]
            return len(gone) + before - len(self._moves)
