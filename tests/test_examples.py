"""Smoke-run every example script on a tiny setting, as a user would run it."""

import os
import subprocess
import sys
from pathlib import Path

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
            "--budget", "30", "--seeds", "0", "--max-epochs", "5", "--n-estimators", "2",
            "--strategies", "random,bald", "--quiet", "--output", str(tmp_path / "digits"),
        ],
        "modal_loop_digits.py": ["--rounds", "2", "--n-estimators", "2", "--max-epochs", "3"],
        "dpe_calibration_digits.py": ["--members", "2", "--epochs", "3"],
    }
    mnist = _mnist_root()
    if mnist is not None:
        commands["mnist_mc_dropout.py"] = [
            "--data-root", str(mnist), "--rounds", "2", "--pool-subset", "100", "--test-size", "300",
            "--max-epochs", "3", "--n-samples", "4", "--device", "cpu",
        ]
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
            out, _ = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"{name} did not finish in 120 s")
        outputs[name] = out
        assert proc.returncode == 0, f"{name} failed:\n{out[-3000:]}"
    assert "AUBC" in outputs["digits_campaign.py"]
    assert (tmp_path / "digits" / "learning_curves.png").is_file()
    if "mnist_mc_dropout.py" in outputs:
        assert outputs["mnist_mc_dropout.py"].count("accuracy") == 3
