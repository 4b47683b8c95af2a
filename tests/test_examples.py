"""Smoke-run every example script on a tiny setting, as a user would run it."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skal.datasets import resolve_data_root

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _mnist_root():
    for root in resolve_data_root():
        if (root / "mnist" / "t10k-images-idx3-ubyte.gz").is_file():
            return root
    return None


def _commands(tmp_path):
    commands = {
        "digits_campaign.py": [
            "--quick", "--budget", "30", "--max-epochs", "5", "--n-estimators", "2",
            "--strategies", "random,bald", "--quiet", "--output", str(tmp_path / "digits"),
        ],
        "modal_loop_digits.py": ["--rounds", "2", "--n-estimators", "2", "--max-epochs", "3"],
        "dpe_calibration_digits.py": ["--members", "2", "--epochs", "3"],
    }
    mnist = _mnist_root()
    if mnist is not None:
        # The smoke run its docstring documents, as documented.
        commands["mnist_mc_dropout.py"] = ["--data-root", str(mnist), "--quick", "--device", "cpu"]
    commands = {name: args for name, args in commands.items() if (EXAMPLES / name).is_file()}
    # An example added without a tiny setting here is at least imported and
    # its options parsed.
    for path in EXAMPLES.glob("*.py"):
        if path.name not in commands and not (path.name == "mnist_mc_dropout.py" and mnist is None):
            commands[path.name] = ["--help"]
    return commands


def test_examples_run(tmp_path):
    # One thread per process: the examples run side by side on two cores.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = {
        name: subprocess.Popen(
            [sys.executable, str(EXAMPLES / name), *args],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for name, args in _commands(tmp_path).items()
    }
    outputs = {}
    for name, proc in procs.items():
        try:
            out, _ = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"{name} did not finish in 300 s")
        outputs[name] = out
        assert proc.returncode == 0, f"{name} failed:\n{out[-3000:]}"
    assert "AUBC" in outputs["digits_campaign.py"]
    assert (tmp_path / "digits" / "learning_curves.png").is_file()
    # Both long examples say up front what they cost.
    assert "expected time:" in outputs["digits_campaign.py"].splitlines()[0]
    if "mnist_mc_dropout.py" in outputs:
        out = outputs["mnist_mc_dropout.py"]
        assert "expected time:" in out.splitlines()[0]
        accuracies = [float(a) for a in re.findall(r"accuracy (\d\.\d+)", out)]
        assert len(accuracies) == 3
        # 0.1.0's smoke line ended below chance (8%): 5 gradient steps a fit.
        assert accuracies[-1] > 0.3, out
        # The strategy's score of the chosen points, not the pixels' maximum (always 1.000).
        scores = [float(s) for s in re.findall(r"top bald score (\d+\.\d+)", out)]
        assert len(scores) == 2 and all(0 < s < np.log(10) for s in scores) and len(set(scores)) == 2, out


def test_mnist_example_prints_the_strategys_scores(monkeypatch, capsys):
    # In-process, on a fake MNIST: the printed score is the query's metric.
    import importlib.util

    from sklearn.utils import Bunch

    spec = importlib.util.spec_from_file_location("mnist_mc_dropout", EXAMPLES / "mnist_mc_dropout.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 8)
    X = rng.random((80, 1, 28, 28), dtype=np.float32)
    data = Bunch(X_train=X, y_train=y, X_test=X[:20], y_test=y[:20], classes=np.arange(10))
    monkeypatch.setattr(example, "load_dataset", lambda *a, **k: data)
    seen = []
    real_query = example.ActiveLearner.query

    def query(self, *args, **kwargs):
        result = real_query(self, *args, **kwargs)
        seen.append(result[-1])
        return result

    monkeypatch.setattr(example.ActiveLearner, "query", query)
    example.main(["--rounds", "1", "--pool-subset", "30", "--max-epochs", "2", "--n-samples", "3",
                  "--device", "cpu", "--threads", "0"])
    out = capsys.readouterr().out
    printed = float(re.search(r"top bald score (\d+\.\d+)", out).group(1))
    assert printed == pytest.approx(float(np.max(seen[0])), abs=5e-4)


TIMINGS = ROOT / "docs" / "results" / "example_timings"


def _record(name):
    """Command, CPU seconds (user) and wall seconds of a committed timing record."""
    text = (TIMINGS / f"{name}.txt").read_text(encoding="utf-8")
    wall, user = re.search(r"^# wall ([\d.]+) s, user ([\d.]+) s", text, re.MULTILINE).groups()
    return text.splitlines()[0], float(user), float(wall)


def _example(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["digits_campaign", "mnist_mc_dropout"])
def test_stated_costs_are_the_measured_ones(name):
    # The expected time an example prints, and the times docs/examples.rst
    # states, are those of the committed records of its runs.
    example = _example(name)
    command, user, wall = _record(name)
    assert re.search(rf"python examples/{name}\.py( --data-root \S+)?( --quiet)?$", command), command
    minutes = int(re.search(r"about (\d+) minutes", example.EXPECTED["default"]).group(1))
    assert minutes == round(user / 60)
    command, user_quick, _ = _record(f"{name}_quick")
    assert command.endswith("--quick") or command.endswith("--quick --quiet")
    assert example.EXPECTED["quick"].startswith("under 30 seconds") and user_quick < 30
    page = " ".join((ROOT / "docs" / "examples.rst").read_text(encoding="utf-8").split())
    assert f"about {round(user / 60)} minutes of CPU time ({round(wall / 60)} minutes of wall-clock" in page
    doc = " ".join(example.__doc__.split())
    assert f"{round(user / 60)} minutes of CPU time" in doc and f"{round(wall / 60)} minutes of wall-clock" in doc
    assert f"{round(user_quick)} seconds of CPU time" in page
    assert f"literalinclude:: results/example_timings/{name}.txt" in page
