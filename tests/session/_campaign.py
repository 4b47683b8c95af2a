"""A scripted labeling campaign with a simulated annotator, for the resume, crash and concurrency tests."""

import os

import numpy as np

from skal import LabelingSession
from skal.session import IncompatibleDatabaseError


def digits_pool(n=600):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X[:n] / 16.0).astype(np.float32), y[:n]


def make_session(X, database, **kwargs):
    from sklearn.linear_model import LogisticRegression

    params = dict(
        estimator=LogisticRegression(max_iter=200, tol=1e-2), strategy="margin", classes=list(range(10)),
        database=database, random_state=0, stop_set_size=200,
    )
    params.update(kwargs)
    return LabelingSession(X, **params)


def open_or_create(X, database, **kwargs):
    """Resume the campaign in ``database``, or start it (also after a creation that never committed)."""
    try:
        return LabelingSession.open(database, pool=X)
    except FileNotFoundError:
        pass
    except IncompatibleDatabaseError as exc:
        if "empty" not in str(exc):
            raise
    return make_session(X, database, **kwargs)


def _note(fd, text):
    if fd is not None:
        os.write(fd, (text + "\n").encode())


def run_campaign(X, y, database, *, rounds=8, batch=5, n_validation=10, log=None, **kwargs):
    """The script: validation draw, then ``rounds`` ask/tell rounds; resumes where it stopped.

    Every answer acknowledged (``tell`` returned) is appended to ``log`` as
    ``ACK <answer ids> | <item ids> | <labels>``, with ``TELL`` before the call.
    """
    fd = None if log is None else os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        _note(fd, "START")
        session = open_or_create(X, database, **kwargs)
        _note(fd, "OPEN")

        def answer(ids):
            labels = [int(y[i]) for i in ids]
            _note(fd, "TELL")
            answer_ids = session.tell(ids, labels, annotator="sim")
            _note(fd, f"ACK {' '.join(map(str, answer_ids))} | {' '.join(map(str, ids))} | "
                      f"{' '.join(map(str, labels))}")

        pending = session.pending()
        if pending:
            answer(pending)
        kinds = [q["kind"] for q in session.queries()]
        if n_validation and "validation" not in kinds:
            answer(list(session.ask_validation(n_validation)))
        done = len({q["round"] for q in session.queries() if q["kind"] == "train"})
        for _ in range(done, rounds):
            batch_ids = session.ask(batch)
            _note(fd, "ASKED")
            answer(list(batch_ids))
        _note(fd, "DONE")
        return session
    finally:
        if fd is not None:
            os.close(fd)


def database_content(database):
    """What must be equal between a resumed and an uninterrupted campaign (times left out)."""
    import sqlite3

    con = sqlite3.connect(database)
    try:
        return {
            "queries": con.execute(
                "SELECT kind, round, rank, item_pos, score, prediction, model_version, seed "
                "FROM queries ORDER BY id").fetchall(),
            "answers": con.execute(
                "SELECT id, item_pos, label, annotator, asked FROM answers ORDER BY id").fetchall(),
            "models": con.execute(
                "SELECT version, last_answer_id, n_train, validation_accuracy, n_validation, "
                "params, stop_outputs FROM models ORDER BY version").fetchall(),
            "classes": con.execute("SELECT position, label, declared FROM classes").fetchall(),
            "items": con.execute("SELECT COUNT(*) FROM items").fetchone(),
        }
    finally:
        con.close()


def check_database(database):
    """``PRAGMA integrity_check`` and ``foreign_key_check`` of the file."""
    import sqlite3

    con = sqlite3.connect(database)
    try:
        integrity = con.execute("PRAGMA integrity_check").fetchall()
        foreign = con.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        con.close()
    return integrity, foreign


def read_acks(log):
    """``[(answer_ids, item_ids, labels)]`` of the acknowledged tells in ``log``."""
    acks = []
    if not os.path.exists(log):
        return acks
    with open(log) as fh:
        for line in fh:
            if line.startswith("ACK ") and line.endswith("\n"):
                answer_ids, ids, labels = (part.split() for part in line[4:].split("|"))
                acks.append(([int(a) for a in answer_ids], [int(i) for i in ids],
                             [int(v) for v in labels]))
    return acks
