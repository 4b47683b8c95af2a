import json
import subprocess
import sys
from pathlib import Path

import pytest

from skal.cli import DEFAULTS, load_config, main

CONFIGS = Path(__file__).resolve().parent.parent / "examples" / "configs"
TINY = ["--budget", "30", "--batch-size", "5", "--initial", "10", "--seeds", "0", "--quiet"]


def test_run_tiny_logistic_prints_table_and_writes_outputs(tmp_path, capsys):
    out = tmp_path / "res"
    status = main(["run", "--model", "logistic", "--strategies", "random,entropy", "-o", str(out), *TINY])
    assert status == 0
    printed = capsys.readouterr().out
    assert "AUBC" in printed and "labels@90%" in printed
    assert any(line.startswith("random") for line in printed.splitlines())
    assert any(line.startswith("entropy") for line in printed.splitlines())
    assert (out / "learning_curves.png").stat().st_size > 1000
    assert (out / "summary.txt").read_text().splitlines()[0].startswith("strategy")
    rows = json.loads((out / "summary.json").read_text())
    assert [r["strategy"] for r in rows] == ["random", "entropy"]
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["entropy__seed0.jsonl", "random__seed0.jsonl"]
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "logistic" and config["budget"] == 30

    # The report subcommand rebuilds the same table from the records.
    assert main(["report", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[:4] == printed.splitlines()[1:5]


def test_config_file_with_overrides_and_options(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text(
        'model = "random-forest"\nstrategies = ["random", "margin"]\nbudget = 25\nbatch_size = 5\n'
        "n_initial = 10\nseeds = [1]\npool_size = 400\ntest_size = 200\n"
        '[model_params]\nn_estimators = 5\n[strategy_options.margin]\n'
    )
    assert load_config(config)["model_params"] == {"n_estimators": 5}
    out = tmp_path / "res"
    # --budget on the command line wins over the file.
    assert main(["run", "--config", str(config), "--budget", "20", "-o", str(out), "--quiet"]) == 0
    captured = capsys.readouterr().out
    assert "pool 400, test 200" in captured and "10 -> 20 labels" in captured
    records = [json.loads(line) for line in (out / "runs" / "margin__seed1.jsonl").read_text().splitlines()]
    assert records[-1]["n_labels"] == 20
    assert json.loads((out / "config.json").read_text())["model_params"] == {"n_estimators": 5}


def test_dpe_with_bald_tiny(tmp_path, capsys):
    out = tmp_path / "res"
    status = main(["run", "--model", "dpe", "--model-param", "max_epochs=3", "--model-param", "n_estimators=2",
                   "--model-param", "module__hidden_units=[16]", "--strategies", "bald", "--budget", "20",
                   "--batch-size", "5", "--initial", "10", "--seeds", "0", "--device", "cpu", "--quiet",
                   "-o", str(out)])
    assert status == 0
    assert "bald" in capsys.readouterr().out


def test_errors_are_reported_clearly(tmp_path, capsys):
    status = main(["run", "--dataset", "mnist", "--data-root", str(tmp_path / "missing"), "-o", str(tmp_path), "--quiet"])
    assert status == 1
    err = capsys.readouterr().err
    assert "train-images-idx3-ubyte.gz" in err and str(tmp_path / "missing") in err and "--data-root" in err

    bad = tmp_path / "bad.toml"
    bad.write_text("budgett = 3\n")
    assert main(["run", "--config", str(bad), "-o", str(tmp_path)]) == 1
    assert "unknown setting(s) budgett" in capsys.readouterr().err

    assert main(["run", "--model", "logistic", "--strategies", "nope", "-o", str(tmp_path), *TINY]) == 1
    assert "unknown query strategy 'nope'" in capsys.readouterr().err

    with pytest.raises(SystemExit):
        main(["run", "--model", "no-such-model"])


def test_console_script_help():
    result = subprocess.run([sys.executable, "-m", "skal.cli", "run", "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "--config" in result.stdout and "--data-root" in result.stdout
    assert set(DEFAULTS["strategies"]) == {"random", "entropy", "bald", "batch_bald"}
    version = subprocess.run([sys.executable, "-m", "skal.cli", "--version"], capture_output=True, text=True, check=False)
    assert version.stdout.startswith("skal ")


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    from skal.datasets import DATASETS
    from skal.experiments import MODELS
    from skal.strategies import get_strategy

    config = load_config(path)
    assert config["dataset"] in DATASETS and config["model"] in MODELS
    for name in config["strategies"]:
        get_strategy(name)
    assert set(config.get("strategy_options", {})) <= set(config["strategies"])
    assert config["budget"] > config["n_initial"]


def test_scheduler_local_runs_on_a_dask_cluster_with_the_same_table(tmp_path, capsys):
    pytest.importorskip("distributed")
    args = ["run", "--model", "logistic", "--strategies", "random,margin", *TINY, "--seeds", "0,1"]
    assert main([*args, "-o", str(tmp_path / "here")]) == 0
    here = capsys.readouterr().out.splitlines()
    assert main([*args, "-o", str(tmp_path / "cluster"), "--scheduler", "local", "--n-jobs", "2"]) == 0
    cluster = capsys.readouterr().out.splitlines()
    # the timing column aside, the cluster's table is this process's table
    assert [line.split()[:3] for line in cluster[1:5]] == [line.split()[:3] for line in here[1:5]]
    assert sorted(p.name for p in (tmp_path / "cluster" / "runs").iterdir()) == [
        "margin__seed0.jsonl", "margin__seed1.jsonl", "random__seed0.jsonl", "random__seed1.jsonl"]
