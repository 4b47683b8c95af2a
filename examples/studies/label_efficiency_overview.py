"""The one-table answer of ``docs/label_efficiency.rst``: AUBC over random, per campaign.

Reads the finished campaign folders of ``compare_strategies.py`` and writes
an RST table (``docs/results/label_efficiency_overview.rst``): for each
campaign, random's AUBC, ``auto``'s (the default strategy) and the best
strategy's, each as a difference to random, and the strategies more than
0.02 below random::

    python examples/studies/label_efficiency_overview.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

from skal.experiments import ExperimentResults, load_results

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"
#: A campaign's folders; runs in several of them (random and BALD beside the
#: learned family) are the same runs, read once.
CAMPAIGNS = {
    "digits, DPE, b = 10": ["strategies_digits_b10", "strategies_digits_b10_learned"],
    "digits, DPE, b = 50": ["strategies_digits_b50"],
    "MNIST (reduced), MC dropout, b = 10": ["strategies_mnist_mc_dropout"],
    "MNIST (reduced), DPE of MLPs, b = 10": ["strategies_mnist_dpe"],
    "MNIST (reduced), MC dropout, b = 50": ["strategies_mnist_mc_dropout_b50"],
    "MNIST (reduced), DPE of MLPs, b = 50": ["strategies_mnist_dpe_b50"],
    "MNIST (reduced to 100 labels), MC dropout, learned family": ["mnist_gal2017_reduced_learned"],
}


def _rows(folders):
    """Summary rows by strategy of the runs in ``folders`` (each run once)."""
    records, seen = [], set()
    for folder in folders:
        for record in load_results(RESULTS / folder).records:
            run = (record["strategy"], record["seed"], record["round"])
            if run not in seen:
                seen.add(run)
                records.append(record)
    return {r["strategy"]: r for r in ExperimentResults(records).summary()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=str(RESULTS / "label_efficiency_overview.rst"))
    args = parser.parse_args(argv)
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - campaign",
        "     - random",
        "     - auto (default)",
        "     - best strategy",
        "     - more than 0.02 below random",
    ]
    for title, folders in CAMPAIGNS.items():
        folders = [f for f in folders if (RESULTS / f / "summary.txt").exists()]
        if not folders:
            continue
        rows = _rows(folders)
        base = rows["random"]["aubc"]
        best = max(rows.values(), key=lambda r: r["aubc"])
        below = sorted(name for name, r in rows.items() if r["aubc"] < base - 0.02)
        lines += [
            f"   * - {title}",
            f"     - {base:.4f}",
            f"     - {rows['auto']['aubc'] - base:+.4f}" if "auto" in rows else "     - (not run)",
            f"     - {best['strategy']} {best['aubc'] - base:+.4f}",
            f"     - {', '.join(below) if below else 'none'}",
        ]
    text = "\n".join(lines) + "\n"
    Path(args.output).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
