"""``skal label``: a labeling campaign from the command line is LabelingSession's loop (and ActiveLearner's)."""

import csv
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pandas")

from skal.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def skal(*argv):
    """``skal ARGV`` in this process; returns the exit status."""
    return main([str(a) for a in argv])


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_pool(path, X, y, ids, seeds):
    """A CSV pool: id, label (filled at ``seeds``), the held-back true_label, then the features."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "label", "true_label", *(f"f{j}" for j in range(X.shape[1]))])
        for i, row in enumerate(X.tolist()):
            writer.writerow([ids[i], y[i] if i in seeds else "", y[i], *row])


def annotate(batch, pool, answers, tmp_path):
    """The simulated annotator: the batch answered from the held-back column."""
    assert skal("label", "simulate", tmp_path / batch, "--truth", tmp_path / pool, "-o", tmp_path / answers) == 0


@pytest.fixture
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, y = X[:500].astype(int), y[:500]
    # ids that are not row positions, in no order: a mix-up of ids and positions would show
    ids = (10_000 + np.random.default_rng(1).permutation(len(y)) * 7).tolist()
    seeds = {int(np.flatnonzero(y == c)[0]) for c in range(10)}
    return X, y, ids, seeds


@pytest.mark.parametrize("strategy", ["margin", "random"])
def test_a_campaign_by_command_line_picks_what_active_learner_picks(tmp_path, digits, strategy):
    # the real workflow and the simulator run one loop: same picks, same validation accuracies
    from sklearn.base import clone

    from skal import ActiveLearner
    from skal.experiments import make_estimator

    X, y, ids, seeds = digits
    write_pool(tmp_path / "pool.csv", X, y, ids, seeds)
    db = tmp_path / "c.db"
    assert skal("label", "init", tmp_path / "pool.csv", "--id-column", "id", "--label-column", "label",
                "--drop-columns", "true_label", "--classes", ",".join(map(str, range(10))), "--model", "logistic",
                "--strategy", strategy, "--random-state", 3, "--database", db, "--quiet") == 0
    assert skal("label", "ask", "--validation", "-n", 40, "-o", tmp_path / "val.csv", "-d", db) == 0
    annotate("val.csv", "pool.csv", "val_answers.csv", tmp_path)
    assert skal("label", "tell", tmp_path / "val_answers.csv", "-d", db) == 0
    picks = []
    for r in range(4):
        assert skal("label", "ask", "-n", 8, "-o", tmp_path / "batch.csv", "-d", db) == 0
        picks.append([int(row["id"]) for row in read_csv(tmp_path / "batch.csv")])
        annotate("batch.csv", "pool.csv", "answers.csv", tmp_path)
        assert skal("label", "tell", tmp_path / "answers.csv", "-d", db, "--quiet") == 0
    assert skal("label", "status", "-d", db, "--plot", tmp_path / "curve.png") == 0
    assert skal("label", "export", "-d", db, "-o", tmp_path / "labeled.csv") == 0
    curve = read_csv(tmp_path / "curve.csv")
    assert (tmp_path / "curve.png").stat().st_size > 0

    # the same campaign with ActiveLearner, the same estimator, strategy and random_state
    position = {item: pos for pos, item in enumerate(ids)}
    val = [position[int(row["id"])] for row in read_csv(tmp_path / "val.csv")]
    seed_rows = sorted(seeds)
    estimator = clone(make_estimator("logistic")).set_params(logisticregression__random_state=3)
    learner = ActiveLearner(estimator, strategy, X_training=X[seed_rows], y_training=y[seed_rows],
                            random_state=3)
    unlabeled = np.ones(len(y), dtype=bool)
    unlabeled[seed_rows] = unlabeled[val] = False
    expected_picks, expected_acc = [], [learner.score(X[val], y[val])]
    for _ in range(4):
        candidates = np.flatnonzero(unlabeled)
        idx, _ = learner.query(X[candidates], n_instances=8)
        picked = candidates[idx]
        learner.teach(X[picked], y[picked])
        unlabeled[picked] = False
        expected_picks.append([ids[p] for p in picked])
        expected_acc.append(learner.score(X[val], y[val]))

    assert picks == expected_picks
    assert [int(row["version"]) for row in curve] == [1, 2, 3, 4, 5]
    assert [float(row["validation_accuracy"]) for row in curve] == expected_acc
    # the first model was fitted (on the label column) before the validation answers: measured at status
    assert [row["measured"] for row in curve] == ["now"] + ["at fit"] * 4
    labeled = read_csv(tmp_path / "labeled.csv")
    assert [position[int(row["id"])] for row in labeled] == seed_rows + [position[i] for p in picks for i in p]
    assert [int(row["label"]) for row in labeled] == learner.y_training.tolist()
    features = np.array([[float(row[f"f{j}"]) for j in range(X.shape[1])] for row in labeled])
    np.testing.assert_array_equal(features, learner.X_training)


def _readme_block():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Label your own data")
    match = re.compile(r"^```bash\n(.*?)^```", re.M | re.S).search(text, start)
    assert match, "README.md: no bash block after 'Label your own data'"
    return match.group(1)


def _commands(block):
    """The block's command lines, continuations joined (comments stay: bash drops them)."""
    return [line.strip() for line in re.sub(r"\\\n\s*", " ", block).splitlines() if line.strip()]


def test_the_readme_block_runs_as_written(tmp_path):
    # A fresh clone's commands, in a scratch folder, with this environment's skal as .venv/bin/skal.
    venv = Path(sys.prefix)
    if not (venv / "bin" / "skal").exists():
        pytest.skip(f"no skal console script in {venv} (pip install -e .)")
    commands = _commands(_readme_block())
    setup, steps = commands[0], commands[1:]
    assert setup.startswith("python3 -m venv .venv && .venv/bin/pip install -q -e ."), setup
    assert [c.split()[:3] for c in steps if not c.startswith("#")][0] == [".venv/bin/skal", "label", "demo-data"]
    (tmp_path / ".venv").symlink_to(venv)
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
           "OMP_NUM_THREADS": "1"}
    for command in steps:
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", command], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"`{command}` failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert "validation accuracy" in done.stdout or "accuracy" in done.stdout
    assert (tmp_path / "campaign.db").is_file()
    assert (tmp_path / "campaign_learning_curve.png").is_file()
    curve = read_csv(tmp_path / "campaign_learning_curve.csv")
    assert len(curve) >= 2 and all(row["validation_accuracy"] for row in curve)


@pytest.fixture
def campaign(tmp_path):
    """A demo pool and a session on it with one validation sample answered."""
    pool = tmp_path / "digits.csv"
    assert skal("label", "demo-data", pool, "-n", 300) == 0
    db = tmp_path / "c.db"
    assert skal("label", "init", pool, "--id-column", "id", "--label-column", "label", "--drop-columns",
                "true_label", "--classes", "0,1,2,3,4,5,6,7,8,9", "--strategy", "margin", "-d", db) == 0
    return pool, db


def _answers(db):
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
    finally:
        con.close()


def _one_line_error(capsys, fragment):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("skal: error: "), err
    assert fragment in err[0], err[0]


def test_demo_data_holds_back_the_labels(tmp_path):
    from sklearn.datasets import load_digits

    assert skal("label", "demo-data", tmp_path / "d.csv", "-n", 50, "--labeled", 2) == 0
    rows = read_csv(tmp_path / "d.csv")
    X, y = load_digits(return_X_y=True)
    assert len(rows) == 50 and list(rows[0])[:4] == ["id", "label", "true_label", "px0"]
    assert [int(r["true_label"]) for r in rows] == y[:50].tolist()
    given = [r for r in rows if r["label"]]
    assert all(r["label"] == r["true_label"] for r in given)
    assert len(given) == sum(min(2, int((y[:50] == c).sum())) for c in range(10))
    assert [float(rows[3][f"px{j}"]) for j in range(64)] == X[3].tolist()


def test_ask_tell_status_export(tmp_path, campaign, capsys):
    pool, db = campaign
    capsys.readouterr()
    assert skal("label", "ask", "-n", 5, "-o", tmp_path / "b.csv", "-d", db) == 0
    printed = capsys.readouterr().out
    batch = read_csv(tmp_path / "b.csv")
    assert list(batch[0]) == ["id", "prediction", "score"] and len(batch) == 5
    assert all(row["id"] in printed and row["prediction"] != "" and np.isfinite(float(row["score"])) for row in batch)
    # nothing answered yet: a second ask gives other items, --pending lists the first ones again
    assert skal("label", "ask", "-n", 3, "-o", tmp_path / "b2.csv", "-d", db) == 0
    assert "5 items asked earlier are still unanswered" in capsys.readouterr().out
    assert not {r["id"] for r in batch} & {r["id"] for r in read_csv(tmp_path / "b2.csv")}
    assert skal("label", "ask", "--pending", "-o", tmp_path / "p.csv", "-d", db) == 0
    assert [r["id"] for r in read_csv(tmp_path / "p.csv")] == [r["id"] for r in batch + read_csv(tmp_path / "b2.csv")]
    # answers by hand: id,label,annotator
    truth = {r["id"]: r["true_label"] for r in read_csv(pool)}
    with open(tmp_path / "a.csv", "w", encoding="utf-8") as fh:
        fh.write("id,label,annotator\n" + "".join(f"{r['id']},{truth[r['id']]},alice\n" for r in batch))
    capsys.readouterr()
    assert skal("label", "tell", tmp_path / "a.csv", "-d", db) == 0
    assert "recorded 5 answers" in capsys.readouterr().out
    assert skal("label", "status", "-d", db, "--no-plot") == 0
    out = capsys.readouterr().out
    assert "15 labeled of 300 items" in out and "alice" in out and "stabilizing_predictions" in out
    assert "3 pending" in out and "model version 2" in out
    assert not list(tmp_path.glob("*.png"))
    assert skal("label", "export", "-d", db, "-o", tmp_path / "l.csv", "--no-features") == 0
    exported = read_csv(tmp_path / "l.csv")
    assert list(exported[0]) == ["id", "label"] and len(exported) == 15
    assert all(truth[r["id"]] == r["label"] for r in exported)
    assert skal("label", "export", "-d", db, "-o", tmp_path / "v.csv", "--validation") == 0
    assert read_csv(tmp_path / "v.csv") == []


def test_status_without_validation_draws_no_curve(tmp_path, campaign, capsys):
    _, db = campaign
    assert skal("label", "status", "-d", db) == 0
    out = capsys.readouterr().out
    assert "skal label ask --validation" in out and "answer a validation sample first" in out
    assert (tmp_path / "c_learning_curve.csv").is_file() and not (tmp_path / "c_learning_curve.png").exists()


def test_user_errors_are_one_line_and_change_nothing(tmp_path, campaign, capsys):
    pool, db = campaign
    assert skal("label", "ask", "-n", 4, "-o", tmp_path / "b.csv", "-d", db) == 0
    before = _answers(db)
    ids = [r["id"] for r in read_csv(tmp_path / "b.csv")]
    bad = {
        "label outside the classes": ("id,label\n" + "".join(f"{i},11\n" for i in ids), "11"),
        "an unknown id": (f"id,label\nnope,1\n{ids[0]},1\n", "unknown item ids"),
        "an extra column": ("id,label,prediction\n" + "".join(f"{i},1,2\n" for i in ids), "unexpected columns"),
    }
    for name, (text, fragment) in bad.items():
        (tmp_path / "bad.csv").write_text(text, encoding="utf-8")
        capsys.readouterr()
        assert skal("label", "tell", tmp_path / "bad.csv", "-d", db) == 1, name
        _one_line_error(capsys, fragment)
        assert _answers(db) == before, name
    cases = [
        (("label", "tell", tmp_path / "missing.csv", "-d", db), "does not exist"),
        (("label", "status", "-d", tmp_path / "none.db"), "skal label init"),
        (("label", "init", pool, "--classes", "0,1", "-d", db), "already exists"),
        (("label", "init", pool, "-d", tmp_path / "n.db"), "--classes"),
        (("label", "init", pool, "--id-column", "nope", "--label-column", "label", "--classes", "0,1",
          "-d", tmp_path / "n.db"), "'nope'"),
        (("label", "init", pool, "--id-column", "id", "--label-column", "label", "--drop-columns", "true_label",
          "--classes", "0,1,2", "-d", tmp_path / "n.db"), "outside --classes"),
        (("label", "init", pool, "--classes", "0,1", "--strategy", "nope", "-d", tmp_path / "n.db"), "nope"),
        (("label", "init", tmp_path / "pool.txt", "--classes", "0,1", "-d", tmp_path / "n.db"), "pool"),
        (("label", "init", pool, "--id-column", "id", "--classes", "0,1", "--model", "logistic",
          "--model-param", "bogus=1", "-d", tmp_path / "n.db"), "bogus"),
        (("label", "ask", "-n", 0, "-d", db), "-n"),
        (("label", "init", pool, "--classes", "0,1", "-d", tmp_path / "no" / "n.db"), "of --database"),
        (("label", "simulate", tmp_path / "b.csv", "--truth", pool, "--column", "nope"), "no column 'nope'"),
    ]
    (tmp_path / "pool.txt").write_text("x\n", encoding="utf-8")
    for argv, fragment in cases:
        capsys.readouterr()
        assert skal(*argv) == 1, argv
        _one_line_error(capsys, fragment)
    # a failed init leaves no file behind
    assert not list(tmp_path.glob("n.db*"))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:  # no step: the one-line usage error of every skal command
        skal("label")
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "required: STEP" in err


def test_a_db_file_that_is_no_session_is_refused(tmp_path, capsys):
    (tmp_path / "x.db").write_bytes(b"not a database at all" * 10)
    assert skal("label", "status", "-d", tmp_path / "x.db") == 1
    _one_line_error(capsys, "not an SQLite database")


def test_npy_pool_open_classes_and_a_cold_start(tmp_path, capsys):
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    np.save(tmp_path / "iris.npy", X)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    db = tmp_path / "iris.db"
    assert skal("label", "init", tmp_path / "iris.npy", "--open-classes", "--model", "forest",
                "--model-param", "n_estimators=5", "--strategy", "entropy", "-d", db) == 0
    assert skal("label", "ask", "-n", 12, "-o", tmp_path / "b.csv", "-d", db) == 0
    batch = read_csv(tmp_path / "b.csv")
    assert all(row["prediction"] == "" for row in batch)  # cold start: drawn at random, no model
    with open(tmp_path / "a.csv", "w", encoding="utf-8") as fh:
        fh.write("id,label\n" + "".join(f"{r['id']},{names[int(r['id'])]}\n" for r in batch))
    assert skal("label", "tell", tmp_path / "a.csv", "--annotator", "bob", "-d", db) == 0
    assert skal("label", "ask", "-n", 3, "-o", tmp_path / "b.csv", "-d", db) == 0
    assert all(row["prediction"] in names for row in read_csv(tmp_path / "b.csv"))
    capsys.readouterr()
    assert skal("label", "export", "-d", db, "-o", tmp_path / "l.csv") == 0
    assert "with their" not in capsys.readouterr().out  # an array pool: ids and labels only
    exported = read_csv(tmp_path / "l.csv")
    assert [r["label"] for r in exported] == [names[int(r["id"])] for r in exported]


def test_fits_show_a_progress_bar_unless_quiet(tmp_path, monkeypatch):
    import contextlib

    from skal.session import _cli

    shown = []

    @contextlib.contextmanager
    def recording(desc):
        shown.append(desc)
        yield

    monkeypatch.setattr(_cli, "_fit_progress", recording)
    assert skal("label", "demo-data", tmp_path / "d.csv", "-n", 100) == 0
    init = ("label", "init", tmp_path / "d.csv", "--id-column", "id", "--label-column", "label",
            "--drop-columns", "true_label", "--classes", "0,1,2,3,4,5,6,7,8,9", "--model", "forest",
            "--model-param", "n_estimators=3")
    assert skal(*init, "-d", tmp_path / "q.db", "--quiet") == 0
    assert shown == []
    assert skal(*init, "-d", tmp_path / "p.db") == 0
    assert shown == ["fitting RandomForestClassifier on 10 labels"]
    # a forest stores no parameters: the next step refits it, with a bar
    assert skal("label", "status", "-d", tmp_path / "p.db", "--no-plot") == 0
    assert len(shown) == 2


def test_the_session_file_opens_in_python(tmp_path, campaign):
    # a table pool handed over without its label column: LabelingSession.open needs the same table again
    from skal import LabelingSession
    from skal.session._cli import _read_settings, _table_pool

    pool, db = campaign
    settings = _read_settings(db)
    assert settings["label_column"] == "label" and settings["drop_columns"] == ["true_label"]
    frame = _table_pool(settings)[0]
    assert "true_label" not in frame.columns and "label" not in frame.columns
    with LabelingSession.open(db, pool=frame) as session:
        assert session.status().n_labeled == 10 and session.model_version == 1


def test_docs_page_has_the_command_line_section():
    text = (ROOT / "docs" / "labeling.rst").read_text(encoding="utf-8")
    assert "From the command line" in text
    for step in ("init", "ask", "tell", "status", "export"):
        assert f"skal label {step}" in text


@pytest.fixture(autouse=True)
def _no_leftover_tmp(tmp_path):
    yield
    assert not list(tmp_path.glob("*.tmp")), "a CSV written through a .tmp file left it behind"



def test_sync_without_the_sdk_or_a_token_is_one_clear_line(tmp_path, capsys, monkeypatch):
    # the round trip against a real server is tests/label_studio (its own environment)
    from skal.cli import main

    db = str(tmp_path / "c.db")
    pool = tmp_path / "pool.npy"
    np.save(pool, np.random.default_rng(0).normal(size=(30, 4)))
    assert main(["label", "init", str(pool), "--database", db, "--open-classes", "--quiet"]) == 0
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    capsys.readouterr()
    code = main(["label", "sync", "--database", db, "--label-studio", "http://127.0.0.1:9", "--project", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert "LABEL_STUDIO_API_KEY" in err[0] or "label-studio-sdk" in err[0]
