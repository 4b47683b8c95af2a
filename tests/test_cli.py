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


@pytest.mark.parametrize(
    "model, size",
    [("bayes-by-backprop", "n_samples=3"), ("snapshot-ensemble", "n_estimators=2")],
)
def test_the_other_posteriors_run_by_name_under_bald(tmp_path, capsys, model, size):
    out = tmp_path / "res"
    status = main(["run", "--model", model, "--model-param", "max_epochs=3", "--model-param", size,
                   "--model-param", "batch_size=8", "--model-param", "module__hidden_units=[16]",
                   "--strategies", "bald", "--budget", "20", "--batch-size", "5", "--initial", "10",
                   "--seeds", "0", "--device", "cpu", "--quiet", "-o", str(out)])
    assert status == 0
    records = [json.loads(line) for line in (out / "runs" / "bald__seed0.jsonl").read_text().splitlines()]
    assert records[-1]["n_labels"] == 20 and 0.0 <= records[-1]["accuracy"] <= 1.0  # 3 epochs: a smoke test


def test_make_estimator_sizes_the_other_posteriors_for_images():
    from skal.experiments import make_estimator
    from skal.models import BayesByBackpropClassifier, GalCNN, SnapshotEnsemble

    bbb = make_estimator("bayes_by_backprop", images=True, classes=[0, 1])
    assert isinstance(bbb, BayesByBackpropClassifier) and bbb.module is GalCNN and bbb.n_samples == 20
    assert bbb.get_params()["module__dropout"] == (0.0, 0.0)
    snap = make_estimator("snapshot-ensemble", params={"n_estimators": 3})
    assert isinstance(snap, SnapshotEnsemble) and snap.n_estimators == 3


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


def _one_line_error(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    "argv, config, message",
    [
        (["--model-param", "foo=1"], None,
         "model 'logistic', --model-param (model_params): LogisticRegression.__init__() got an unexpected "
         "keyword argument 'foo'"),
        ([], 'budget = "thirty"\n', "c.toml: budget must be an integer, got 'thirty'."),
        ([], "budget = true\n", "c.toml: budget must be an integer, got True."),
        ([], "seeds = [0, 1.5]\n", "c.toml: seeds must be an integer or a list of them, got [0, 1.5]."),
        ([], "[strategy_options]\nbald = 3\n", "c.toml: strategy_options.bald must be a table"),
        ([], "budget = \n", "c.toml is not valid TOML: Invalid value (at line 2, column 10)."),
        (["--dataset-param", "canvas=3"], None, "--dataset-param (dataset_params): load_dataset('digits') got "
         "unexpected parameter(s) canvas"),
        (["--seeds", "a,b"], None, "skal run: error: argument --seeds: expected comma-separated integers"),
        (["--model-param", "oops"], None, "argument --model-param: expected KEY=VALUE, got 'oops'"),
    ],
    ids=["unknown model param", "string budget", "bool budget", "float seed", "options not a table",
         "bad TOML", "unknown dataset param", "bad --seeds", "model param without ="],
)
def test_user_errors_are_one_line_and_status_1(tmp_path, capsys, argv, config, message):
    if config is not None:
        (tmp_path / "c.toml").write_text('model = "logistic"\n' + config)
        argv = ["--config", str(tmp_path / "c.toml"), *argv]
    try:
        status = main(["run", "--model", "logistic", *TINY, "-o", str(tmp_path / "res"), *argv])
    except SystemExit as exc:  # argparse's errors leave through SystemExit
        status = exc.code
    assert status == 1
    assert message in _one_line_error(capsys)


def test_a_user_error_from_the_console_has_no_traceback(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('budget = "thirty"\n')
    result = subprocess.run([sys.executable, "-m", "skal.cli", "run", "--config", str(config), "-o", str(tmp_path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stderr == f"skal: error: {config}: budget must be an integer, got 'thirty'.\n"


def test_a_single_value_in_a_config_stands_for_a_list_of_one(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text('model = "logistic"\nstrategies = "random"\nseeds = 1\ntargets = 0.8\n')
    assert {k: load_config(config)[k] for k in ("strategies", "seeds", "targets")} == {
        "strategies": ["random"], "seeds": [1], "targets": [0.8]}
    out = tmp_path / "res"
    assert main(["run", "--config", str(config), "--budget", "20", "--batch-size", "5", "--initial", "10",
                 "--quiet", "-o", str(out)]) == 0
    assert "strategies random, 10 -> 20" in capsys.readouterr().out
    assert [p.name for p in (out / "runs").iterdir()] == ["random__seed1.jsonl"]


_HOLD_FOLDER = """
import sys, time
from skal.experiments._records import OutputFolderLock
with OutputFolderLock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_run_on_a_folder_in_use_is_refused_in_one_line_and_changes_nothing(tmp_path, capsys):
    out = tmp_path / "res"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_FOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        assert main(["run", "--model", "logistic", "--strategies", "random", *TINY, "-o", str(out)]) == 1
        err = _one_line_error(capsys)
        assert f"output folder {out} is in use by another run (pid {holder.pid})" in err
        assert "write to another folder (skal run --output DIR" in err
        assert sorted(p.name for p in out.iterdir()) == [".lock"]  # no config.json, no runs
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    # the killed holder's lock is stale: the same command now runs
    assert main(["run", "--model", "logistic", "--strategies", "random", *TINY, "-o", str(out)]) == 0
    assert (out / "runs" / "random__seed0.jsonl").is_file()


def test_cpu_cost_notice_for_an_ensemble_of_cnns_only():
    from skal.cli import _cpu_cost_notice
    from skal.experiments import make_estimator

    notice = _cpu_cost_notice(make_estimator("dpe", images=True, classes=list(range(10)), device="cpu"))
    assert notice.startswith("every round trains 8 GalCNN networks on the CPU, at least 1,000 gradient steps")
    assert "--model mc-dropout" in notice and "--device cuda" in notice
    shorter = make_estimator("deep-ensemble", images=True, device="cpu", params={"n_estimators": 3, "max_epochs": 30})
    assert _cpu_cost_notice(shorter).startswith("every round trains 3 GalCNN networks on the CPU, 30 epochs each.")
    # one network, MLP members, scikit-learn models or a GPU: nothing to say
    assert _cpu_cost_notice(make_estimator("mc-dropout", images=True, device="cpu")) is None
    assert _cpu_cost_notice(make_estimator("dpe", images=False, device="cpu")) is None
    assert _cpu_cost_notice(make_estimator("logistic")) is None
    assert _cpu_cost_notice(make_estimator("dpe", images=True, device="cuda")) is None


def test_console_script_help():
    result = subprocess.run([sys.executable, "-m", "skal.cli", "run", "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "--config" in result.stdout and "--data-root" in result.stdout
    # every registered strategy name, not only the defaults the description shows
    names = " ".join(result.stdout.split())
    assert all(name in names for name in ("typiclust", "batch_bald", "power_bald", "vote_entropy", "mal"))
    assert set(DEFAULTS["strategies"]) == {"random", "bald", "cluster_margin", "auto"}
    version = subprocess.run([sys.executable, "-m", "skal.cli", "--version"], capture_output=True, text=True, check=False)
    assert version.stdout.startswith("skal ")


def test_a_learner_by_name_with_parameters_and_reports_merged(tmp_path, capsys):
    plain, ceal = tmp_path / "plain", tmp_path / "ceal"
    assert main(["run", "--model", "logistic", "--strategies", "entropy", "-o", str(plain), *TINY]) == 0
    config = tmp_path / "ceal.toml"
    config.write_text('model = "logistic"\nlearner = "ceal"\nstrategies = ["entropy"]\n[learner_params]\ndelta = 0.2\n')
    # the option wins over the file, as for every setting
    assert main(["run", "--config", str(config), "--learner-param", "delta=0.3", "-o", str(ceal), *TINY]) == 0
    printed = capsys.readouterr().out
    assert "learner ceal" in printed and any(line.startswith("ceal+entropy") for line in printed.splitlines())
    header = json.loads((ceal / "runs" / "ceal+entropy__seed0.jsonl").read_text().splitlines()[0])
    assert header["settings"]["learner"] == "CEAL(delta=0.3)"  # a resumed run must match it
    assert json.loads((ceal / "config.json").read_text())["learner_params"] == {"delta": 0.3}
    # the pseudo-labels per round, averaged over seeds, beside the summary
    learner_table = (ceal / "learner.txt").read_text().splitlines()
    assert learner_table[0] == "ceal+entropy, mean over seeds per label count"
    assert {"n_pseudo", "n_pseudo_correct", "delta"} <= set(learner_table[1].split())
    assert not (plain / "learner.txt").exists()

    both = tmp_path / "both"
    assert main(["report", str(plain), str(ceal), "-o", str(both), "--title", "CEAL and plain"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in table[2:4]] == ["entropy", "ceal+entropy"]
    assert (both / "learning_curves.png").stat().st_size > 1000
    assert [r["strategy"] for r in json.loads((both / "summary.json").read_text())] == ["entropy", "ceal+entropy"]

    assert main(["report", str(plain), str(ceal)]) == 1
    assert "pass --output OUT" in capsys.readouterr().err
    assert main(["report", str(plain), str(plain), "-o", str(both)]) == 1
    assert "both hold the run of 'entropy', seed 0" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--learner", "ceal", "--learner-param", "proxy=logistic"],
         "learner 'ceal' takes no parameter proxy; it accepts: delta, delta_decay."),
        (["--learner", "active", "--learner-param", "delta=0.1"], "learner 'active' takes no parameter delta"),
        (["--learner", "svp", "--learner-param", "proxy=nope"], "unknown model 'nope'"),
        (["--learner", "bgadl"], "BGADL generates images"),
    ],
    ids=["ceal", "active", "svp proxy", "bgadl on flat digits"],
)
def test_bad_learner_settings_are_reported_clearly(tmp_path, capsys, argv, message):
    status = main(["run", "--model", "logistic", "--strategies", "entropy", "-o", str(tmp_path), *argv, *TINY])
    assert status == 1
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    from skal.datasets import DATASETS
    from skal.experiments import MODELS, make_learner
    from skal.strategies import get_strategy

    config = load_config(path)
    assert config["dataset"] in DATASETS and config["model"] in MODELS
    make_learner(config.get("learner", "active"), params=config.get("learner_params"))
    for name in config["strategies"]:
        get_strategy(name)
    assert set(config.get("strategy_options", {})) <= set(config["strategies"])
    assert config["budget"] > config["n_initial"]


def _mnist_available():
    from skal.datasets import resolve_data_root

    return any((root / "mnist").is_dir() for root in resolve_data_root())


@pytest.mark.skipif(not _mnist_available(), reason="MNIST files not in ../shared/data")
def test_segmentation_run_reports_miou_per_round(tmp_path, capsys):
    out = tmp_path / "seg"
    status = main(["run", "--dataset", "mnist-segmentation", "--dataset-param", "n_train=30",
                   "--dataset-param", "n_test=6", "--dataset-param", "canvas_size=16",
                   "--dataset-param", "digit_size=8", "--model", "deep-ensemble",
                   "--model-param", "n_estimators=2", "--model-param", "max_epochs=1",
                   "--model-param", "module__widths=[4]", "--strategies", "random,bald",
                   "--unbalanced-initial", "--initial", "5", "--batch-size", "5", "--budget", "10",
                   "--seeds", "0", "--device", "cpu", "--quiet", "-o", str(out)])
    assert status == 0
    assert "F-mIoU" in capsys.readouterr().out
    records = [json.loads(line) for line in (out / "runs" / "bald__seed0.jsonl").read_text().splitlines()[1:]]
    assert [r["n_labels"] for r in records] == [5, 10] and all("miou" in r for r in records)
    # a balanced seed set of label maps is refused, with the fix
    assert main(["run", "--dataset", "mnist-segmentation", "--dataset-param", "n_train=30",
                 "--dataset-param", "canvas_size=16", "--dataset-param", "digit_size=8",
                 "--dataset-param", "n_test=6", "--strategies", "random", "--initial", "5",
                 "--budget", "10", "--quiet", "-o", str(tmp_path / "x")]) == 1
    assert "balanced_initial=False" in capsys.readouterr().err


def test_tabular_to_image_run(tmp_path, capsys):
    out = tmp_path / "tab"
    status = main(["run", "--dataset", "breast-cancer", "--tabular-to-image", "--model", "dpe",
                   "--model-param", "n_estimators=2", "--model-param", "max_epochs=2",
                   "--model-param", "module__widths=[4]", "--strategies", "bald", *TINY,
                   "--device", "cpu", "-o", str(out)])
    assert status == 0
    captured = capsys.readouterr()
    assert "F-acc" in captured.out
    # a DPE of CNNs on the CPU is announced before it starts
    assert "skal run: note: every round trains 2 SmallCNN networks on the CPU, 2 epochs each." in captured.err
    assert "TabularToImage" in json.loads((out / "experiment.json").read_text())["estimator"]


def test_presets_name_modules_and_refuse_what_cannot_segment():
    from sklearn.pipeline import Pipeline

    from skal.experiments import make_estimator
    from skal.models import BackboneUNet, SmallCNN, SmallUNet
    from skal.preprocessing import TabularToImage

    assert make_estimator("dpe", segmentation=True).module is SmallUNet
    assert make_estimator("mc-dropout", segmentation=True).get_params()["module__dropout"] == 0.5
    assert make_estimator("dpe", params={"module": "backbone-unet"}).module is BackboneUNet
    pipe = make_estimator("deep-ensemble", tabular_to_image={"method": "tsne"})
    assert isinstance(pipe, Pipeline) and isinstance(pipe[0], TabularToImage)
    assert pipe[0].method == "tsne" and pipe[-1].module is SmallCNN
    with pytest.raises(ValueError, match="cannot segment label maps"):
        make_estimator("logistic", segmentation=True)
    with pytest.raises(ValueError, match="unknown module 'unet3d'"):
        make_estimator("dpe", params={"module": "unet3d"})


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
