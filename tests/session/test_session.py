"""LabelingSession: the loop it shares with ActiveLearner, resuming, retrain and label policies, pools."""

import sqlite3

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skal import ActiveLearner, LabelingSession

from ._campaign import check_database, database_content, digits_pool, make_session


@pytest.fixture(scope="module")
def pool():
    return digits_pool(600)


def _seed_set(y):
    return [int(np.flatnonzero(y == c)[0]) for c in range(10)]


@pytest.mark.parametrize("strategy", ["margin", "random", "cluster_margin"])
def test_same_picks_and_accuracies_as_active_learner(tmp_path, strategy):
    # the real workflow (ask/tell with a simulated annotator) and the modAL loop are one loop
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    X_pool, y_pool, X_test, y_test = X[:900], y[:900], X[900:], y[900:]
    seed = _seed_set(y_pool)
    estimator = LogisticRegression(max_iter=200)

    learner = ActiveLearner(clone(estimator), strategy, X_training=X_pool[seed],
                            y_training=y_pool[seed], random_state=3)
    unlabeled = np.ones(len(X_pool), dtype=bool)
    unlabeled[seed] = False
    expected = []
    for _ in range(4):
        candidates = np.flatnonzero(unlabeled)
        idx, _ = learner.query(X_pool[candidates], n_instances=8)
        picked = candidates[idx]
        learner.teach(X_pool[picked], y_pool[picked])
        unlabeled[picked] = False
        expected.append((picked.tolist(), learner.score(X_test, y_test)))

    session = LabelingSession(X_pool, estimator=estimator, strategy=strategy,
                              classes=range(10), database=tmp_path / "s.db", random_state=3)
    session.tell(seed, y_pool[seed], allow_unasked=True)
    got = []
    for _ in range(4):
        batch = session.ask(8)
        session.tell(batch, y_pool[list(batch)])
        got.append((list(batch), session.learner.score(X_test, y_test)))
    assert got == expected
    X_lab, y_lab = session.labeled()
    np.testing.assert_array_equal(X_lab, learner.X_training)
    np.testing.assert_array_equal(y_lab, learner.y_training)
    session.close()


def _campaign(session, y, rounds, *, reopen=None, X=None, ask_only_last=False):
    """Ask/tell rounds; ``reopen`` in {"after_tell", "after_ask"} closes and reopens the file."""
    batches = []
    for r in range(rounds):
        batch = session.ask(5)
        batches.append((list(batch), batch.scores, batch.predictions, batch.model_version))
        if reopen == "after_ask":
            session.close()
            session = LabelingSession.open(session.database, pool=X)
        session.tell(batch, y[list(batch)])
        if reopen == "after_tell":
            session.close()
            session = LabelingSession.open(session.database, pool=X)
    return session, batches


@pytest.mark.parametrize("retrain", ["every_tell", 7])
@pytest.mark.parametrize("reopen", ["after_tell", "after_ask"])
def test_reopening_resumes_exactly(tmp_path, pool, retrain, reopen):
    X, y = pool
    plain = make_session(X, tmp_path / "plain.db", retrain=retrain)
    plain, expected = _campaign(plain, y, 4)
    resumed = make_session(X, tmp_path / "resumed.db", retrain=retrain)
    resumed, got = _campaign(resumed, y, 4, reopen=reopen, X=X)
    assert got == expected
    assert database_content(plain.database) == database_content(resumed.database)
    assert resumed.ask(5).ids == plain.ask(5).ids
    assert resumed.status().model_version == plain.status().model_version
    plain.close()
    resumed.close()


def test_reopen_after_a_fit_that_never_finished_fits_then(tmp_path, pool):
    # answers committed, the process died before the model was recorded: open() does the fit
    X, y = pool
    plain = make_session(X, tmp_path / "plain.db")
    plain, _ = _campaign(plain, y, 3)
    crashed = make_session(X, tmp_path / "crashed.db")
    crashed, _ = _campaign(crashed, y, 2)
    batch = crashed.ask(5)
    crashed._fit = lambda explicit: None  # the fit "dies"
    crashed.tell(batch, y[list(batch)])
    assert crashed.status().model_version == 2
    crashed.close()
    resumed = LabelingSession.open(tmp_path / "crashed.db", pool=X)
    assert resumed.model_version == plain.model_version == 3
    assert database_content(resumed.database)["models"] == database_content(plain.database)["models"]
    assert resumed.ask(5).ids == plain.ask(5).ids
    plain.close()
    resumed.close()


def test_cached_model_gives_the_refitted_model(tmp_path, pool):
    X, y = pool
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200))
    session = make_session(X, tmp_path / "s.db", estimator=estimator)
    session, _ = _campaign(session, y, 3)
    proba = session.learner.predict_proba(X)
    nxt = session.ask(5)
    session.close()
    for use_cache in (False, True):
        con = sqlite3.connect(tmp_path / "s.db")
        con.execute("DELETE FROM queries WHERE round = 4")
        con.commit()
        con.close()
        again = LabelingSession.open(tmp_path / "s.db", pool=X, use_cached_model=use_cache)
        np.testing.assert_array_equal(again.learner.predict_proba(X), proba)
        assert again.ask(5).ids == nxt.ids
        again.close()


def test_retrain_policies(tmp_path, pool):
    X, y = pool
    every3 = make_session(X, tmp_path / "k.db", retrain=3)
    manual = make_session(X, tmp_path / "m.db", retrain="manual")
    for session in (every3, manual):
        session.tell(list(range(10)), y[:10], allow_unasked=True)
    assert every3.model_version == 1 and manual.model_version is None
    every3.tell([10, 11], y[10:12], allow_unasked=True)
    assert every3.model_version == 1  # 2 new labels < 3
    every3.tell([12], y[12:13], allow_unasked=True)
    assert every3.model_version == 2
    # manual: cold start until fit() is called
    assert manual.ask(3).model_version is None
    assert manual.fit() == 1
    assert manual.ask(3).model_version == 1
    every3.close()
    manual.close()


def test_cold_start_is_random_then_the_model_takes_over(tmp_path, pool):
    X, y = pool
    session = make_session(X, tmp_path / "s.db")
    first = session.ask(10)
    assert first.model_version is None and first.predictions is None and first.scores is None
    session.tell(first, y[list(first)])
    second = session.ask(10)
    assert second.model_version == 1
    assert len(second.predictions) == len(second.scores) == 10
    assert set(second.predictions) <= set(range(10))
    session.close()


def test_validation_items_are_never_trained_on_nor_asked(tmp_path, pool):
    X, y = pool
    session = make_session(X, tmp_path / "s.db")
    validation = session.ask_validation(50)
    assert validation.kind == "validation" and validation.predictions is None
    session.tell(validation, y[list(validation)])
    assert session.model_version is None  # validation answers do not train
    for _ in range(5):
        batch = session.ask(10)
        assert not set(batch) & set(validation)
        session.tell(batch, y[list(batch)])
    ids, X_train, y_train = session.labeled(return_ids=True)
    assert not set(ids) & set(validation) and len(ids) == 50
    val_ids, X_val, y_val = session.labeled(validation=True, return_ids=True)
    assert sorted(val_ids) == sorted(validation)
    assert len(session.learner.X_training) == 50
    reference = LogisticRegression(max_iter=200, tol=1e-2, random_state=0).fit(X_train, y_train)
    np.testing.assert_allclose(session.learner.predict_proba(X), reference.predict_proba(X))
    status = session.status()
    assert status.n_validation == status.n_validation_labeled == 50
    assert status.validation_accuracy == pytest.approx(reference.score(X_val, y_val))
    session.close()


@pytest.mark.parametrize("policy, expected", [("latest", 3), ("majority", 2)])
def test_label_policy_and_disagreements(tmp_path, pool, policy, expected):
    X, y = pool
    session = make_session(X, tmp_path / "s.db", label_policy=policy, retrain="manual")
    session.tell(list(range(10)), y[:10], annotator="a", allow_unasked=True)
    session.tell([0], [2], annotator="b")
    session.tell([0], [2], annotator="c")
    session.tell([0], [3], annotator="d")
    ids, _, labels = session.labeled(return_ids=True)
    assert ids == list(range(10))
    assert labels[0] == expected
    status = session.status()
    [conflict] = status.disagreements
    assert conflict.id == 0 and conflict.labels == [int(y[0]), 2, 2, 3]
    assert conflict.annotators == ["a", "b", "c", "d"] and conflict.chosen == expected
    assert status.n_answers == 13 and status.n_labeled == 10
    session.close()


def test_status_counts_rounds_and_stopping(tmp_path, pool):
    X, y = pool
    session = make_session(X, tmp_path / "s.db")
    session, _ = _campaign(session, y, 4)
    session.ask(3)
    status = session.status()
    assert status.n_rounds == 5 and status.n_pending == 3 and status.model_version == 4
    assert sum(status.counts.values()) == status.n_labeled == 20
    assert list(status.counts) == list(range(10))
    names = [r.name for r in status.stopping]
    assert names == ["stabilizing_predictions", "max_uncertainty", "overall_uncertainty",
                     "classification_change", "validation_plateau"]
    reports = {r.name: r for r in status.stopping}
    assert reports["stabilizing_predictions"].value is not None  # 4 models: 3 kappas
    assert reports["validation_plateau"].value is None  # no validation set
    assert all(r.n_updates == 4 for r in status.stopping if r.name != "validation_plateau")
    assert "model version 4" in str(status)
    session.close()


def test_status_criteria_equal_the_criteria_fed_by_hand(tmp_path, pool):
    # status() replays the stored stop-set outputs; a loop feeding the learner gets the same values
    from skal.stopping import default_criteria

    X, y = pool
    session = make_session(X, tmp_path / "s.db")
    session.tell(list(range(10)), y[:10], allow_unasked=True)
    criteria = default_criteria()
    stop_set = X[session._stop_set]
    for criterion in criteria[:-1]:
        criterion.update(proba=session.learner.predict_proba(stop_set), classes=np.arange(10),
                         mask=~np.isin(session._stop_set, np.arange(10)))
    for _ in range(4):
        batch = session.ask(5)
        session.tell(batch, y[list(batch)])
        labeled = session.labeled(return_ids=True)[0]
        for criterion in criteria[:-1]:
            criterion.update(proba=session.learner.predict_proba(stop_set), classes=np.arange(10),
                             mask=~np.isin(session._stop_set, labeled))
    reports = {r.name: r for r in session.status().stopping}
    for criterion in criteria[:-1]:
        assert reports[criterion.name].value == pytest.approx(criterion.value_, rel=1e-5)
    session.close()


def test_the_database_is_consistent(tmp_path, pool):
    X, y = pool
    session = make_session(X, tmp_path / "s.db")
    _campaign(session, y, 3)
    assert check_database(tmp_path / "s.db") == ([("ok",)], [])
    con = sqlite3.connect(tmp_path / "s.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT version FROM schema_version").fetchone()[0] == 1
    con.close()
    session.close()


def test_open_classes_accept_new_labels(tmp_path, pool):
    X, _ = pool
    session = make_session(X, tmp_path / "s.db", classes=["cat", "dog"], open_classes=True,
                           retrain="manual")
    session.tell([0, 1, 2], ["cat", "dog", "bird"], allow_unasked=True)
    assert session.classes == ["cat", "dog", "bird"]
    session.fit()
    batch = session.ask(4)
    assert set(batch.predictions) <= {"cat", "dog", "bird"}
    assert session.status().counts == {"cat": 1, "dog": 1, "bird": 1}
    session.close()
    undeclared = make_session(X, tmp_path / "o.db", classes=None, open_classes=True)
    undeclared.tell([0, 1], [4, 7], allow_unasked=True)
    assert undeclared.classes == [4, 7] and undeclared.model_version == 1
    undeclared.close()


def test_tell_file(tmp_path, pool):
    X, y = pool
    session = make_session(X, tmp_path / "s.db")
    batch = session.ask(4)
    path = tmp_path / "answers.csv"
    rows = "\n".join(f"{i},{y[i]},ann{k % 2}" for k, i in enumerate(batch))
    path.write_text(f"id,label,annotator\n{rows}\n")
    session.tell_file(path)
    answers = session.answers()
    assert [a["id"] for a in answers] == list(batch)
    assert [a["label"] for a in answers] == [int(y[i]) for i in batch]
    assert [a["annotator"] for a in answers] == ["ann0", "ann1", "ann0", "ann1"]
    session.close()


# -- pools ----------------------------------------------------------------------


def test_dataframe_and_csv_pools_use_the_id_column(tmp_path, pool):
    pd = pytest.importorskip("pandas")
    X, y = pool
    frame = pd.DataFrame(X[:200], columns=[f"px{i}" for i in range(64)])
    frame.insert(0, "name", [f"img{i:03d}" for i in range(200)])
    truth = dict(zip(frame["name"], y[:200]))
    csv = tmp_path / "pool.csv"
    frame.to_csv(csv, index=False)
    for source, db in ((frame, "frame.db"), (csv, "csv.db")):
        session = make_session(source, tmp_path / db, id_column="name")
        batch = session.ask(12)
        assert all(isinstance(i, str) and i.startswith("img") for i in batch)
        session.tell(batch, [truth[i] for i in batch])
        assert session.model_version == 1
        X_lab, _ = session.labeled()
        assert list(X_lab.columns) == list(frame.columns[1:])
        nxt = session.ask(5)
        session.close()
        again = LabelingSession.open(tmp_path / db, pool=frame if db == "frame.db" else None)
        again._db.execute("DELETE FROM queries WHERE round = 2")
        assert again.ask(5).ids == nxt.ids
        again.close()


def test_npy_and_memmap_pools_are_read_again_from_their_files(tmp_path, pool):
    X, y = pool
    np.save(tmp_path / "pool.npy", X)
    raw = np.memmap(tmp_path / "pool.bin", dtype=np.float32, mode="w+", shape=X.shape)
    raw[:] = X
    raw.flush()
    sources = {
        "npy": tmp_path / "pool.npy",
        "memmap": np.memmap(tmp_path / "pool.bin", dtype=np.float32, mode="r", shape=X.shape),
    }
    for name, source in sources.items():
        session = make_session(source, tmp_path / f"{name}.db")
        session.tell(list(range(20)), y[:20], allow_unasked=True)
        batch = session.ask(5)
        session.close()
        again = LabelingSession.open(tmp_path / f"{name}.db")  # no pool: re-read from the file
        assert len(again.ids) == len(X)
        again._db.execute("DELETE FROM queries")
        assert again.ask(5).ids == batch.ids
        again.close()


def _flatten(X):
    return np.asarray(X, dtype=np.float32).reshape(len(X), -1)


def test_image_folder_pool(tmp_path, pool):
    from PIL import Image
    from sklearn.preprocessing import FunctionTransformer

    X, y = pool
    root = tmp_path / "images"
    for i in range(60):
        folder = root / str(y[i])
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((X[i].reshape(8, 8) * 255).astype(np.uint8), mode="L").save(folder / f"{i:03d}.png")
    estimator = make_pipeline(FunctionTransformer(_flatten), LogisticRegression(max_iter=200))
    session = make_session(str(root), tmp_path / "img.db", estimator=estimator, stop_set_size=20)
    assert all(i.endswith(".png") for i in session.ids)
    truth = {i: int(i.split("/")[0]) for i in session.ids}
    batch = session.ask(15)
    session.tell(batch, [truth[i] for i in batch])
    batch = session.ask(5)
    assert batch.model_version == 1 and len(batch.scores) == 5
    session.close()
    # a FunctionTransformer's function is not plain data: the estimator must be passed again
    with pytest.raises(ValueError, match="pass it again"):
        LabelingSession.open(tmp_path / "img.db")
    again = LabelingSession.open(tmp_path / "img.db", estimator=estimator)
    assert again.model_version == 1
    again.close()


def test_parquet_pool(tmp_path, pool):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    X, y = pool
    frame = pd.DataFrame(X[:100], columns=[f"px{i}" for i in range(64)])
    frame.to_parquet(tmp_path / "pool.parquet")
    session = make_session(tmp_path / "pool.parquet", tmp_path / "p.db")
    session.tell(list(range(20)), y[:20], allow_unasked=True)
    session.close()
    assert LabelingSession.open(tmp_path / "p.db").model_version == 1


def test_a_deep_estimator_resumes_exactly(tmp_path, pool):
    # skal's DPE: stored as JSON (its parameters are plain data), refitted on open (no pickle)
    from skal.models import DeepProbabilisticEnsemble

    X, y = pool
    X, y = X[:300], y[:300]

    def run(database, reopen):
        dpe = DeepProbabilisticEnsemble(n_estimators=2, max_epochs=3, device="cpu", random_state=0)
        session = make_session(X, database, estimator=dpe, strategy="bald")
        session.tell(list(range(30)), y[:30], allow_unasked=True)
        batches = []
        for _ in range(2):
            batch = session.ask(5)
            batches.append((list(batch), batch.scores))
            session.tell(batch, y[list(batch)])
            if reopen:
                session.close()
                session = LabelingSession.open(database, pool=X)
        return session, batches

    plain, expected = run(tmp_path / "plain.db", reopen=False)
    resumed, got = run(tmp_path / "resumed.db", reopen=True)
    assert got == expected
    np.testing.assert_array_equal(resumed.learner.predict_proba(X), plain.learner.predict_proba(X))
    assert isinstance(resumed.learner.estimator, DeepProbabilisticEnsemble)
    assert resumed.ask(5).ids == plain.ask(5).ids
    plain.close()
    resumed.close()
