"""SQLite, the embedded default: one writer that commits in groups, readers on threads.

Why this shape (measured with ``bench/intake.py``): SQLite allows one writer at a time, and
with ``synchronous=FULL`` every COMMIT waits for an fsync. Running each message's transaction
on its own pays that fsync per message, plus three or four thread hops per statement through
an async driver. Here one connection writes for the whole process:

* BEGIN IMMEDIATE and COMMIT run on a writer thread: waiting for another process's lock (a
  ``kesu`` command beside ``kesu run``) or for the fsync never stops the event loop.
* Between them, the units of work waiting in the queue run one after another on the event
  loop (``writer.py``), each inside its own SAVEPOINT, their statements (compiled once,
  ``storage/compiled.py``) executed on the driver directly (``sessions.py``): the group
  holds the write lock, so no statement waits for a lock, and pages come from SQLite's or
  the system's cache. No statement runs unless the group's transaction is open (see
  ``GroupBroken``).
* One COMMIT — one fsync — then makes the whole group durable, and only then does any caller
  get its result, or its error: a unit that raised was rolled back to its savepoint, but it
  may have read what an earlier unit of the group wrote, so its answer waits for that to be
  durable too. If the COMMIT (or the transaction under it) fails, every unit of the group runs
  again in a fresh transaction, three attempts in all, before their callers get the error. A
  unit changes nothing outside the database (``storage.db``), so running it again is
  harmless; a unit whose own run broke the transaction is set apart to run alone.

Readers have their own connections (``query_only``, ``store.py``), used on a small thread
pool: in WAL mode they see only committed transactions and never wait for the writer, and a
long scan never holds up the event loop.
"""

from __future__ import annotations

from storage.sqlite.store import SqliteStore
from storage.sqlite.writer import MAX_GROUP, StoreBusy, WriteStats

__all__ = ["MAX_GROUP", "SqliteStore", "StoreBusy", "WriteStats"]
