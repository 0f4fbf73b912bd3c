"""Folder watching, in the three stages a change travels through:

- :mod:`.observers`: :class:`~.observers.Watcher` schedules one recursive watch per library folder,
  natively (inotify, FSEvents, ReadDirectoryChangesW) or by polling (network file systems, forced by
  setting, or when the OS watch limit is reached). Its handlers only filter and enqueue; they never
  touch the catalog.
- :mod:`.queue`: :class:`~.queue.ChangeQueue` coalesces: many events on one path are one entry, taken
  once the path has been quiet for ``quiet_period`` seconds, so half-copied files are not embedded. A
  create followed by a delete is dropped. Moves are kept as ordered operations, so a rename never costs
  a re-embedding.
- :mod:`.applier`: :class:`~.applier.ChangeApplier` (on the service's core thread) looks at the disk
  for each entry and updates the catalog: new and changed files become pending, renamed and moved ones
  are re-pointed, vanished ones wait a short grace period in a limbo (their content may reappear
  elsewhere: a move between two watched folders arrives as a delete and a create) and are then removed
  with their vectors.

The disk, not the event, is the truth: an entry only says "look at this path again", which makes the
queue safe against lost, duplicated or reordered events. :mod:`.paths` holds what all three ask of a
path (which library folder holds it, is it excluded).
"""
