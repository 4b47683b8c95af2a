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
