"""A labeling session behind a Label Studio project: push batches as tasks, pull annotations.

:func:`sync` is one round trip between a :class:`~skal.session.LabelingSession`
and a project of a Label Studio server, through the official
``label-studio-sdk`` (``pip install label-studio-sdk``):

1. *pull*: every annotation of the project's skal tasks that the session
   has not been told yet is told (``annotator`` = the Label Studio user's
   email), in one transaction; the session retrains as its ``retrain``
   policy says;
2. *push*: the next batch (``session.ask``) is imported as tasks, with the
   model's prediction pre-filled and the acquisition score as the
   prediction's ``score``, until the project holds ``n`` open skal tasks.

Nothing is stored outside the two: each task carries its item id in its
data (``skal_id``), and what was told is read back from the session's
answers, so that a sync repeated, interrupted or run from another machine
tells nothing twice. See ``docs/labeling.rst``.
"""

from __future__ import annotations

import dataclasses
import os
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from .._containers import is_dataset, is_pandas, take_rows

__all__ = ["SyncReport", "create_project", "label_config", "sync"]

#: Names of the tags of the labeling configuration skal writes.
CHOICES_NAME, OBJECT_NAME = "label", "item"
#: The ``model_version`` of every prediction skal imports: one name, so that Label
#: Studio pre-fills every open task whichever model scored it (the model's own
#: version is in the task's data, ``skal_model_version``).
MODEL_VERSION = "skal"
_PAGE_SIZE = 100
_NOTHING = object()
_TEXT_VALUES = 2000


@dataclasses.dataclass
class SyncReport:
    """What one :func:`sync` did.

    Attributes
    ----------
    told : list
        Item ids whose answers were told to the session (an item appears
        once per annotator told).
    annotators : list of str
        Who gave each answer in ``told``.
    pushed : list
        Item ids imported as new tasks.
    task_ids : list of int or None
        The Label Studio ids of the new tasks (None when the server imports
        asynchronously).
    open_tasks : int
        skal tasks of the project with no answer yet, after the push.
    model_version : int or None
        The session's model version after the sync.
    skipped : list of str
        Annotations or tasks left alone, and why (a skipped task, no choice
        made, an item that is not in the pool...).
    """

    told: list
    annotators: list
    pushed: list
    task_ids: list | None
    open_tasks: int
    model_version: int | None
    skipped: list

    def __str__(self):
        lines = [
            f"told {len(self.told)} answers"
            + (f" ({', '.join(sorted(set(self.annotators)))})" if self.annotators else "")
            + f", model version {self.model_version}",
            f"pushed {len(self.pushed)} tasks; {self.open_tasks} open in the project",
        ]
        lines += [f"skipped: {reason}" for reason in self.skipped]
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class _Layout:
    """Where the label is read (``from_name``) and what the task shows (``to_name``, ``data_key``)."""

    from_name: str
    to_name: str
    data_key: str
    image: bool


# -- the client -----------------------------------------------------------------


def _client(label_studio, token):
    """An SDK client: the one given, or one for the URL and token (or ``LABEL_STUDIO_API_KEY``)."""
    if hasattr(label_studio, "projects") and hasattr(label_studio, "tasks"):
        return label_studio
    if not isinstance(label_studio, str) or not label_studio.strip():
        raise ValueError(
            f"label_studio must be the server's URL (http://host:port) or a "
            f"label_studio_sdk.LabelStudio client, got {label_studio!r}."
        )
    token = token or os.environ.get("LABEL_STUDIO_API_KEY")
    if not token:
        raise ValueError(
            "no Label Studio token: pass token=, or set LABEL_STUDIO_API_KEY to your access "
            "token (Label Studio: Account & Settings > Personal Access Token, or a legacy token)."
        )
    try:
        from label_studio_sdk import LabelStudio
    except ImportError:
        raise ImportError(
            "syncing with Label Studio needs its SDK: pip install label-studio-sdk"
        ) from None
    return LabelStudio(base_url=label_studio.rstrip("/"), api_key=token)


def _get(obj, key, default=None):
    """A field of an SDK object or of a plain dict (the SDK returns both, nested)."""
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


# -- what a task shows ----------------------------------------------------------


def _image_root(session):
    """The folder of an image-folder pool (a path, or an ImageFolder handed over), else None."""
    source = session._pool.source
    if source.get("kind") == "image_folder":
        return Path(source["path"])
    data = session._pool.data
    if is_dataset(data) and getattr(data, "samples", None) is not None and getattr(data, "root", None):
        return Path(data.root).resolve()
    return None


def label_config(session, *, image=None):
    """The Label Studio labeling configuration for ``session``: a Choices control over its classes.

    An image-folder pool shows each image (``$image``); any other pool a
    text rendering of the row (``$text``). Paste it into a project's
    *Labeling Interface* (code view), or let :func:`sync` set it on a
    project that has none.

    Parameters
    ----------
    session : LabelingSession
    image : bool, default=None
        Show images; None: when the pool is an image folder.

    Returns
    -------
    config : str
        The XML of the configuration.
    """
    if image is None:
        image = _image_root(session) is not None
    view = ET.Element("View")
    if image:
        ET.SubElement(view, "Image", name=OBJECT_NAME, value="$image", zoom="true")
    else:
        ET.SubElement(view, "Text", name=OBJECT_NAME, value="$text")
    choices = ET.SubElement(
        view, "Choices", name=CHOICES_NAME, toName=OBJECT_NAME, choice="single", showInline="true"
    )
    for label in session.classes:
        ET.SubElement(choices, "Choice", value=str(label))
    return ET.tostring(view, encoding="unicode")


def _layout(client, project_id, session):
    """The project's Choices control, reading its configuration (set to skal's when it has none)."""
    project = client.projects.get(id=project_id)
    config = _get(project, "label_config") or ""
    try:
        root = ET.fromstring(config) if config.strip() else ET.Element("View")
    except ET.ParseError as exc:
        raise ValueError(
            f"the labeling configuration of Label Studio project {project_id} is not XML: {exc}"
        ) from None
    choices = root.find(".//Choices")
    image = _image_root(session) is not None
    if choices is None:
        if any(el.get("toName") for el in root.iter()):
            raise ValueError(
                f"Label Studio project {project_id} labels with other controls than Choices: skal "
                "needs a Choices control over the session's classes (skal.session._label_studio."
                "label_config(session) gives one), or a new project."
            )
        client.projects.update(id=project_id, label_config=label_config(session, image=image))
        return _Layout(CHOICES_NAME, OBJECT_NAME, "image" if image else "text", image)
    from_name = choices.get("name")
    to_name = (choices.get("toName") or "").split(",")[0].strip()
    shown = next((el for el in root.iter() if el.get("name") == to_name and el is not choices), None)
    value = "" if shown is None else (shown.get("value") or "")
    if not from_name or not value.startswith("$"):
        raise ValueError(
            f"the Choices control of Label Studio project {project_id} must have a name and a "
            "toName naming a tag that shows a task field ($text, $image)."
        )
    offered = {el.get("value", el.get("alias")) for el in choices.iter("Choice")}
    missing = [str(c) for c in session.classes if str(c) not in offered]
    if missing:
        raise ValueError(
            f"the Choices control {from_name!r} of Label Studio project {project_id} lacks the "
            f"session's classes {missing[:10]}: add them (Settings > Labeling Interface)."
        )
    return _Layout(from_name, to_name, value[1:], shown.tag == "Image")


def _text(row):
    """A readable rendering of one pool row for a Text tag."""
    if is_pandas(row):
        record = row.iloc[0] if row.ndim == 2 else row
        return "\n".join(f"{name}: {value}" for name, value in record.items())
    if hasattr(row, "toarray"):
        row = row.toarray()
    if hasattr(row, "detach"):
        row = row.detach().cpu().numpy()
    if isinstance(row, (tuple, list)) and len(row) == 2 and _dataset_item(row):
        row = row[0]
    array = np.asarray(row)
    if array.dtype == object or array.dtype.kind in "US":
        return str(array.reshape(-1)[0]) if array.size == 1 else str(array.tolist())
    array = np.squeeze(array, axis=0) if array.ndim > 1 and array.shape[0] == 1 else array
    return np.array2string(
        array, precision=3, separator=", ", max_line_width=100, threshold=_TEXT_VALUES, suppress_small=True
    )


def _dataset_item(row):
    """Whether ``row`` looks like a Dataset's ``(input, target)`` pair."""
    return hasattr(row[0], "shape") and np.ndim(row[1]) == 0


def _show(session, positions, layout, document_root):
    """What each task shows: an image URL served by Label Studio, or the row as text."""
    if layout.image:
        root = _image_root(session)
        return [_image_url(root / session._pool.ids[p], document_root) for p in positions]
    data = session._pool.data
    if is_dataset(data):
        return [_text(data[int(p)]) for p in positions]
    rows = take_rows(data, np.asarray(positions, dtype=np.intp))
    return [_text(take_rows(rows, [k])) for k in range(len(positions))]


def _document_root(document_root):
    root = document_root or os.environ.get("LOCAL_FILES_DOCUMENT_ROOT")
    if not root:
        raise ValueError(
            "an image-folder pool is served to Label Studio as local files: start Label Studio "
            "with LOCAL_FILES_SERVING_ENABLED=true and LOCAL_FILES_DOCUMENT_ROOT=<a folder that "
            "holds the pool>, and pass the same folder as document_root= (or set "
            "LOCAL_FILES_DOCUMENT_ROOT here too)."
        )
    return Path(root).expanduser().resolve()


def _image_url(path, document_root):
    path = Path(path).resolve()
    try:
        relative = path.relative_to(document_root)
    except ValueError:
        raise ValueError(
            f"the image {str(path)!r} is not under Label Studio's LOCAL_FILES_DOCUMENT_ROOT "
            f"{str(document_root)!r}: Label Studio serves only files below that folder."
        ) from None
    return "/data/local-files/?d=" + urllib.parse.quote(relative.as_posix())


def _ensure_storage(client, project_id, folder):
    """A local-files storage of the project that covers ``folder`` (Label Studio serves no file without one)."""
    folder = Path(folder).resolve()
    for storage in client.import_storage.local.list(project=project_id):
        path = _get(storage, "path")
        if path and (folder == Path(path) or Path(path) in folder.parents):
            return
    client.import_storage.local.create(
        project=project_id, path=str(folder), title="skal pool", use_blob_urls=False
    )


# -- reading the project --------------------------------------------------------


def _project_tasks(client, project_id):
    return list(client.tasks.list(project=project_id, fields="all", page_size=_PAGE_SIZE))


def _item_key(session, value):
    """The pool id a task's ``skal_id`` names (JSON keeps ints and strings), or None."""
    if isinstance(value, bool) or value is None:
        return None
    if value in session._pos:
        return value
    if isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            return None
        return number if number in session._pos else None
    if isinstance(value, float) and value.is_integer() and int(value) in session._pos:
        return int(value)
    return None


def _annotator(client, user, cache):
    """The annotator's email (or ``label-studio-user-<id>``) for an annotation's ``completed_by``."""
    if isinstance(user, dict) or hasattr(user, "email"):
        email = _get(user, "email")
        if email:
            return str(email)
        user = _get(user, "id")
    if user not in cache:
        try:
            email = _get(client.users.get(id=int(user)), "email")
        except Exception:  # noqa: BLE001 - a user deleted or hidden: still an annotator
            email = None
        cache[user] = str(email) if email else f"label-studio-user-{user}"
    return cache[user]


def _choice(annotation, layout):
    for region in _get(annotation, "result") or []:
        if _get(region, "from_name") == layout.from_name:
            chosen = (_get(region, "value") or {}).get("choices") or []
            if len(chosen) == 1:
                return chosen[0]
            return None
    return None


def _latest_per_annotator(annotations):
    """Each annotator's latest annotation of a task, cancelled (skipped) ones aside."""
    latest = {}
    for annotation in annotations or []:
        if _get(annotation, "was_cancelled"):
            continue
        who = _get(annotation, "completed_by")
        key = _get(who, "id", who) if not isinstance(who, (int, str)) else who
        stamp = str(_get(annotation, "updated_at") or _get(annotation, "created_at") or "")
        if key not in latest or (stamp, _get(annotation, "id") or 0) >= latest[key][0]:
            latest[key] = ((stamp, _get(annotation, "id") or 0), annotation)
    return [annotation for _, annotation in latest.values()]


# -- sync -----------------------------------------------------------------------


def _tell_all(session, answers):
    """Tell ``[(item_id, label, annotator)]`` in as few calls as an item's answers allow (one per call)."""
    remaining = list(answers)
    while remaining:
        layer, later, seen = [], [], set()
        for entry in remaining:
            (later if entry[0] in seen else layer).append(entry)
            seen.add(entry[0])
        ids, labels, annotators = (list(column) for column in zip(*layer))
        session._tell(ids, labels, annotators, allow_unasked=False)
        remaining = later


def sync(session, label_studio, project, *, n=10, token=None, document_root=None):
    """Pull the finished annotations of a Label Studio project into ``session``, then push the next batch.

    Annotations not told yet are told (``annotator`` = the Label Studio
    user's email), in one transaction, and the session retrains as its
    ``retrain`` policy says. Then tasks are imported until the project
    holds ``n`` open skal tasks: first items the session asked that are in
    no task (a sync killed between asking and importing), then
    ``session.ask(...)``. Each task carries its item id (``skal_id``), the
    query round, rank and model version in its data, and a prediction with
    the model's label and the acquisition score as ``score``: sorting the
    Data Manager by *Prediction score*, descending, shows the batch in the
    order skal ranks it (the most informative first).

    The sync is stateless and idempotent: an annotation is told when its
    author's latest answer to that item in the session differs from it (a
    new answer, or a correction made in Label Studio), so a repeated sync
    tells nothing twice. Skipped (cancelled) annotations are not told, and
    a task that was only skipped is no longer open (its item stays pending
    in the session, and is reported in ``skipped``). Run one sync at a time
    per session, and one project per session.

    Parameters
    ----------
    session : LabelingSession
    label_studio : str or label_studio_sdk.LabelStudio
        The server's URL, or an SDK client.
    project : int
        The Label Studio project id. A project with an empty labeling
        configuration gets :func:`label_config`'s; one with a Choices
        control must offer every class of the session.
    n : int, default=10
        How many open tasks the project should hold after the sync (the
        batch size; 0 only pulls).
    token : str, default=None
        An access token (a personal access token or a legacy token); None
        reads ``LABEL_STUDIO_API_KEY``.
    document_root : str or path-like, default=None
        For an image-folder pool: the server's ``LOCAL_FILES_DOCUMENT_ROOT``
        (None reads that variable here). Images are served by Label Studio
        as local files (start it with ``LOCAL_FILES_SERVING_ENABLED=true``);
        the project gets a local-files storage over the pool's folder.

    Returns
    -------
    report : SyncReport
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative int (the open tasks to keep), got {n!r}.")
    client = _client(label_studio, token)
    project = int(project)
    layout = _layout(client, project, session)
    root = None
    if layout.image:  # checked before anything is asked
        folder = _image_root(session)
        if folder is None:
            raise ValueError(
                f"Label Studio project {project} shows images but the session's pool is not an "
                "image folder: use a project with a Text tag (skal.session._label_studio."
                "label_config(session)), or a new project."
            )
        root = _document_root(document_root)
        _image_url(folder, root)  # under the document root, or say so now
        _ensure_storage(client, project, folder)

    tasks = _project_tasks(client, project)
    queries = session.queries()
    asked = {q["id"] for q in queries}
    queries = [q for q in queries if q["kind"] == "train"]
    last = {}
    for a in session.answers():
        last[(a["id"], a["annotator"])] = a["label"]
    answered = {item for item, _ in last}

    skipped, to_tell, in_project, cancelled, users = [], [], set(), set(), {}
    foreign = 0
    for task in tasks:
        data = _get(task, "data") or {}
        item = _item_key(session, data.get("skal_id"))
        if item is None:
            if "skal_id" in data:
                skipped.append(f"task {_get(task, 'id')}: skal_id {data['skal_id']!r} is not in the pool")
            else:
                foreign += 1
            continue
        in_project.add(item)
        annotations = _get(task, "annotations") or []
        if annotations and all(_get(a, "was_cancelled") for a in annotations):
            cancelled.add(item)
            skipped.append(f"task {_get(task, 'id')}: skipped in Label Studio (item {item!r} stays pending)")
        for annotation in _latest_per_annotator(annotations):
            choice = _choice(annotation, layout)
            if choice is None:
                skipped.append(f"task {_get(task, 'id')}: annotation {_get(annotation, 'id')} chose no "
                               f"single {layout.from_name!r}")
                continue
            if item not in asked and item not in answered:
                skipped.append(f"task {_get(task, 'id')}: item {item!r} was never asked by the session")
                continue
            label = session._parse_label(str(choice))
            who = _annotator(client, _get(annotation, "completed_by"), users)
            if last.get((item, who), _NOTHING) != label:
                to_tell.append((item, label, who))
    if foreign:
        skipped.append(f"{foreign} tasks without skal_id (not skal's) left alone")
    if to_tell:
        _tell_all(session, to_tell)
        answered.update(item for item, _, _ in to_tell)

    open_items = {item for item in in_project if item not in answered and item not in cancelled}
    lost = [q for q in queries if q["id"] not in answered and q["id"] not in in_project]
    records = [
        (q["id"], q["prediction"], q["score"], q["round"], q["rank"], q["model_version"]) for q in lost
    ]
    wanted = n - len(open_items) - len(records)
    if wanted > 0:
        try:
            batch = session.ask(wanted)
        except ValueError as exc:
            if "exhausted" not in str(exc):
                raise
            skipped.append(str(exc))
        else:
            predictions = batch.predictions or [None] * len(batch)
            scores = batch.scores or [None] * len(batch)
            records += [
                (item, predictions[k], scores[k], batch.round, k, batch.model_version)
                for k, item in enumerate(batch)
            ]

    pushed, task_ids = [], None
    if records:
        positions = [session._pos[item] for item, *_ in records]
        shown = _show(session, positions, layout, root)
        request = []
        for (item, prediction, score, round_, rank, version), value in zip(records, shown):
            task = {"data": {layout.data_key: value, "skal_id": item, "skal_round": round_,
                             "skal_rank": rank, "skal_model_version": version}}
            if prediction is not None:
                result = {"from_name": layout.from_name, "to_name": layout.to_name, "type": "choices",
                          "value": {"choices": [str(prediction)]}}
                guess = {"model_version": MODEL_VERSION, "result": [result]}
                if score is not None:
                    guess["score"] = float(score)
                task["predictions"] = [guess]
            request.append(task)
        response = client.projects.import_tasks(id=project, request=request, return_task_ids=True)
        task_ids = _get(response, "task_ids")
        pushed = [item for item, *_ in records]
        open_items.update(pushed)
    return SyncReport(
        told=[item for item, _, _ in to_tell], annotators=[who for _, _, who in to_tell],
        pushed=pushed, task_ids=None if task_ids is None else list(task_ids),
        open_tasks=len(open_items), model_version=session.model_version, skipped=skipped,
    )


def create_project(session, label_studio, *, title="skal labeling session", token=None):
    """A new Label Studio project labeled with :func:`label_config`'s configuration; its id.

    Parameters
    ----------
    session : LabelingSession
    label_studio : str or label_studio_sdk.LabelStudio
        The server's URL, or an SDK client.
    title : str, default="skal labeling session"
    token : str, default=None
        None reads ``LABEL_STUDIO_API_KEY``.

    Returns
    -------
    project_id : int
    """
    client = _client(label_studio, token)
    project = client.projects.create(title=title, label_config=label_config(session))
    return int(_get(project, "id"))
