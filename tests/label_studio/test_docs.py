"""The Label Studio example of docs/labeling.rst runs as written, against the test server."""

import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "labeling.rst"


def _block(text, title):
    section = re.search(rf"\n{title}\n-+\n(.*?)(?=\n\S[^\n]*\n-+\n|\Z)", text, re.S).group(1)
    body = re.search(r"\.\. code-block:: python\n\n(.*?)\n\n(?=\S)", section, re.S).group(1)
    return "\n".join(line[3:] for line in body.splitlines())


def test_the_documented_sync_runs(tmp_path, monkeypatch, server, client):
    url, token, _ = server
    monkeypatch.setenv("LABEL_STUDIO_URL", url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", token)
    monkeypatch.chdir(tmp_path)
    text = PAGE.read_text(encoding="utf-8")
    namespace = {}
    for title in ("A campaign", "Label Studio"):
        exec(compile(_block(text, title), f"{PAGE}:{title}", "exec"), namespace)
    # the campaign left a batch pending: the first sync imported it, the second had nothing to do
    report, pending = namespace["report"], namespace["batch"]
    assert report.told == [] and report.pushed == [] and report.open_tasks == 10
    tasks = list(client.tasks.list(project=namespace["project"], fields="all"))
    assert sorted(t.data["skal_id"] for t in tasks) == sorted(pending)
    assert all(t.predictions and t.data["skal_model_version"] == 10 for t in tasks)
