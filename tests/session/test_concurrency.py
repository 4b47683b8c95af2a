"""Two annotators telling at once, from two processes, on one session file."""

import multiprocessing
import os
import sys

import pytest

from skal import LabelingSession

from ._campaign import check_database, digits_pool, make_session, read_acks

pytestmark = pytest.mark.skipif(
    sys.platform == "win32" or "fork" not in multiprocessing.get_all_start_methods(),
    reason="needs fork",
)

SHARED = [590, 591, 592, 593]  # both annotators label these, the first differently


def _annotator(name, X, y, database, log, barrier, rounds, wrong):
    try:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        session = LabelingSession.open(database, pool=X)
        barrier.wait()
        labels = [int(y[i]) for i in SHARED]
        if wrong:
            labels[0] = (labels[0] + 1) % 10
        answer_ids = session.tell(SHARED, labels, annotator=name, allow_unasked=True)
        os.write(fd, f"ACK {' '.join(map(str, answer_ids))} | {' '.join(map(str, SHARED))} | "
                     f"{' '.join(map(str, labels))}\n".encode())
        for _ in range(rounds):
            batch = list(session.ask(4))
            labels = [int(y[i]) for i in batch]
            answer_ids = session.tell(batch, labels, annotator=name)
            os.write(fd, f"ACK {' '.join(map(str, answer_ids))} | {' '.join(map(str, batch))} | "
                         f"{' '.join(map(str, labels))}\n".encode())
        session.close()
        os.close(fd)
        code = 0
    except BaseException:  # pragma: no cover - reported through the exit code
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)


def test_two_annotators_telling_at_once_lose_nothing(tmp_path):
    X, y = digits_pool()
    database = tmp_path / "shared.db"
    session = make_session(X, database, timeout=60.0)
    seed = [int(i) for i in range(20)]
    session.tell(seed, [int(y[i]) for i in seed], annotator="lead", allow_unasked=True)
    session.close()

    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    logs = {name: tmp_path / f"{name}.log" for name in ("ann", "bob")}
    children = [
        ctx.Process(target=_annotator, args=(name, X, y, database, logs[name], barrier, 6, name == "bob"))
        for name in logs
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=240)
    assert [child.exitcode for child in children] == [0, 0]

    assert check_database(database) == ([("ok",)], [])
    session = LabelingSession.open(database, pool=X)
    try:
        answers = {a["answer_id"]: a for a in session.answers()}
        acked = 0
        for name, log in logs.items():
            for answer_ids, ids, labels in read_acks(log):
                for answer_id, item, label in zip(answer_ids, ids, labels):
                    assert answers[answer_id]["id"] == item
                    assert answers[answer_id]["label"] == label
                    assert answers[answer_id]["annotator"] == name
                    acked += 1
        assert acked == 2 * (len(SHARED) + 6 * 4)
        assert len(answers) == 20 + acked
        # the two annotators were never asked the same item
        asked = [q["id"] for q in session.queries()]
        assert len(asked) == len(set(asked)) == 2 * 6 * 4
        status = session.status()
        assert status.annotators == {"lead": 20, "ann": len(SHARED) + 24, "bob": len(SHARED) + 24}
        # both answers for the shared items are kept; the conflicting one is visible
        assert [d.id for d in status.disagreements] == [SHARED[0]]
        conflict = status.disagreements[0]
        assert sorted(conflict.annotators) == ["ann", "bob"] and len(set(conflict.labels)) == 2
        assert status.n_labeled == 20 + len(SHARED) + 2 * 24
        assert status.model_version is not None
    finally:
        session.close()
