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

from skal.experiments import load_results

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"
CAMPAIGNS = {
    "digits, DPE, b = 10": "strategies_digits_b10",
    "digits, DPE, b = 50": "strategies_digits_b50",
    "MNIST (reduced), MC dropout, b = 10": "strategies_mnist_mc_dropout",
    "MNIST (reduced), DPE of MLPs, b = 10": "strategies_mnist_dpe",
}


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
    for title, folder in CAMPAIGNS.items():
        if not (RESULTS / folder / "summary.txt").exists():
            continue
        rows = {r["strategy"]: r for r in load_results(RESULTS / folder).summary()}
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
