"""The SQLite file of a labeling session: schema, connection, transactions.

One file holds everything a session needs to resume: the pool's item ids
and where the pool comes from (not its data), the declared classes, every
query (round, item, score, prediction, model version), every answer
(label, annotator, time) and every fitted model (which answers it was
fitted on, its validation accuracy, its outputs on the stop set and, where
a safe format exists, its parameters).

The file is opened in WAL mode with ``synchronous=FULL``: a transaction
that returned from ``COMMIT`` survives a killed process (and a power cut),
and one that did not is rolled back when the file is next opened. Writers
take the lock up front (``BEGIN IMMEDIATE``) and wait for each other up to
the busy timeout, so that two annotators telling at once both succeed.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "IncompatibleDatabaseError",
    "connect",
    "create_schema",
    "check_schema",
    "read_meta",
    "transaction",
]

#: Bumped whenever a table changes; a file with another version is refused.
SCHEMA_VERSION = 1
#: ``PRAGMA application_id`` of skal's session files: "skal" in ASCII.
APPLICATION_ID = 0x736B616C

_SCHEMA = """
CREATE TABLE schema_version (
    version INTEGER NOT NULL,
    skal_version TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL              -- JSON
);
CREATE TABLE items (
    pos INTEGER PRIMARY KEY,         -- row position in the pool
    item_id NOT NULL UNIQUE          -- the user's id (int or text), as given
);
CREATE TABLE classes (
    position INTEGER PRIMARY KEY,
    label NOT NULL UNIQUE,
    declared INTEGER NOT NULL,       -- 1: declared when created, 0: added (open classes)
    added_at REAL NOT NULL
);
CREATE TABLE models (
    version INTEGER PRIMARY KEY,
    last_answer_id INTEGER NOT NULL, -- fitted on the answers with id <= this
    n_train INTEGER NOT NULL,
    fitted_at REAL NOT NULL,
    fit_seconds REAL NOT NULL,
    validation_accuracy REAL,
    n_validation INTEGER NOT NULL,
    params_format TEXT,              -- 'npz' or NULL (refit to rebuild)
    params BLOB,
    stop_outputs BLOB                -- npz: proba on the stop set, unlabeled mask
);
CREATE TABLE queries (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('train', 'validation')),
    round INTEGER NOT NULL,
    rank INTEGER NOT NULL,
    item_pos INTEGER NOT NULL UNIQUE REFERENCES items(pos),
    score REAL,
    prediction,
    model_version INTEGER REFERENCES models(version),
    seed INTEGER,
    asked_at REAL NOT NULL,
    UNIQUE (kind, round, rank)
);
CREATE TABLE answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_pos INTEGER NOT NULL REFERENCES items(pos),
    label NOT NULL REFERENCES classes(label),
    annotator TEXT,
    answered_at REAL NOT NULL,
    asked INTEGER NOT NULL
);
CREATE INDEX answers_item ON answers(item_pos);
"""


class IncompatibleDatabaseError(ValueError):
    """The file is not a skal labeling session, or one written by an incompatible skal."""


def connect(path, *, timeout=30.0, create=False):
    """Open ``path`` with skal's settings: WAL, full sync, foreign keys, busy timeout.

    Without ``create`` the file must exist (sqlite3 would silently create an
    empty one).
    """
    path = os.fspath(path)
    if not create and not os.path.exists(path):
        raise FileNotFoundError(
            f"no labeling session at {path!r}: create one with LabelingSession(pool, "
            "estimator=..., database=...)."
        )
    con = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    try:
        con.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise OSError(f"could not put {path!r} in WAL mode (journal_mode={mode}).")
        con.execute("PRAGMA synchronous = FULL")
        con.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        con.close()
        raise IncompatibleDatabaseError(f"{path!r} is not an SQLite database ({exc}).") from None
    except BaseException:
        con.close()
        raise
    return con


@contextlib.contextmanager
def transaction(con, *, write=True):
    """``BEGIN IMMEDIATE`` (or a read snapshot) ... ``COMMIT``; ``ROLLBACK`` on any exception.

    Inside a transaction already open on ``con``, the block simply joins it.
    """
    if con.in_transaction:
        yield con
        return
    con.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield con
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _tables(con):
    return {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def is_empty(con):
    """True for a file with no tables at all (new, or a creation that never committed)."""
    return not _tables(con)


def create_schema(con, skal_version):
    """Create the tables (inside the caller's transaction)."""
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            con.execute(statement)
    con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    con.execute(
        "INSERT INTO schema_version (version, skal_version, created_at) VALUES (?, ?, ?)",
        (SCHEMA_VERSION, skal_version, time.time()),
    )


def check_schema(con, path, skal_version):
    """Refuse a file that is not a session, or one of another schema version."""
    tables = _tables(con)
    app_id = con.execute("PRAGMA application_id").fetchone()[0]
    if "schema_version" not in tables or app_id != APPLICATION_ID:
        if not tables:
            raise IncompatibleDatabaseError(
                f"{path!r} holds no labeling session (it is empty: its creation never "
                "committed). Create the session again with LabelingSession(pool, ...)."
            )
        raise IncompatibleDatabaseError(
            f"{path!r} is an SQLite database but not a skal labeling session."
        )
    row = con.execute("SELECT version, skal_version FROM schema_version").fetchone()
    if row is None or row[0] != SCHEMA_VERSION:
        version, writer = (None, "an unknown skal") if row is None else (row[0], f"skal {row[1]}")
        raise IncompatibleDatabaseError(
            f"{path!r} was written by {writer} (session schema {version}); this is skal "
            f"{skal_version}, which reads schema {SCHEMA_VERSION}. Open it with the skal "
            "version that wrote it (export what you need with labeled() / answers())."
        )


def write_meta(con, values):
    con.executemany(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
        [(key, json.dumps(value)) for key, value in values.items()],
    )


def read_meta(con):
    return {key: json.loads(value) for key, value in con.execute("SELECT key, value FROM meta")}
