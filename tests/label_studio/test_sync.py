"""skal <-> a real Label Studio server: push batches as tasks, annotate as a person would, pull.

The annotations are made through the same API the labeling UI posts to
(``POST /api/tasks/<id>/annotations/``, the SDK's ``annotations.create``),
with the labels a person would choose: the held-back truth.
"""

import json
import urllib.request

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skal import LabelingSession
from skal.session._label_studio import create_project, label_config, sync


def _tasks(client, project, ordering=None):
    query = None if ordering is None else json.dumps({"ordering": [ordering]})
    return list(client.tasks.list(project=project, fields="all", page_size=100, query=query))


def _get(obj, key):
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key)


def _annotate(client, task, label, *, from_name="label", to_name="item"):
    """What the labeling UI sends when a person picks ``label`` and presses Submit."""
    return client.annotations.create(
        id=task.id,
        result=[{"from_name": from_name, "to_name": to_name, "type": "choices",
                 "value": {"choices": [str(label)]}, "origin": "manual"}],
        was_cancelled=False,
        lead_time=4.2,
    )


def _digits_session(tmp_path, X, y, seed=20):
    session = LabelingSession(
        X, estimator=LogisticRegression(max_iter=300), strategy="margin", classes=list(range(10)),
        database=tmp_path / "digits.db", random_state=0, stop_set_size=200,
    )
    first = session.ask(seed)  # a cold start, labeled by hand before Label Studio comes in
    session.tell(first, y[list(first)], annotator="seed")
    return session


def test_round_trip_digits(tmp_path, server, client, digits):
    url, token, _ = server
    X, y = digits
    session = _digits_session(tmp_path, X, y)
    assert session.model_version == 1
    # a project made in the UI: a title and nothing else; the first sync configures it
    project = client.projects.create(title="digits").id

    report = sync(session, url, project, n=10, token=token)
    assert report.told == [] and len(report.pushed) == 10 and report.open_tasks == 10
    assert len(report.task_ids) == 10
    config = client.projects.get(id=project).label_config
    assert config == label_config(session)
    assert config.count("<Choice ") == 10 and "$text" in config

    # the tasks carry the item id, the row as text, skal's prediction and acquisition score
    asked = {q["id"]: q for q in session.queries() if q["model_version"] == 1}
    assert set(asked) == set(report.pushed) == set(session.pending())
    tasks = _tasks(client, project)
    assert sorted(t.id for t in tasks) == sorted(report.task_ids)
    for task in tasks:
        item = task.data["skal_id"]
        query = asked[item]
        assert task.data["skal_model_version"] == 1 and task.data["skal_round"] == query["round"]
        assert task.data["text"].startswith("[") and task.data["text"].count(",") == 63
        (prediction,) = task.predictions
        assert _get(prediction, "result")[0]["value"]["choices"] == [str(query["prediction"])]
        assert _get(prediction, "score") == pytest.approx(query["score"])
        assert _get(prediction, "model_version") == "skal"
    # the Data Manager sorted by prediction score (descending) shows the batch in skal's order
    by_score = _tasks(client, project, ordering="-tasks:predictions_score")
    ranked = sorted(asked, key=lambda item: asked[item]["rank"])
    assert [t.data["skal_id"] for t in by_score] == ranked

    # a person labels the batch (in that order)
    for task in by_score:
        _annotate(client, task, y[task.data["skal_id"]])
    version = session.model_version
    report = sync(session, url, project, n=10, token=token)
    assert sorted(report.told) == sorted(asked) and set(report.annotators) == {"skal@example.com"}
    status = session.status()
    assert status.n_labeled == 30 and session.model_version == version + 1 == report.model_version
    answers = session.answers()
    told = {a["id"]: a for a in answers if a["annotator"] == "skal@example.com"}
    assert {i: a["label"] for i, a in told.items()} == {i: int(y[i]) for i in asked}
    # ... and the same sync pushed the next batch, scored by the retrained model
    assert len(report.pushed) == 10 and not set(report.pushed) & set(asked)
    tasks = _tasks(client, project)
    assert len(tasks) == 20
    new = [t for t in tasks if t.data["skal_id"] in report.pushed]
    assert {t.data["skal_model_version"] for t in new} == {version + 1}
    assert all(len(t.predictions) == 1 for t in new)

    # a repeated sync tells nothing twice and pushes nothing while 10 tasks are open
    again = sync(session, url, project, n=10, token=token)
    assert again.told == [] and again.pushed == [] and again.open_tasks == 10
    assert len(session.answers()) == len(answers) and session.model_version == version + 1
    assert len(_tasks(client, project)) == 20

    # a correction made in Label Studio is told once; a skipped task is not told
    fixed = next(t for t in tasks if t.data["skal_id"] in asked)
    (annotation,) = fixed.annotations
    wrong = (int(y[fixed.data["skal_id"]]) + 1) % 10
    client.annotations.update(id=_get(annotation, "id"), result=[
        {"from_name": "label", "to_name": "item", "type": "choices", "value": {"choices": [str(wrong)]}}])
    skipped = new[0]
    client.annotations.create(id=skipped.id, result=[], was_cancelled=True)
    report = sync(session, url, project, n=10, token=token)
    assert report.told == [fixed.data["skal_id"]]
    assert any(f"task {skipped.id}" in reason for reason in report.skipped)
    ids, _, labels = session.labeled(return_ids=True)
    assert labels[ids.index(fixed.data["skal_id"])] == wrong  # label_policy="latest"
    # the skipped task is not open any more: one new task keeps 10 open
    assert len(report.pushed) == 1 and report.open_tasks == 10
    assert sync(session, url, project, n=10, token=token).told == []
    session.close()


def test_a_session_resumed_elsewhere_tells_nothing_twice(tmp_path, server, client, digits):
    # the state lives in the session file and the tasks: a fresh process, a fresh client
    url, token, _ = server
    X, y = digits
    session = _digits_session(tmp_path, X, y)
    project = client.projects.create(title="resume").id
    pushed = sync(session, client, project, n=5).pushed
    for task in _tasks(client, project)[:3]:
        _annotate(client, task, y[task.data["skal_id"]])
    assert len(sync(session, client, project, n=5).told) == 3
    session.close()
    again = LabelingSession.open(tmp_path / "digits.db", pool=X)
    report = sync(again, url, project, n=5, token=token)
    assert report.told == [] and report.pushed == [] and report.open_tasks == 5
    assert set(pushed) <= set(t.data["skal_id"] for t in _tasks(client, project))
    again.close()


def test_items_asked_but_never_imported_are_pushed(tmp_path, server, client, digits):
    # a sync killed between session.ask and the import: the next one imports what was asked
    url, token, _ = server
    X, y = digits
    session = _digits_session(tmp_path, X, y)
    project = client.projects.create(title="lost batch").id
    lost = session.ask(4)
    report = sync(session, url, project, n=6, token=token)
    assert report.pushed[:4] == list(lost) and len(report.pushed) == 6
    scores = {t.data["skal_id"]: _get(t.predictions[0], "score") for t in _tasks(client, project)}
    assert [scores[i] for i in lost] == pytest.approx(lost.scores)
    session.close()


def test_a_project_without_the_classes_is_refused(tmp_path, server, client, digits):
    url, token, _ = server
    X, y = digits
    session = _digits_session(tmp_path, X, y)
    config = ('<View><Text name="t" value="$text"/><Choices name="c" toName="t">'
              + "".join(f'<Choice value="{k}"/>' for k in range(5)) + "</Choices></View>")
    project = client.projects.create(title="five classes", label_config=config).id
    with pytest.raises(ValueError, match=r"lacks the session's classes \['5', '6'"):
        sync(session, url, project, n=5, token=token)
    assert _tasks(client, project) == [] and session.pending() == []
    with pytest.raises(ValueError, match="LABEL_STUDIO_API_KEY"):
        sync(session, url, project, n=5, token="")
    session.close()


def _flatten(X):
    return np.asarray(X, dtype=np.float32).reshape(len(X), -1)


def test_round_trip_image_folder(tmp_path, server, client, digits):
    from PIL import Image

    url, token, document_root = server
    X, y = digits
    root = document_root / "digits-images"
    for i in range(80):
        folder = root / str(y[i])
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((X[i].reshape(8, 8) * 255).astype(np.uint8), mode="L").resize(
            (64, 64), Image.NEAREST).save(folder / f"{i:03d}.png")
    estimator = make_pipeline(FunctionTransformer(_flatten), LogisticRegression(max_iter=300))
    session = LabelingSession(str(root), estimator=estimator, strategy="margin", classes=list(range(10)),
                              database=tmp_path / "images.db", random_state=0, stop_set_size=20)
    truth = {i: int(i.split("/")[0]) for i in session.ids}
    first = session.ask(20)
    session.tell(first, [truth[i] for i in first], annotator="seed")
    project = client.projects.create(title="images").id

    report = sync(session, url, project, n=5, token=token, document_root=document_root)
    assert len(report.pushed) == 5
    config = client.projects.get(id=project).label_config
    assert "<Image " in config and "$image" in config
    storages = list(client.import_storage.local.list(project=project))
    assert [s.path for s in storages] == [str(root)]
    tasks = _tasks(client, project)
    for task in tasks:
        item = task.data["skal_id"]
        assert task.data["image"] == f"/data/local-files/?d=digits-images/{item}"
        # Label Studio serves the image to the labeling UI: the file itself
        request = urllib.request.Request(url + task.data["image"], headers={"Authorization": f"Token {token}"})
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200
            assert response.read() == (root / item).read_bytes()
        _annotate(client, task, truth[item])
    version = session.model_version
    report = sync(session, url, project, n=5, token=token, document_root=document_root)
    assert sorted(report.told) == sorted(t.data["skal_id"] for t in tasks)
    assert session.model_version == version + 1 and session.status().n_labeled == 25
    assert len(report.pushed) == 5
    # the storage is made once
    assert len(list(client.import_storage.local.list(project=project))) == 1
    session.close()


def test_a_table_pool_with_text_ids(tmp_path, server, client, digits):
    pd = pytest.importorskip("pandas")
    url, token, _ = server
    X, y = digits
    frame = pd.DataFrame(X[:300, :8], columns=[f"px{k}" for k in range(8)])
    frame.insert(0, "id", [f"digit-{i:04d}" for i in range(300)])
    session = LabelingSession(frame, id_column="id", estimator=LogisticRegression(max_iter=300),
                              strategy="entropy", classes=list(range(10)), database=tmp_path / "t.db",
                              random_state=0, stop_set_size=50)
    truth = dict(zip(frame["id"], y[:300].tolist()))
    first = session.ask(30)
    session.tell(first, [truth[i] for i in first])
    project = create_project(session, url, title="table", token=token)
    assert client.projects.get(id=project).label_config == label_config(session)
    report = sync(session, url, project, n=4, token=token)
    tasks = _tasks(client, project)
    assert sorted(t.data["skal_id"] for t in tasks) == sorted(report.pushed)
    for task in tasks:
        row = frame.set_index("id").loc[task.data["skal_id"]]
        assert task.data["text"].splitlines() == [f"px{k}: {row[f'px{k}']}" for k in range(8)]
        _annotate(client, task, truth[task.data["skal_id"]])
    report = sync(session, url, project, n=4, token=token)
    assert sorted(report.told) == sorted(t.data["skal_id"] for t in tasks)
    assert session.status().n_labeled == 34 and len(report.pushed) == 4
    session.close()
