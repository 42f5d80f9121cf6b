"""Tags and notes on classes and galaxies, kept in the run folder.

``RUN_DIR/explore-tags.sqlite`` (the stdlib's sqlite3): one row per tag, never
updated in place; removing a tag marks it removed. SQLite's own locking (WAL
journal) lets several browser tabs, or two explorers on one run, write at once,
and tags survive restarts.

The same file keeps the rounds of "suggest next" (:mod:`raregal.explore.suggest`)
in a table of its own, ``suggestions``: one row per galaxy suggested, with its
round, its place in the round, its score, what the round was ranked by and from
how many labels, and when. A file from before that table gets it on first use;
the ``tags`` table is never changed.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import threading
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from raregal.core.errors import InputError
from raregal.io.export import spreadsheet_cell

FILE_NAME = "explore-tags.sqlite"
KINDS = ("class", "galaxy")
#: What a reviewer can say; "merge" names the other class in the note.
TAGS = ("interesting", "artifact", "not real", "merge", "note")
NOTE_MAX = 2000
FIELDS = ("id", "kind", "target", "tag", "note", "created", "removed")

SCHEMA = """CREATE TABLE IF NOT EXISTS tags (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, target TEXT NOT NULL,
    tag TEXT NOT NULL, note TEXT NOT NULL DEFAULT '', created TEXT NOT NULL,
    removed TEXT)"""
#: Added after the tags table: CREATE IF NOT EXISTS leaves older files' tags as they were.
SUGGESTIONS_SCHEMA = """CREATE TABLE IF NOT EXISTS suggestions (
    round INTEGER NOT NULL, position INTEGER NOT NULL, target TEXT NOT NULL,
    score REAL, basis TEXT NOT NULL, likes INTEGER NOT NULL, unlikes INTEGER NOT NULL,
    created TEXT NOT NULL, PRIMARY KEY (round, position))"""
ROUND_FIELDS = ("round", "position", "target", "score", "basis", "likes", "unlikes", "created")


class TagStore:
    """Tags of one run folder. Each call opens its own connection (thread-safe)."""

    def __init__(self, run_dir):
        self.path = Path(run_dir) / FILE_NAME
        self._ready = False
        # the first requests of a server may come at once: one of them sets the file up
        # (switching to WAL needs the file to itself: "database is locked" otherwise)
        self._setup = threading.Lock()

    @contextmanager
    def _connect(self):
        """A connection that commits on success and is always closed."""
        connection = sqlite3.connect(self.path, timeout=10)
        connection.row_factory = sqlite3.Row
        try:
            with self._setup:
                if not self._ready:
                    connection.execute("PRAGMA journal_mode=WAL")
                    connection.execute(SCHEMA)
                    connection.execute(SUGGESTIONS_SCHEMA)
                    self._ready = True
            with connection:
                yield connection
        finally:
            connection.close()

    def check(self) -> None:
        """Raise InputError if the tag file is not an SQLite database (a file of another
        kind under its name), before the page asks for tags. A file that cannot be
        opened now (a read-only folder) is left to the saves, which say so."""
        if not self.path.is_file():
            return
        try:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            with closing(sqlite3.connect(uri, uri=True)) as db:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            pass
        except sqlite3.DatabaseError as exc:
            raise InputError(
                f"{self.path}: not a raregal tag database ({exc}); move it "
                f"away to start the explorer"
            ) from None

    def add(self, kind: str, target: str, tag: str, note: str = "") -> dict:
        if kind not in KINDS:
            raise InputError(f"tag kind must be one of {', '.join(KINDS)}, not '{kind}'")
        if tag not in TAGS:
            raise InputError(f"tag must be one of {', '.join(TAGS)}, not '{tag}'")
        if len(note) > NOTE_MAX:
            raise InputError(f"note longer than {NOTE_MAX} characters")
        created = _now()
        with self._connect() as connection:
            cursor = connection.execute(
                "INSERT INTO tags (kind, target, tag, note, created) VALUES (?, ?, ?, ?, ?)",
                (kind, str(target), tag, note, created),
            )
            tag_id = cursor.lastrowid
        return {
            "id": tag_id,
            "kind": kind,
            "target": str(target),
            "tag": tag,
            "note": note,
            "created": created,
            "removed": None,
        }

    def remove(self, tag_id: int) -> bool:
        removed = _now()
        with self._connect() as connection:
            cursor = connection.execute(
                "UPDATE tags SET removed = ? WHERE id = ? AND removed IS NULL", (removed, tag_id)
            )
        return cursor.rowcount == 1

    def list(
        self, kind: str | None = None, target: str | None = None, include_removed: bool = False
    ) -> list[dict]:
        if not self.path.is_file():
            return []
        clauses, values = [], []
        if kind is not None:
            clauses.append("kind = ?")
            values.append(kind)
        if target is not None:
            clauses.append("target = ?")
            values.append(str(target))
        if not include_removed:
            clauses.append("removed IS NULL")
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._connect() as connection:
            rows = connection.execute(f"SELECT * FROM tags{where} ORDER BY id", values).fetchall()
        return [dict(row) for row in rows]

    def add_round(self, targets, scores, basis: str, likes: int, unlikes: int) -> int:
        """Keep one round of suggestions (``targets`` best first) and return its number:
        one more than the last, taken in the same write transaction, so that two tabs
        asking at once get two rounds."""
        created = _now()
        with self._connect() as connection:
            connection.execute("BEGIN IMMEDIATE")  # no other writer between max() and insert
            last = connection.execute("SELECT max(round) FROM suggestions").fetchone()[0]
            number = (last or 0) + 1
            connection.executemany(
                "INSERT INTO suggestions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        number,
                        position,
                        str(target),
                        float(score),
                        basis,
                        int(likes),
                        int(unlikes),
                        created,
                    )
                    for position, (target, score) in enumerate(zip(targets, scores), start=1)
                ],
            )
        return number

    def rounds(self) -> list[dict]:
        """Every suggestion kept, by round then position."""
        if not self.path.is_file():
            return []
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT * FROM suggestions ORDER BY round, position"
            ).fetchall()
        return [dict(row) for row in rows]

    def csv(self) -> str:
        """Every tag ever made, removed ones with their removal time; a note or id that
        a spreadsheet would run as a formula gets a leading quote (the store keeps the
        real text)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(
            {key: spreadsheet_cell(value) for key, value in tag.items()}
            for tag in self.list(include_removed=True)
        )
        return buffer.getvalue()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
