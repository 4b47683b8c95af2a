"""Bad input gets a clear error and changes nothing in the session file."""

import json
import os
import sqlite3

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from skal import LabelingSession
from skal.session import IncompatibleDatabaseError
from skal.session._persist import build_estimator

from ._campaign import check_database, digits_pool, make_session


@pytest.fixture(scope="module")
def pool():
    return digits_pool(300)


@pytest.fixture
def session(tmp_path, pool):
    X, y = pool
    session = make_session(X, tmp_path / "s.db")
    session.tell(list(range(10)), y[:10], allow_unasked=True)
    session.asked = list(session.ask(5))
    yield session
    session.close()


def _dump(path):
    con = sqlite3.connect(path)
    try:
        return list(con.iterdump())
    finally:
        con.close()


def _unchanged(session, call, match, error=ValueError):
    before = _dump(session.database)
    version = session.model_version
    with pytest.raises(error, match=match):
        call()
    assert _dump(session.database) == before
    assert session.model_version == version
    assert check_database(session.database) == ([("ok",)], [])


def test_unknown_ids(session, pool):
    _unchanged(session, lambda: session.tell(session.asked[:2] + [10_000], [1, 2, 3]),
               r"unknown item ids \[10000\]")
    _unchanged(session, lambda: session.tell(["a"], [1]), "unknown item ids")


def test_ids_never_asked_need_the_flag(session, pool):
    X, y = pool
    _unchanged(session, lambda: session.tell([session.asked[0], 250], [1, 2]),
               r"ids \[250\] were never asked.*allow_unasked=True")
    session.tell([250], [int(y[250])], allow_unasked=True)
    session.tell([250], [int(y[250])])  # answered already: a second opinion needs no flag


def test_labels_outside_the_classes(session):
    _unchanged(session, lambda: session.tell(session.asked[:2], [1, 10]),
               r"labels \[10\] are not among the session's classes.*open_classes=True")
    _unchanged(session, lambda: session.tell(session.asked[:2], ["1", "2"]), "of type")
    _unchanged(session, lambda: session.tell(session.asked[:1], [1.5]), "ints or strings")
    _unchanged(session, lambda: session.tell(session.asked[:1], [None]), "ints or strings")
    _unchanged(session, lambda: session.tell(session.asked[:1], [np.nan]), "missing answer")


def test_malformed_tells(session):
    _unchanged(session, lambda: session.tell(session.asked[:2], [1]), "2 ids but 1 labels")
    _unchanged(session, lambda: session.tell([], []), "empty")
    _unchanged(session, lambda: session.tell(session.asked[:1] * 2, [1, 1]), "more than once")
    _unchanged(session, lambda: session.tell(session.asked[0], [1]), "must be a sequence")
    _unchanged(session, lambda: session.tell(session.asked[:1], [1], annotator=3), "annotator")


@pytest.mark.parametrize("header, match", [
    ("id", r"missing columns \['label'\]"),
    ("item,label", r"missing columns \['id'\] and unexpected columns \['item'\]"),
    ("id,label,annotator,comment", r"unexpected columns \['comment'\]"),
    ("id,label,label", "repeated columns"),
])
def test_answers_file_with_missing_or_extra_columns(session, tmp_path, header, match):
    path = tmp_path / "answers.csv"
    cells = {"id": str(session.asked[0]), "label": "1", "annotator": "a", "comment": "x", "item": "3"}
    path.write_text(header + "\n" + ",".join(cells[c] for c in header.split(",")) + "\n")
    _unchanged(session, lambda: session.tell_file(path), match)


def test_answers_file_with_one_bad_row_records_nothing(session, tmp_path):
    path = tmp_path / "answers.csv"
    path.write_text(f"id,label\n{session.asked[0]},1\n{session.asked[1]},11\n")
    _unchanged(session, lambda: session.tell_file(path), r"labels \[11\]")
    path.write_text(f"id,label\n{session.asked[0]},1,extra\n")
    _unchanged(session, lambda: session.tell_file(path), "line 2")
    path.write_text(f"id,label,annotator\n{session.asked[0]},1,a\n")
    _unchanged(session, lambda: session.tell_file(path, annotator="b"), "annotator column")
    path.write_text("")
    _unchanged(session, lambda: session.tell_file(path), "empty")


def test_a_failing_fit_keeps_the_answers_and_the_model(session, pool):
    X, y = pool
    before = session.model_version
    session._template.set_params(C=-1.0)  # fit raises
    with pytest.raises(RuntimeError, match="answers were recorded, but refitting"):
        session.tell(session.asked, y[session.asked])
    assert session.model_version == before
    assert session.learner.predict(X[:3]).shape == (3,)  # still the last good model
    assert len(session.answers()) == 15


def test_database_of_an_incompatible_version(session, pool):
    X, _ = pool
    session.close()
    con = sqlite3.connect(session.database)
    con.execute("UPDATE schema_version SET version = 99, skal_version = '9.0'")
    con.commit()
    con.close()
    before = _dump(session.database)
    with pytest.raises(IncompatibleDatabaseError, match=r"written by skal 9.0 \(session schema 99\)"):
        LabelingSession.open(session.database, pool=X)
    assert _dump(session.database) == before


def test_files_that_are_no_session(tmp_path, pool):
    X, _ = pool
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(IncompatibleDatabaseError, match="not a skal labeling session"):
        LabelingSession.open(other, pool=X)
    with pytest.raises(FileExistsError):
        make_session(X, other)
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a database at all, just some text " * 20)
    with pytest.raises(IncompatibleDatabaseError, match="not an SQLite database"):
        LabelingSession.open(text, pool=X)
    assert text.read_text().startswith("hello")
    with pytest.raises(FileNotFoundError, match="no labeling session"):
        LabelingSession.open(tmp_path / "missing.db", pool=X)
    assert not (tmp_path / "missing.db").exists()


def test_creating_over_an_existing_session(session, pool):
    X, _ = pool
    before = _dump(session.database)
    with pytest.raises(FileExistsError, match="LabelingSession.open"):
        make_session(X, session.database)
    assert _dump(session.database) == before


def test_reopening_with_another_pool_estimator_or_strategy(session, pool, tmp_path):
    X, _ = pool
    session.close()
    before = _dump(session.database)
    with pytest.raises(ValueError, match="handed over in memory"):
        LabelingSession.open(session.database)
    changed = X.copy()
    changed[7, 3] += 1
    with pytest.raises(ValueError, match="contents of its rows changed"):
        LabelingSession.open(session.database, pool=changed)
    with pytest.raises(ValueError, match="had 300 items and now has 299"):
        LabelingSession.open(session.database, pool=X[:-1])
    with pytest.raises(ValueError, match=r"parameters \['C'\] differ"):
        LabelingSession.open(session.database, pool=X, estimator=LogisticRegression(max_iter=200, tol=1e-2, C=2))
    from sklearn.naive_bayes import GaussianNB
    with pytest.raises(ValueError, match="GaussianNB but the session was created with"):
        LabelingSession.open(session.database, pool=X, estimator=GaussianNB())
    with pytest.raises(ValueError, match="not the session's"):
        LabelingSession.open(session.database, pool=X, strategy="entropy")
    assert _dump(session.database) == before
    LabelingSession.open(session.database, pool=X, estimator=LogisticRegression(max_iter=200, tol=1e-2),
                         strategy="margin").close()


def test_untrusted_estimator_classes_are_not_imported(session, pool):
    X, _ = pool
    session.close()
    con = sqlite3.connect(session.database)
    spec = {"class": "subprocess:Popen", "params": {"args": ["touch", "pwned"]}}
    con.execute("UPDATE meta SET value = ? WHERE key = 'estimator'", (json.dumps(spec),))
    con.commit()
    con.close()
    with pytest.raises(ValueError, match="not a class of a trusted package"):
        LabelingSession.open(session.database, pool=X)
    assert not os.path.exists("pwned")
    with pytest.raises(ValueError, match="not a scikit-learn estimator"):
        build_estimator({"class": "sklearn.utils:Bunch", "params": {}})


@pytest.mark.parametrize("kwargs, match", [
    ({"classes": None}, "declare the classes"),
    ({"classes": [1, 1]}, "repeats"),
    ({"classes": [1, "a"]}, "mixes"),
    ({"retrain": "sometimes"}, "retrain"),
    ({"retrain": 0}, "retrain"),
    ({"label_policy": "first"}, "label_policy"),
    ({"random_state": None}, "random_state"),
    ({"strategy": "nope"}, "unknown query strategy"),
    ({"stopping": ["x"]}, "skal.stopping"),
    ({"query_options": {"f": len}}, "JSON"),
    ({"id_column": "name"}, "id_column"),
])
def test_bad_parameters_create_nothing(tmp_path, pool, kwargs, match):
    X, _ = pool
    with pytest.raises((ValueError, TypeError), match=match):
        make_session(X, tmp_path / "new.db", **kwargs)
    assert not (tmp_path / "new.db").exists()


def test_pool_ids_must_be_distinct(tmp_path, pool):
    pd = pytest.importorskip("pandas")
    X, _ = pool
    frame = pd.DataFrame(X[:5])
    frame["name"] = ["a", "b", "a", "c", "d"]
    with pytest.raises(ValueError, match=r"repeats ids \['a'\]"):
        make_session(frame, tmp_path / "new.db", id_column="name")
    assert not (tmp_path / "new.db").exists()


def test_a_closed_session_says_so(session):
    session.close()
    with pytest.raises(ValueError, match="closed"):
        session.ask(1)
