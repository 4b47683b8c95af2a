"""The campaign in docs/labeling.rst runs as written."""

import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "labeling.rst"


def test_the_documented_campaign_runs(tmp_path, monkeypatch, capsys):
    text = PAGE.read_text(encoding="utf-8")
    block = re.search(r"A campaign\n-+\n\n\.\. code-block:: python\n\n(.*?)\n\n(?=\S)", text, re.S)
    code = "\n".join(line[3:] for line in block.group(1).splitlines())
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, str(PAGE), "exec"), namespace)
    status, batch, session = namespace["status"], namespace["batch"], namespace["session"]
    assert status.n_labeled == 100 and status.n_validation_labeled == 50
    assert status.validation_accuracy > 0.7
    assert len(batch) == 10 and batch.round == 11
    assert "model version 10" in capsys.readouterr().out
    session.close()
