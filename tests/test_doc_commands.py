"""Every command and every Python block the README and ``docs/`` show is run here.

The commands are read from the pages themselves: ``bash`` code blocks,
literal blocks (``::``) whose first line starts with a program, and inline
literals such as ``skal run -o docs/results/digits_default``. A page that
gains a command gains a test case, and a command no runner here knows
fails :func:`test_every_command_has_a_runner`: docs and code cannot drift
apart unnoticed.

Each command runs as written, from a scratch folder, with options appended
that shrink it to a smoke run (argparse keeps the last value an option is
given): one seed, one query round, a few hundred pool points, two epochs,
two members. The runs that need MNIST are skipped when its files are
absent. Commands that set up an environment (``python -m venv``, ``pip
install``) cannot run offline; their runner checks what they name exists
(the extras in ``pyproject.toml``, the commit of a ``git archive``).

Python blocks run in order, page by page, in a namespace holding the small
data sets their prose assumes (``X0``, ``y0``, ``X_pool``...), with the
estimators' default training length shrunk to two epochs.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.rst")) + [ROOT / "README.md"]

# ---------------------------------------------------------------------------
# Reading the pages
# ---------------------------------------------------------------------------


@dataclass
class Block:
    page: str
    line: int
    lang: str
    text: str

    @property
    def id(self):
        return f"{self.page}:{self.line}"


def code_blocks(page):
    """The code blocks of a page: ``.. code-block::`` and ``::`` literal blocks, or Markdown fences."""
    text = page.read_text(encoding="utf-8")
    if page.suffix == ".md":
        for match in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
            line = text[: match.start()].count("\n") + 2
            yield Block(page.name, line, match.group(1) or "text", match.group(2).rstrip())
        return
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        directive = re.match(r"^(\s*)\.\. code-block::\s*(\S*)", line)
        literal = line.rstrip().endswith("::") and not re.match(r"^\s*\.\. ", line)
        if not (directive or literal):
            i += 1
            continue
        indent = len(line) - len(line.lstrip())
        j = i + 1
        while j < len(lines) and (not lines[j].strip() or re.match(r"^\s+:[\w-]+:", lines[j])):
            j += 1
        start, body = j, []
        while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent):
            body.append(lines[j])
            j += 1
        width = min((len(b) - len(b.lstrip()) for b in body if b.strip()), default=0)
        text_ = "\n".join(b[width:] for b in body).strip("\n")
        if text_:
            yield Block(page.name, start + 1, directive.group(2) if directive else "literal", text_)
        i = j


def inline_literals(page):
    """Inline literals (``...`` in reST, `...` in Markdown), each with its line; may span lines."""
    text = page.read_text(encoding="utf-8")
    # Code blocks are not prose.
    if page.suffix == ".md":
        text = re.sub(r"^```.*?^```", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.M | re.S)
        pattern = r"(?<!`)`([^`\n]+(?:\n[^`\n]+)?)`(?!`)"
    else:
        pattern = r"``([^`]+?)``"
    for match in re.finditer(pattern, text):
        yield text[: match.start()].count("\n") + 1, " ".join(match.group(1).split())


# A command line starts with one of these (after VAR=value prefixes and `nice`).
PROGRAM = re.compile(
    r"^(?:[A-Z_]+=\S*\s+)*(?:nice\s+-n\s*\d+\s+)?"
    r"(?:skal|python3?|\.venv[\w-]*/bin/\w+|git|echo|wait|tests/[\w/]+\.sh|[A-Z]\w*=\".*)(?=\s|$)"
)
SHELL_LANGS = {"bash", "sh", "shell", "console"}


def shell_blocks():
    """The blocks of shell commands: ``bash`` blocks, and literal blocks that start with a program."""
    for page in PAGES:
        for block in code_blocks(page):
            if block.lang in SHELL_LANGS or (block.lang in ("literal", "text") and PROGRAM.match(block.text)):
                yield block


def python_blocks():
    for page in PAGES:
        for block in code_blocks(page):
            if block.lang in ("python", "py", "pycon"):
                yield block


def _parses(text):
    """Whether ``skal ...`` is a whole command to skal's parser (not ``skal run --config``, an option named)."""
    from skal.cli import _parser

    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            _parser().parse_args(shlex.split(text)[1:])
    except SystemExit:
        return False
    return True


def inline_mentions():
    """Inline literals that start like a command: ``skal run ...``, ``python examples/...``."""
    for page in PAGES:
        for line, text in inline_literals(page):
            if re.match(r"^(skal (run|report)|python3? \S+\.py)(\s|$)", text):
                yield Block(page.name, line, "inline", text)


def inline_commands():
    """The inline mentions that are whole commands and not shown in a block already (or earlier)."""
    seen = {str(cmd) for block in shell_blocks() for cmd in parse_commands(block.text)}
    for block in inline_mentions():
        if block.text.startswith("skal") and not _parses(block.text):
            continue
        if block.text not in seen:
            seen.add(block.text)
            yield block


# ---------------------------------------------------------------------------
# Parsing a block into commands
# ---------------------------------------------------------------------------


@dataclass
class Command:
    argv: list
    env: dict = field(default_factory=dict)
    pipeline: list = field(default_factory=list)  # further commands after `|`

    def __str__(self):
        return shlex.join(self.argv) + "".join(" | " + shlex.join(p) for p in self.pipeline)


def _tokens(line):
    lex = shlex.shlex(line, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    lex.commenters = "#"
    return list(lex)


def parse_commands(text):
    """The commands of a shell block, in order: continuations joined, comments dropped,
    ``&&`` / ``&`` / ``;`` split, ``$VAR`` of an earlier ``VAR="..."`` expanded."""
    text = re.sub(r"\\\n\s*", " ", text)
    variables, commands = {}, []
    for raw in text.splitlines():
        for name, value in variables.items():
            raw = raw.replace("${" + name + "}", value).replace("$" + name, value)
        tokens = _tokens(raw)
        if len(tokens) == 1 and re.match(r"^[A-Za-z_]\w*=", tokens[0]):
            name, value = tokens[0].split("=", 1)
            variables[name] = value
            continue
        current, depth = [], 0
        for token in tokens + [";"]:
            depth += token.count("(") - token.count(")") if token in ("(", ")", "((", "))") else 0
            if token in ("&&", "&", ";", "||") and depth == 0:
                if current:
                    commands.append(_command(current))
                current = []
            else:
                current.append(token)
    return commands


def _command(tokens):
    # `a | (b && c)`: a pipeline; the part after `|` stays with the command.
    parts, part = [], []
    for token in tokens:
        if token == "|":
            parts.append(part)
            part = []
        else:
            part.append(token)
    parts.append(part)
    argv = parts[0]
    env = {}
    while argv and re.match(r"^[A-Za-z_]\w*=", argv[0]):
        key, value = argv.pop(0).split("=", 1)
        env[key] = value
    if argv[:2] == ["nice", "-n"]:
        argv = argv[3:]
    return Command(argv, env, parts[1:])


# ---------------------------------------------------------------------------
# Tiny settings
# ---------------------------------------------------------------------------


def mnist_root():
    from skal.datasets import resolve_data_root

    for root in resolve_data_root():
        if (root / "mnist" / "t10k-images-idx3-ubyte.gz").is_file():
            return root
    return None


MNIST_SETS = ("mnist", "fashion-mnist", "mnist-segmentation")
NEURAL_MEMBERS = {"dpe": "n_estimators", "deep-ensemble": "n_estimators", "snapshot-ensemble": "n_estimators",
                  "mc-dropout": "n_samples", "bayes-by-backprop": "n_samples"}


def _replace_option(argv, option, value):
    """argv with every value of ``option`` replaced (``--opt v`` and ``--opt=v``)."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] == option and i + 1 < len(argv):
            out += [option, value]
            i += 2
            continue
        if argv[i].startswith(option + "="):
            out.append(f"{option}={value}")
        else:
            out.append(argv[i])
        i += 1
    return out


def skal_run_settings(argv):
    """The settings ``skal run ARGV`` would run (skal.cli's own parsing)."""
    from skal.cli import _parser, _settings

    return _settings(_parser().parse_args(["run", *argv]))


def tiny_skal_run(argv, ctx):
    """``skal run`` arguments with a smoke-run budget appended."""
    settings = skal_run_settings(argv)
    if settings["dataset"] in MNIST_SETS:
        ctx.need_mnist(settings["dataset"])
    if ctx.mnist is not None:
        argv = _replace_option(argv, "--data-root", str(ctx.mnist))
    budget = min(settings["budget"], settings["n_initial"] + settings["batch_size"])
    extra = ["--budget", str(budget), "--seeds", str(settings["seeds"][0]), "--test-size", "60",
             "--pool-size", str(max(120, budget + 60)), "--quiet", "--device", "cpu", "--n-jobs", "1",
             "--threads", "1"]
    model = settings["model"]
    if model in NEURAL_MEMBERS:
        extra += ["--model-param", "max_epochs=2", "--model-param", f"{NEURAL_MEMBERS[model]}=2"]
    elif model == "random-forest":
        extra += ["--model-param", "n_estimators=5"]
    if settings["learner"] == "bgadl":
        extra += ["--learner-param", "generator__n_steps=2"]
    if settings["dataset"] == "mnist-segmentation":
        extra += [f"--dataset-param={k}={v}" for k, v in
                  {"n_train": 40, "n_test": 20, "canvas_size": 24, "digit_size": 12}.items()]
    if settings["pool_subset"]:
        extra += ["--pool-subset", "80"]
    return [*argv, *extra]


def _mnist_args(argv, ctx, option="--data-root"):
    ctx.need_mnist("mnist")
    return _replace_option(argv, option, str(ctx.mnist)) if option in argv else [*argv, option, str(ctx.mnist)]


def _compare_strategies(argv, ctx):
    dataset = argv[0]
    out = list(argv)
    if dataset == "mnist":
        out = _mnist_args(out, ctx)
    n_initial = int(_value(argv, "--n-initial", 20))
    batch = int(_value(argv, "--batch-size", 10))
    model = _value(argv, "--model", "dpe")
    out += ["--budget", str(n_initial + batch), "--seeds", "0", "--n-jobs", "1", "--test-size", "60",
            "--param", "max_epochs=2"]
    if model in NEURAL_MEMBERS:
        out += ["--param", f"{NEURAL_MEMBERS[model]}=2"]
    if dataset == "mnist":
        out += ["--pool-subset", "80"]
    return out


def _value(argv, option, default=None):
    for i, token in enumerate(argv):
        if token == option and i + 1 < len(argv):
            return argv[i + 1]
        if token.startswith(option + "="):
            return token.split("=", 1)[1]
    return default


def _bench_out_of_core(argv, ctx):
    impls = [i for i in _value(argv, "--impls", "memmap,dask,baal,skactiveml").split(",")
             if i in ("memmap", "dask")]
    out = _replace_option(argv, "--workdir", str(ctx.cwd / "ooc-work"))
    return [*out, "--sizes", "3000", "--impls", ",".join(impls), "--images", "0", "--peer-max", "0"]


def _bench_strategies(argv, ctx):
    try:
        import baal  # noqa: F401
        import skactiveml  # noqa: F401
    except ImportError:
        # Without the peers it must stop at once, saying how to install them.
        ctx.expect_exit = "install the peers first"
    return [*argv, "--quick"]


def _bench_batch_aware(argv, ctx):
    out = [*argv, "--quick", "--size", "coreset=400,8,10", "--size", "badge=400,8,10",
           "--size", "cluster_margin=800,8,20"]
    try:
        import skactiveml  # noqa: F401
    except ImportError:
        out.append("--skip-peers")
    return out


def _bench_dpe(argv, ctx):
    import torch

    out = list(argv)
    if not torch.cuda.is_available():
        out = _replace_option(out, "--device", "cpu")
    return [*out, "--rounds", "1", "--members", "2", "--images", "64"]  # every class among the images


def _mnist_mc_dropout(argv, ctx):
    return [*_mnist_args(argv, ctx), "--rounds", "1", "--pool-subset", "50", "--test-size", "60",
            "--max-epochs", "2", "--n-samples", "2", "--device", "cpu"]


def _batch_balance(argv, ctx):
    if argv[1] in MNIST_SETS:
        argv = _mnist_args(argv, ctx)
    return argv


def _bench_dpe_small_ensembles(argv, ctx):
    # It switches the DPE's initialisation class-wide ("before" / "after"): put it back after.
    from skal.models import DeepProbabilisticEnsemble

    ctx.monkeypatch.setattr(DeepProbabilisticEnsemble, "_match_prior_moments",
                            DeepProbabilisticEnsemble._match_prior_moments)
    return argv  # no options: fits of the default length are 2 epochs here


#: How each script the docs run is shrunk to a smoke run; a script the docs
#: name that is missing here fails test_every_command_has_a_runner.
SCRIPTS = {
    "examples/digits_campaign.py": lambda a, c: [*a, "--budget", "30", "--seeds", "0", "--max-epochs", "2",
                                                 "--n-estimators", "2", "--quiet"],
    "examples/mnist_mc_dropout.py": _mnist_mc_dropout,
    "examples/modal_loop_digits.py": lambda a, c: [*a, "--rounds", "1", "--n-estimators", "2",
                                                   "--max-epochs", "2"],
    "examples/dpe_calibration_digits.py": lambda a, c: [*a, "--members", "2", "--epochs", "2"],
    "examples/studies/compare_strategies.py": _compare_strategies,
    "examples/studies/training_length.py": lambda a, c: [*a, "--sizes", "20", "--steps", "3", "--seeds", "0",
                                                         "--weight-decay", "0", "--test-size", "60"],
    "examples/studies/ensemble_diversity.py": lambda a, c: [*a, "--sizes", "20", "--steps", "3", "--seeds", "0"],
    "examples/studies/batch_balance.py": _batch_balance,
    "examples/studies/learning_loss_ranking.py": lambda a, c: [*a, "--n-train", "60", "--seeds", "0"],
    "examples/studies/tabular_as_images.py": lambda a, c: [*a, "--seeds", "0", "--max-epochs", "2"],
    "tests/benchmarks/bench_dpe.py": _bench_dpe,
    "tests/benchmarks/bench_dpe_small_ensembles.py": _bench_dpe_small_ensembles,
    "tests/benchmarks/bench_out_of_core.py": _bench_out_of_core,
    "tests/benchmarks/bench_strategies.py": _bench_strategies,
    "tests/benchmarks/bench_batch_aware.py": _bench_batch_aware,
}

# ---------------------------------------------------------------------------
# Running a command
# ---------------------------------------------------------------------------


class _NoData(Exception):
    """The command needs a data set that is not on this machine."""


class Context:
    """The scratch folder a block runs in, and what its commands may need."""

    def __init__(self, cwd, monkeypatch):
        self.cwd = cwd
        self.monkeypatch = monkeypatch
        self.mnist = mnist_root()
        self.expect_exit = None
        self.outputs = []

    def need_mnist(self, what):
        if self.mnist is None:
            raise _NoData(f"{what} needs the MNIST files (none under $SKAL_DATA_ROOT or ../shared/data)")

    def provide(self, relative):
        """A committed docs/results folder the command reads, copied into the scratch folder."""
        target = self.cwd / relative
        source = ROOT / relative
        if not target.exists() and source.is_dir():
            shutil.copytree(source, target)


def _in_process(func, *args):
    """Run ``func`` with stdout captured; return (exit status, output)."""
    import torch

    threads = torch.get_num_threads()
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                status = func(*args)
            except SystemExit as exc:
                status = exc.code
    finally:
        torch.set_num_threads(threads)
    return status or 0, out.getvalue()


def _run_script(path, argv, ctx):
    """``python path argv`` in this process (no interpreter start-up), from the scratch folder."""
    ctx.monkeypatch.setattr(sys, "argv", [str(path), *argv])
    ctx.monkeypatch.syspath_prepend(str(path.parent))
    return _in_process(lambda: runpy.run_path(str(path), run_name="__main__") and None)


def runner_for(cmd):
    """(kind, note) of the runner that exercises ``cmd``, or None when there is none."""
    argv = cmd.argv
    program = Path(argv[0]).name if argv else ""
    if not argv:
        return None
    if program == "wait":
        return "shell", "waits for background jobs: the commands run one after another here"
    if program == "skal":
        return "skal", "run in-process on a tiny budget"
    if program == "echo" and ".pth" in " ".join(argv):
        return "setup", "adds the main environment to the benchmark one (see docs/benchmarks_strategies.rst)"
    if program == "git" and argv[1:2] == ["archive"]:
        return "git", "the commit it archives exists"
    if program.endswith(".sh") and argv[0].startswith("tests/"):
        return "script-exists", "builds its own environment: checked to exist and be executable"
    if program == "pip":
        return "pip", "the package and extras it installs exist"
    if program.startswith("python"):
        if argv[1:3] == ["-m", "venv"]:
            return "setup", "creates the environment this test runs in"
        if argv[1:3] == ["-m", "pytest"]:
            return "setup", "the test suite this test is part of"
        if argv[1:3] == ["-m", "sphinx"]:
            return "sphinx", "builds the docs when sphinx is installed"
        if argv[1:2] == ["-c"]:
            return "python-c", "run from the repository root"
        if len(argv) > 1 and argv[1].endswith(".py"):
            if argv[1] == "tests/benchmarks/skal_at.py":
                return "skal_at", "runs skal from this tree on a tiny budget"
            if argv[1] in SCRIPTS:
                return "script", "run in-process on a tiny setting"
    return None


def run_command(cmd, ctx):
    kind = runner_for(cmd)
    assert kind is not None, f"no runner for `{cmd}`: add one to tests/test_doc_commands.py"
    kind = kind[0]
    argv = cmd.argv
    if kind == "shell" or kind == "setup":
        return
    if kind == "skal":
        return _run_skal(argv[1:], ctx)
    if kind == "git":
        if not (ROOT / ".git").exists():
            pytest.skip("not a git checkout")
        commit = argv[2]
        found = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=ROOT, capture_output=True)
        assert found.returncode == 0, f"`{cmd}`: commit {commit} is not in this repository"
        return
    if kind == "script-exists":
        path = ROOT / argv[0]
        assert path.is_file() and os.access(path, os.X_OK), f"{argv[0]} is missing or not executable"
        return
    if kind == "pip":
        return _check_pip(argv)
    if kind == "sphinx":
        pytest.importorskip("sphinx", reason="sphinx is not installed (pip install -e '.[docs]')")
        out = ctx.cwd / "_build"
        done = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", str(DOCS), str(out)],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
        return
    if kind == "python-c":
        done = subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        ctx.outputs.append(done.stdout)
        return
    if kind == "skal_at":
        # skal_at.py SOURCE_TREE run ...: the tree is this one (the archived
        # commit is checked by the `git archive` runner).
        assert argv[3:4] == ["run"], f"`{cmd}`: expected skal_at.py TREE run ..."
        tiny = tiny_skal_run(argv[4:], ctx)
        for i, token in enumerate(tiny[:-1]):
            if token in ("-o", "--output"):
                ctx.cwd.joinpath(tiny[i + 1]).parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([sys.executable, str(ROOT / argv[1]), str(ROOT), "run", *tiny], cwd=ctx.cwd,
                              capture_output=True, text=True, timeout=300,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        return
    # a script
    script, args = argv[1], argv[2:]
    ctx.expect_exit = None
    args = SCRIPTS[script](args, ctx)
    for before, token in zip(["", *args], args):  # folders the script reads, not those it writes
        if token.startswith("docs/results/") and before not in ("-o", "--output"):
            ctx.provide(token)
    status, out = _run_script(ROOT / script, args, ctx)
    if ctx.expect_exit:
        assert ctx.expect_exit in str(status), (
            f"`{cmd}`: expected it to stop with {ctx.expect_exit!r}, got {status!r}")
        return
    assert status == 0, f"`{cmd}` (run as {shlex.join([script, *args])}) exited with {status}:\n{out[-3000:]}"


def _run_skal(argv, ctx):
    from skal.cli import main

    if argv[:1] == ["run"] and not ({"-h", "--help"} & set(argv)):
        tiny = tiny_skal_run(argv[1:], ctx)
        status, out = _in_process(main, ["run", *tiny])
        assert status == 0, f"`skal {shlex.join(argv)}` (as `skal run {shlex.join(tiny)}`) failed:\n{out[-3000:]}"
        output = skal_run_settings(tiny)["output"]
        assert (ctx.cwd / output / "summary.txt").is_file(), out[-2000:]
        return
    if argv[:1] == ["report"]:
        for before, token in zip(argv, argv[1:]):
            if token.startswith("docs/results/") and before not in ("-o", "--output"):
                ctx.provide(token)
    status, out = _in_process(main, argv)
    assert status == 0, f"`skal {shlex.join(argv)}` failed:\n{out[-3000:]}"


def _check_pip(argv):
    import tomllib

    args = argv[argv.index("install") + 1:]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    editable = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "-e"]
    for target in editable:
        match = re.fullmatch(r"\.(?:\[([\w,-]+)\])?", target)
        assert match, f"pip install -e {target}: expected the project root"
        extras = (match.group(1) or "").split(",")
        missing = [e for e in extras if e and e not in project.get("optional-dependencies", {})]
        assert not missing, f"pip install -e {target}: pyproject.toml has no extra {missing}"
    if not editable:
        # The benchmark environment's peers: installed by hand, from the index.
        assert any(a.startswith(".venv-") for a in argv[:1]), f"`{shlex.join(argv)}` installs into the main venv"


# ---------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------

#: Blocks that take more than ~30 s even on a tiny budget (too many
#: strategies or fits): run with SKAL_RUN_SLOW=1. Keys: a piece of the block.
SLOW = {
    "tests/benchmarks/bench_dpe.py": "a benchmark: full epochs on digits and a 20,000-row table "
    "(25 s on 2 idle cores, a minute on busy ones)",
    "tests/benchmarks/bench_out_of_core.py": "a benchmark: each measurement is a fresh process that fits a "
    "DPE of the default length (minutes)",
    "tests/benchmarks/bench_batch_aware.py": "a benchmark: a fresh process per measurement "
    "(20 s on 2 idle cores, over a minute on busy ones)",
    "tests/benchmarks/skal_at.py": "runs skal in a fresh process beside a campaign (15 s to a minute)",
    "mnist_gal2017_reduced_learned.toml": "seven strategies, five of them training a model of their own "
    "(13 s on 2 idle cores, 45 s on busy ones)",
}


def _cases():
    blocks = list(shell_blocks()) + list(inline_commands())
    cases = []
    for block in blocks:
        marks = [pytest.mark.slow(reason=r) for piece, r in SLOW.items() if piece in block.text]
        cases.append(pytest.param(block, id=block.id, marks=marks))
    return cases


def _all_commands():
    for block in list(shell_blocks()) + list(inline_commands()):
        for cmd in parse_commands(block.text):
            yield block, cmd


def test_the_pages_show_commands_and_code():
    # The extraction itself: a page format change must not silently empty it.
    ids = {b.id.split(":")[0] for b in shell_blocks()}
    assert {"README.md", "cli.rst", "examples.rst", "reproduction_mnist.rst"} <= ids
    assert len(list(python_blocks())) >= 10
    assert any(b.page == "README.md" for b in python_blocks())
    commands = [str(c) for _, c in _all_commands()]
    assert "skal run" in commands
    assert any(c.startswith("skal report") for c in commands)
    assert any(c.startswith("python examples/") for c in commands)


def test_every_command_has_a_runner():
    missing = [f"{block.id}: {cmd}" for block, cmd in _all_commands() if runner_for(cmd) is None]
    assert not missing, "commands in the docs that no test runs:\n" + "\n".join(missing)


def test_inline_options_exist():
    # ``skal run --config`` in prose names an option: it must be one.
    from skal.cli import _parser

    sub = _parser()._subparsers._group_actions[0].choices
    for block in inline_mentions():
        words = shlex.split(block.text)
        if words[0] != "skal" or _parses(block.text):
            continue
        known = {s for action in sub[words[1]]._actions for s in action.option_strings}
        unknown = [w for w in words[2:] if w.startswith("-") and w.split("=")[0] not in known]
        assert not unknown, f"{block.id}: `{block.text}` names options skal {words[1]} lacks: {unknown}"


def test_every_shell_block_holds_commands():
    # A bash block of prose or output would be skipped unnoticed; a literal
    # block that starts with a program must be all commands.
    for block in shell_blocks():
        commands = parse_commands(block.text)
        assert commands, f"{block.id}: a shell block without a command"


def test_the_parser_handles_the_shell_the_docs_use():
    cmds = parse_commands('A="run --seeds 0"\nnice -n 10 skal $A -o x &  # note\nwait\n'
                          'PYTHONPATH=. py t.py --a 1 \\\n    --b 2 && echo "a b" > f.pth\n'
                          "git archive abc | (mkdir -p d && tar -x -C d)")
    assert [c.argv for c in cmds] == [["skal", "run", "--seeds", "0", "-o", "x"], ["wait"],
                                      ["py", "t.py", "--a", "1", "--b", "2"], ["echo", "a b", ">", "f.pth"],
                                      ["git", "archive", "abc"]]
    assert cmds[2].env == {"PYTHONPATH": "."}
    assert cmds[4].pipeline == [["(", "mkdir", "-p", "d", "&&", "tar", "-x", "-C", "d", ")"]]


_LOADED = {}


def _cached_loader(load):
    """``load_dataset`` that reads each data set once per test session (MNIST takes seconds)."""

    def load_dataset(name, data_root=None, **kwargs):
        key = (name, str(data_root), repr(sorted(kwargs.items())))
        if key not in _LOADED:
            _LOADED[key] = load(name, data_root, **kwargs)
        return _LOADED[key]

    return load_dataset


@pytest.fixture
def tiny_training(monkeypatch):
    """Fits of the estimators' default length take 2 epochs; data sets are read once."""
    import skal.datasets
    from skal.models import _base

    monkeypatch.setitem(_base.TRAINING_DEFAULTS, "max_epochs", 2)
    monkeypatch.setitem(_base.TRAINING_DEFAULTS, "min_steps", 2)
    monkeypatch.setattr(skal.datasets, "load_dataset", _cached_loader(skal.datasets.load_dataset))


def _script_commands():
    scripts = {}
    for block, cmd in _all_commands():
        kind = runner_for(cmd)
        if kind and kind[0] in ("script", "skal_at"):
            scripts.setdefault(cmd.argv[1], []).append((block, cmd))
    return scripts


@pytest.mark.parametrize("script", sorted(_script_commands()), ids=str)
def test_documented_script_options_exist(script, monkeypatch):
    """Every option the docs give a script is one its --help lists (fast; the runs may be slow-marked)."""
    if not any(re.match(r"^-{1,2}[a-zA-Z]", t) for _, cmd in _script_commands()[script] for t in cmd.argv[2:]):
        return  # the docs give it no option (its arguments are run by test_documented_commands_run)
    if script == "tests/benchmarks/skal_at.py":
        from skal.cli import _parser

        sub = _parser()._subparsers._group_actions[0].choices["run"]
        known = {s for action in sub._actions for s in action.option_strings}
    else:
        monkeypatch.chdir(ROOT)
        ctx = Context(ROOT, monkeypatch)
        status, out = _run_script(ROOT / script, ["--help"], ctx)
        assert status == 0, out
        known = set(re.findall(r"(?<![\w-])(-{1,2}[a-zA-Z][\w-]*)", out))
    for block, cmd in _script_commands()[script]:
        given = {t.split("=")[0] for t in cmd.argv[2:] if re.match(r"^-{1,2}[a-zA-Z]", t)}
        assert given <= known, f"{block.id}: `{cmd}` gives options {script} lacks: {sorted(given - known)}"


@pytest.mark.parametrize("block", _cases())
def test_documented_commands_run(block, tmp_path, monkeypatch, tiny_training):
    """Every command of the block, in order, from one scratch folder, on a tiny budget."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    ctx = Context(tmp_path, monkeypatch)
    if ctx.mnist is not None:
        monkeypatch.setenv("SKAL_DATA_ROOT", str(ctx.mnist))
    commands, missing = parse_commands(block.text), []
    for cmd in commands:
        try:
            run_command(cmd, ctx)
        except _NoData as exc:  # later commands may still run (a report reads committed records)
            missing.append(f"`{cmd}`: {exc}")
    if missing:
        pytest.skip("; ".join(missing))
    page = (ROOT / block.page if block.page == "README.md" else DOCS / block.page).read_text(encoding="utf-8")
    for printed in ctx.outputs:  # a `python -c` whose numbers the prose cites
        for number in re.findall(r"\d{4,}", printed):
            assert f"{int(number):,}" in page or number in page, (
                f"{block.id} prints {number}, which the page does not state"
            )


# ---------------------------------------------------------------------------
# Python blocks
# ---------------------------------------------------------------------------


def _digits(n=None):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    return (X, y) if n is None else (X[:n], y[:n])


def _tabular():
    X, y = _digits(300)
    return {"X": X, "y": y, "X_train": X[:200], "y_train": y[:200], "X0": X[:30], "y0": y[:30],
            "X_pool": X[200:260], "y_pool": y[200:260], "X_test": X[260:], "y_test": y[260:]}


def _images():
    rng = np.random.default_rng(0)
    X = rng.random((60, 1, 28, 28), dtype=np.float32)
    y = np.tile(np.arange(10), 6)
    return {"X0": X[:20], "y0": y[:20], "X_pool": X[20:], "X_unlabeled": X[20:]}


def _label_maps():
    rng = np.random.default_rng(0)
    X = rng.random((30, 1, 16, 16), dtype=np.float32)
    maps = rng.integers(0, 11, (30, 16, 16))
    return {"X_images": X[:12], "y_maps": maps[:12], "X_pool": X[12:24], "X_test": X[24:],
            "y_test_maps": maps[24:]}


def _dpe_fitted():
    from skal.models import DeepProbabilisticEnsemble

    data = _tabular()
    data["dpe"] = DeepProbabilisticEnsemble(n_estimators=2, random_state=0).fit(data["X0"], data["y0"])
    return data


def _tiny_run_experiment(run):
    def run_experiment(*args, **kwargs):
        n_initial = kwargs.get("n_initial", 20)
        kwargs.update(budget=n_initial + kwargs.get("batch_size", 10), seeds=list(kwargs.get("seeds", [0]))[:1],
                      n_jobs=1, progress=False)
        return run(*args, **kwargs)

    return run_experiment


def _harness():
    from skal.experiments import run_experiment

    X, y = _digits(300)
    return {"X": X, "y": y, "run_experiment": _tiny_run_experiment(run_experiment)}


#: What each page's Python blocks assume is defined (the prose says what
#: they are); a page with Python blocks that is missing here fails.
NAMESPACES = {
    "README.md": dict,
    "index.rst": _tabular,
    "labeling.rst": dict,
    "dpe.rst": _tabular,
    "harness.rst": _harness,
    "modal.rst": _dpe_fitted,
    "segmentation.rst": _label_maps,
    "strategies.rst": _images,
    "tabular_images.rst": lambda: {k: v[:90] for k, v in _tabular().items()},  # GridSearchCV: 7 fits
}


def _checks(page, index, ns):
    """Calls that exercise what a block only defines."""
    if page == "strategies.rst" and "spread_sampling" in ns and index == 0:
        from skal.models import DeepProbabilisticEnsemble

        data = _tabular()
        clf = DeepProbabilisticEnsemble(n_estimators=2, random_state=0).fit(data["X0"], data["y0"])
        idx, scores = ns["spread_sampling"](clf, data["X_pool"], 3)
        assert len(idx) == 3 and len(scores) == 3
    if page == "modal.rst" and "widest_vote" in ns:
        idx, scores = ns["widest_vote"](ns["dpe"], ns["X_pool"], n_instances=3)
        assert len(idx) == 3


def _side_by_side(text):
    """The two columns of a "before / after" block of imports, or None when it is plain code."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    split = [re.match(r"^(from \S+ import .+?)\s+(from \S+ import .+)$", line) for line in lines]
    if lines and all(split):
        return "\n".join(m.group(1) for m in split), "\n".join(m.group(2) for m in split)
    return None


def _page_blocks():
    pages = {}
    for block in python_blocks():
        pages.setdefault(block.page, []).append(block)
    return pages


def test_every_page_with_python_blocks_has_a_namespace():
    assert set(_page_blocks()) <= set(NAMESPACES), (
        "pages whose Python blocks no test runs: " + ", ".join(sorted(set(_page_blocks()) - set(NAMESPACES)))
    )


#: Pages whose blocks take more than ~30 s even on tiny data.
SLOW_PAGES = {}


def test_python_blocks_compile():
    # Every block is valid Python (or a side-by-side table of imports), slow pages too.
    for block in python_blocks():
        for source in _side_by_side(block.text) or (block.text,):
            compile(source, block.id, "exec")


@pytest.mark.parametrize("page", [
    pytest.param(page, marks=[pytest.mark.slow(reason=SLOW_PAGES[page])] if page in SLOW_PAGES else [])
    for page in sorted(_page_blocks())
], ids=str)
def test_python_blocks_run(page, tmp_path, monkeypatch, tiny_training):
    """The page's Python blocks, in order, in one namespace, as a reader would run them."""
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    import skal.experiments

    monkeypatch.setattr(skal.experiments, "run_experiment", _tiny_run_experiment(skal.experiments.run_experiment))
    ns = {"__name__": "__doc_block__", **NAMESPACES[page]()}
    skipped = []
    for index, block in enumerate(_page_blocks()[page]):
        columns = _side_by_side(block.text)
        sources = columns if columns else (block.text,)
        for source in sources:
            needs = {m for m in re.findall(r"^\s*(?:from|import) (\w+)", source, re.M)}
            missing = [m for m in needs if m not in sys.modules and _not_installed(m)]
            if missing:
                skipped.append(f"{block.id} needs {', '.join(missing)}")
                continue
            try:
                exec(compile(source, block.id, "exec"), ns)
            except Exception as exc:
                raise AssertionError(f"{block.id} failed: {exc!r}\n{source}") from exc
        _checks(page, index, ns)
    if skipped:
        # modAL lives in its own environment (tests/modal_interop/run.sh).
        print("not run here: " + "; ".join(skipped))


def _not_installed(module):
    import importlib.util

    return importlib.util.find_spec(module) is None


@pytest.mark.slow(reason="the README's example as written: two fits of 8 MLPs of 1,000 steps each "
                  "(7 s on 2 idle cores, 30 s on busy ones)")
def test_readme_example_as_written():
    block = next(b for b in python_blocks() if b.page == "README.md")
    ns = {"__name__": "__doc_block__"}
    exec(compile(block.text, block.id, "exec"), ns)
    learner, X, y = ns["learner"], ns["X"], ns["y"]
    assert len(learner.y_training) == 30
    assert learner.score(X[200:], y[200:]) > 0.5
