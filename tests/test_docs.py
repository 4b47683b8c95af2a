"""The docs and the README agree with the committed results they cite.

A number or a comparison in the README or ``docs/`` comes from a committed
result file or benchmark output. Pages include such files
(``literalinclude``) rather than copying them; where a harness summary
table is copied inline, it must equal a committed ``summary.txt`` line by
line. These checks fail when a result is re-run and the prose is not.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.rst")) + [ROOT / "README.md"]
SUMMARIES = sorted((DOCS / "results").glob("**/summary.txt"))
# The header of the table `skal run` prints (ExperimentResults.format_table).
HEADER = re.compile(r"^\s*strategy\s+seeds\s+AUBC\s+F-acc\b")


def _normalise(line):
    return " ".join(line.split())


def inline_tables(text):
    """Blocks of lines that start with a harness table header, up to a blank line."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if HEADER.match(line):
            block = []
            for row in lines[i:]:
                if not row.strip():
                    break
                block.append(_normalise(row))
            yield i + 1, block


def test_there_are_committed_results_to_cite():
    assert SUMMARIES, "docs/results holds no summary.txt"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_included_files_exist(page):
    text = page.read_text(encoding="utf-8")
    for match in re.finditer(r"^\s*\.\. (?:literal)?include:: (\S+)", text, re.MULTILINE):
        target = (page.parent / match.group(1)).resolve()
        assert target.is_file(), f"{page.name} includes {match.group(1)}, which does not exist"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_inline_result_tables_equal_a_committed_summary(page):
    committed = {
        path: [_normalise(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        for path in SUMMARIES
    }
    for line_no, block in inline_tables(page.read_text(encoding="utf-8")):
        matches = [path for path, rows in committed.items() if rows[: len(block)] == block]
        assert matches, (
            f"{page.name}, line {line_no}: a results table that no committed "
            "docs/results/**/summary.txt contains; include the file instead of copying it, "
            "or re-copy it from the run that produced it"
        )


def test_a_copied_table_that_drifted_is_caught(tmp_path):
    # The check itself: a table copied from a summary, then edited by hand.
    summary = SUMMARIES[0].read_text(encoding="utf-8").splitlines()
    edited = [summary[0], summary[1], summary[2].replace("0.", "9.", 1)]
    blocks = list(inline_tables("\n".join(["Some prose.", "", *edited, ""])))
    assert len(blocks) == 1
    rows = [_normalise(line) for line in summary if line.strip()]
    assert rows[: len(blocks[0][1])] != blocks[0][1]


# -- skal run's defaults, as docs/cli.rst and examples/configs/digits_dpe.toml state them --

CLI_PAGE = DOCS / "cli.rst"
DEFAULT_CONFIG = ROOT / "examples" / "configs" / "digits_dpe.toml"


def _run_settings(*argv):
    """The settings ``skal run ARGV`` runs, parsed by skal.cli itself."""
    from skal.cli import _parser, _settings

    return _settings(_parser().parse_args(["run", *argv]))


def _cli_intro():
    text = CLI_PAGE.read_text(encoding="utf-8")
    body = text.split("\n\n", 1)[1]  # after the title
    return " ".join(body.split("\n\n", 1)[0].split())


def test_default_config_gives_the_settings_of_no_config():
    assert _run_settings("--config", str(DEFAULT_CONFIG)) == _run_settings()


def test_default_config_spells_out_every_setting():
    from skal.cli import DEFAULTS, load_config

    config = load_config(DEFAULT_CONFIG)
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    unset = {key for key, value in DEFAULTS.items() if value is None}
    assert set(config) == set(DEFAULTS) - unset
    for key in unset:  # TOML has no null: an unset setting is a comment line
        assert re.search(rf"^# {key}\s+# unset", text, re.MULTILINE), f"{DEFAULT_CONFIG.name} does not list {key}"


def test_default_config_is_what_the_cli_page_shows():
    text = CLI_PAGE.read_text(encoding="utf-8")
    assert ".. literalinclude:: ../examples/configs/digits_dpe.toml" in text


def test_the_cli_page_states_the_defaults_of_the_code():
    from skal.cli import DEFAULTS
    from skal.datasets import load_dataset
    from skal.experiments import make_estimator
    from skal.models import MLP
    from skal.models._base import TRAINING_DEFAULTS

    intro = _cli_intro()
    data = load_dataset(DEFAULTS["dataset"])
    model = make_estimator(DEFAULTS["model"], classes=data.classes, params=DEFAULTS["model_params"])

    def number(pattern):
        match = re.search(pattern, intro)
        assert match, f"docs/cli.rst's first paragraph no longer says {pattern!r}"
        return [int(g.replace(",", "")) for g in match.groups()]

    assert DEFAULTS["dataset"] == "digits" and "scikit-learn's digits" in intro
    assert number(r"\(([\d,]+) pool / ([\d,]+) test") == [len(data.y_train), len(data.y_test)]
    assert DEFAULTS["model"] == "dpe" and "Deep Probabilistic Ensemble" in intro
    assert number(r"of (\d+) MLP members") == [model.n_estimators] and model.module is MLP
    # trained for the default length: max_epochs unset
    assert model.max_epochs is None
    assert number(r"at least ([\d,]+) epochs and ([\d,]+) gradient steps") == [
        TRAINING_DEFAULTS["max_epochs"], TRAINING_DEFAULTS["min_steps"]]
    listed = re.search(r"the strategies ((?:``\w+``(?:, | and )?)+)", intro)
    assert listed and re.findall(r"``(\w+)``", listed.group(1)) == DEFAULTS["strategies"]
    assert number(r"(\d+) class-balanced seed labels") == [DEFAULTS["n_initial"]] and DEFAULTS["balanced_initial"]
    assert number(r"(\d+) labels per round up to (\d+)") == [DEFAULTS["batch_size"], DEFAULTS["budget"]]
    seeds = re.search(r"seeds ([\d, ]+):", intro)
    assert seeds and [int(s) for s in seeds.group(1).split(",")] == DEFAULTS["seeds"]
    n_runs = len(DEFAULTS["strategies"]) * len(DEFAULTS["seeds"])
    assert number(r"(\d+) runs") == [n_runs]


def test_the_default_run_the_docs_show_is_the_default():
    # docs/cli.rst shows docs/results/digits_default as what `skal run` prints.
    import json

    from skal.cli import DEFAULTS

    folder = DOCS / "results" / "digits_default"
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    campaign = ("dataset", "model", "model_params", "strategies", "strategy_options", "n_initial",
                "balanced_initial", "batch_size", "budget", "seeds", "warm_start", "pool_subset", "pool_size",
                "test_size", "targets")
    assert {k: config.get(k, DEFAULTS[k]) for k in campaign} == {k: DEFAULTS[k] for k in campaign}
    # "about N minutes on one CPU core": the train and query seconds of its table, summed over the runs
    intro = _cli_intro()
    minutes = int(re.search(r"about (\d+)\s+minutes on one CPU core", intro).group(1))
    rows = [line.split() for line in (folder / "summary.txt").read_text(encoding="utf-8").splitlines()[2:]]
    seconds = sum((float(r[-2]) + float(r[-1])) * int(r[1]) for r in rows if r)
    assert round(seconds / 60) == minutes
