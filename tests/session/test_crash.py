"""A campaign killed with SIGKILL at random moments loses nothing acknowledged and resumes exactly.

Each attempt runs the scripted campaign (:mod:`tests.session._campaign`) in
a forked child (no imports to pay) and kills it after a random delay:
mid-ask, mid-tell, mid-fit, mid-commit. After every kill the file must pass
``PRAGMA integrity_check``, hold every answer the child acknowledged, and
the next child resumes. The campaign finished after the kills must equal
an uninterrupted one: the same queries (rounds, items, scores,
predictions, model versions), answers and models.
"""

import multiprocessing
import os
import signal
import sys
import time

import numpy as np
import pytest

from ._campaign import check_database, database_content, digits_pool, read_acks, run_campaign

pytestmark = pytest.mark.skipif(
    sys.platform == "win32" or "fork" not in multiprocessing.get_all_start_methods(),
    reason="needs fork and SIGKILL",
)


def _child(X, y, database, log, rounds):
    try:
        run_campaign(X, y, database, rounds=rounds, log=log)
    finally:
        os._exit(0)


def _count(log, marker):
    if not os.path.exists(log):
        return 0
    with open(log) as fh:
        return sum(line.startswith(marker) for line in fh)


def _phase(log):
    """Where the child was when it died: the last marker it wrote."""
    if not os.path.exists(log):
        return "start"
    with open(log) as fh:
        lines = [line.split()[0] for line in fh if line.strip()]
    last = lines[-1] if lines else "START"
    return {"START": "open", "OPEN": "ask", "ASKED": "tell/fit", "TELL": "tell/fit",
            "ACK": "ask", "DONE": "done"}[last]


def _kill_and_resume(tmp_path, n_kills, rounds, max_delay, seed, min_delay=0.0):
    X, y = digits_pool()
    reference = tmp_path / "reference.db"
    run_campaign(X, y, reference, rounds=rounds).close()

    database, log = tmp_path / "killed.db", tmp_path / "acks.log"
    rng = np.random.default_rng(seed)
    ctx = multiprocessing.get_context("fork")
    phases = []
    for attempt in range(n_kills):
        opened = _count(log, "OPEN")
        child = ctx.Process(target=_child, args=(X, y, database, log, rounds))
        child.start()
        if attempt % 4:  # most kills once the session is open: mid-ask, mid-tell, mid-fit
            deadline = time.monotonic() + 30
            while _count(log, "OPEN") == opened and child.is_alive() and time.monotonic() < deadline:
                time.sleep(0.005)
        # and every fourth at any moment, opening (and its due refit) included
        time.sleep(rng.uniform(min_delay, max_delay))
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        phases.append(_phase(log))
        if not database.exists():
            continue
        integrity, foreign = check_database(database)
        assert integrity == [("ok",)] and foreign == []
        stored = {row[0]: row[1:3] for row in database_content(database)["answers"]}
        for answer_ids, item_ids, labels in read_acks(log):
            for answer_id, item, label in zip(answer_ids, item_ids, labels):
                assert stored.get(answer_id) == (item, label), "an acknowledged answer was lost"
    # the last run is left to finish
    session = run_campaign(X, y, database, rounds=rounds, log=log)
    try:
        assert check_database(database) == ([("ok",)], [])
        assert database_content(database) == database_content(reference)
        again = run_campaign(X, y, reference, rounds=rounds)
        np.testing.assert_array_equal(session.learner.predict_proba(X), again.learner.predict_proba(X))
        assert session.ask(5).ids == again.ask(5).ids
        again.close()
    finally:
        session.close()
    return phases


def test_sigkill_at_random_points_loses_nothing_and_resumes_exactly(tmp_path):
    phases = _kill_and_resume(tmp_path, n_kills=20, rounds=40, max_delay=0.4, seed=0)
    assert len(phases) == 20


@pytest.mark.slow
def test_sigkill_many_times(tmp_path):
    phases = _kill_and_resume(tmp_path, n_kills=100, rounds=60, max_delay=1.0, seed=1)
    # the kills landed in every phase of the loop
    assert {"open", "ask", "tell/fit"} <= set(phases)
