"""Learning curves, the summary table and the plot of an experiment's records."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ._metrics import aubc, final_accuracy, labels_to_target

__all__ = ["ExperimentResults"]


class ExperimentResults:
    """Round records of an experiment and what is computed from them.

    Parameters
    ----------
    records : list of dict
        Round records as written by :func:`~skal.experiments.simulate_campaign`
        (keys ``strategy``, ``seed``, ``round``, ``n_labels``, ``accuracy``,
        ``nll``, ``queried``, ``train_seconds``, ``query_seconds``).

    Examples
    --------
    >>> from skal.experiments import ExperimentResults
    >>> recs = [dict(strategy="s", seed=0, round=r, n_labels=10 * (r + 1),
    ...              accuracy=a, nll=1.0, queried=[], train_seconds=0.1,
    ...              query_seconds=0.0) for r, a in enumerate([0.5, 0.7, 0.9])]
    >>> row = ExperimentResults(recs).summary(targets=(0.8,))[0]
    >>> round(row["aubc"], 3), row["f_acc"], row["labels_to_target"][0.8]
    (0.7, 0.9, 30.0)
    """

    def __init__(self, records):
        self.records = list(records)

    @property
    def strategies(self):
        """Strategy names in the order they first appear."""
        return list(dict.fromkeys(r["strategy"] for r in self.records))

    def runs(self):
        """``{(strategy, seed): records sorted by round}``."""
        runs = defaultdict(list)
        for r in self.records:
            runs[(r["strategy"], r["seed"])].append(r)
        return {k: sorted(v, key=lambda r: r["round"]) for k, v in runs.items()}

    def to_frame(self):
        """The records as a pandas DataFrame, one row per round (needs pandas).

        Returns
        -------
        frame : pandas.DataFrame
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_frame needs pandas: pip install pandas") from None
        return pd.DataFrame.from_records(self.records)

    @property
    def metric(self):
        """What the summary and the plot rank by default: ``"miou"`` for segmentation runs.

        The mean IoU when every record holds one (a campaign on label
        maps), else the accuracy.
        """
        if self.records and all("miou" in r for r in self.records):
            return "miou"
        return "accuracy"

    def curves(self, metric="accuracy"):
        """Learning curves per strategy, aligned on label counts.

        Parameters
        ----------
        metric : {"accuracy", "nll", "miou"}, default="accuracy"

        Returns
        -------
        curves : dict
            ``{strategy: (n_labels, values)}`` with ``n_labels`` of shape
            ``(R,)`` and ``values`` of shape ``(n_seeds, R)``; NaN where a
            seed has no point at that label count (an unfinished run).
        """
        out = {}
        runs = self.runs()
        for strategy in self.strategies:
            seeds = sorted(s for (st, s) in runs if st == strategy)
            grid = sorted({r["n_labels"] for s in seeds for r in runs[(strategy, s)]})
            pos = {n: i for i, n in enumerate(grid)}
            values = np.full((len(seeds), len(grid)), np.nan)
            for i, s in enumerate(seeds):
                for r in runs[(strategy, s)]:
                    values[i, pos[r["n_labels"]]] = r[metric]
            out[strategy] = (np.asarray(grid), values)
        return out

    def summary(self, targets=(0.9, 0.95), metric=None):
        """One row per strategy: AUBC, F-acc, labels-to-target, NLL and time.

        Parameters
        ----------
        targets : sequence of float, default=(0.9, 0.95)
            Accuracies for the labels-to-target columns.
        metric : {"accuracy", "miou"}, default=None
            The curve that AUBC, F-acc and the targets read; None is
            :attr:`metric` (the mean IoU of segmentation runs).

        Returns
        -------
        rows : list of dict
            Keys ``strategy``, ``n_seeds``, ``aubc``/``aubc_std``,
            ``f_acc``/``f_acc_std``, ``final_nll``, ``labels_to_target``
            (``{target: mean labels over the seeds that reach it, or None}``),
            ``reached`` (``{target: seeds that reach it}``), ``train_seconds``
            and ``query_seconds`` (mean total per run).
        """
        metric = self.metric if metric is None else metric
        rows = []
        runs = self.runs()
        for strategy in self.strategies:
            per_seed = [v for (st, _), v in runs.items() if st == strategy]
            aubcs, faccs, nlls, train, query = [], [], [], [], []
            hits = {t: [] for t in targets}
            for recs in per_seed:
                n = [r["n_labels"] for r in recs]
                acc = [r[metric] for r in recs]
                aubcs.append(aubc(n, acc))
                faccs.append(final_accuracy(n, acc))
                nlls.append(recs[-1]["nll"])
                train.append(sum(r["train_seconds"] for r in recs))
                query.append(sum(r["query_seconds"] for r in recs))
                for t in targets:
                    hits[t].append(labels_to_target(n, acc, t))
            rows.append(
                {
                    "strategy": strategy,
                    "n_seeds": len(per_seed),
                    "aubc": float(np.mean(aubcs)),
                    "aubc_std": float(np.std(aubcs)),
                    "f_acc": float(np.mean(faccs)),
                    "f_acc_std": float(np.std(faccs)),
                    "final_nll": float(np.mean(nlls)),
                    "labels_to_target": {
                        t: (float(np.mean([h for h in hits[t] if h is not None]))
                            if any(h is not None for h in hits[t]) else None)
                        for t in targets
                    },
                    "reached": {t: sum(h is not None for h in hits[t]) for t in targets},
                    "max_labels": max(r["n_labels"] for recs in per_seed for r in recs),
                    "train_seconds": float(np.mean(train)),
                    "query_seconds": float(np.mean(query)),
                }
            )
        return rows

    def format_table(self, targets=(0.9, 0.95), metric=None):
        """The summary as an aligned text table (what ``skal run`` prints).

        AUBC and F-acc are mean±std over seeds, F-NLL the test NLL at the
        end of the budget, ``train s``/``query s`` the mean seconds per run
        spent fitting and querying. A labels-to-target cell is the mean over seeds; ``(k/n)`` follows it
        when only k of n seeds reached the target, and ``>B`` means no seed
        did within the budget B. With ``metric="miou"`` (segmentation runs,
        the default for them) AUBC and the targets read the mean IoU and
        F-acc is headed F-mIoU.
        """
        metric = self.metric if metric is None else metric
        rows = self.summary(targets, metric)
        final = "F-mIoU" if metric == "miou" else "F-acc"
        header = ["strategy", "seeds", "AUBC", final, "F-NLL"]
        header += [f"labels@{t:.0%}" for t in targets]
        header += ["train s", "query s"]
        table = [header]
        for row in rows:
            cells = [
                row["strategy"],
                str(row["n_seeds"]),
                f"{row['aubc']:.4f}±{row['aubc_std']:.4f}",
                f"{row['f_acc']:.4f}±{row['f_acc_std']:.4f}",
                f"{row['final_nll']:.3f}",
            ]
            for t in targets:
                value, k = row["labels_to_target"][t], row["reached"][t]
                if value is None:
                    cells.append(f">{row['max_labels']}")
                elif k < row["n_seeds"]:
                    cells.append(f"{value:.0f} ({k}/{row['n_seeds']})")
                else:
                    cells.append(f"{value:.0f}")
            cells += [f"{row['train_seconds']:.1f}", f"{row['query_seconds']:.1f}"]
            table.append(cells)
        return _text_table(table, left_columns=1)

    def learner_summary(self):
        """What the learners recorded per round, averaged over seeds.

        Learners that do more than rank the pool say so in every round's
        ``learner`` record (CEAL: ``delta``, ``n_pseudo``,
        ``n_pseudo_correct``; selection via proxy: ``rank_correlation``).

        Returns
        -------
        summary : dict
            ``{strategy: {n_labels: {field: mean over the seeds}}}`` over the
            numeric fields; strategies whose runs recorded none are left out.

        Examples
        --------
        >>> from skal.experiments import ExperimentResults
        >>> recs = [dict(strategy="ceal", seed=s, round=1, n_labels=30,
        ...              learner={"n_pseudo": 10 * (s + 1), "delta": 0.1})
        ...         for s in range(2)]
        >>> ExperimentResults(recs).learner_summary()
        {'ceal': {30: {'n_pseudo': 15.0, 'delta': 0.1}}}
        """
        out = {}
        for strategy in self.strategies:
            fields = defaultdict(lambda: defaultdict(list))
            for r in self.records:
                if r["strategy"] != strategy or not r.get("learner"):
                    continue
                for key, value in r["learner"].items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        fields[r["n_labels"]][key].append(value)
            if fields:
                out[strategy] = {n: {k: float(np.mean(v)) for k, v in f.items()}
                                 for n, f in sorted(fields.items())}
        return out

    def format_learner_table(self):
        """:meth:`learner_summary` as text tables, one per strategy ("" when none).

        Examples
        --------
        >>> from skal.experiments import ExperimentResults
        >>> recs = [dict(strategy="ceal", seed=0, round=1, n_labels=30,
        ...              learner={"n_pseudo": 98, "n_pseudo_correct": 96})]
        >>> print(ExperimentResults(recs).format_learner_table())
        ceal, mean over seeds per label count
        labels  n_pseudo  n_pseudo_correct
        ------  --------  ----------------
            30        98                96
        """
        blocks = []
        for strategy, per_n in self.learner_summary().items():
            keys = list(dict.fromkeys(k for f in per_n.values() for k in f))
            table = [["labels", *keys]]
            for n, f in per_n.items():
                table.append([str(n), *("" if k not in f else f"{f[k]:.4g}" for k in keys)])
            title = f"{strategy}, mean over seeds per label count"
            blocks.append(title + "\n" + _text_table(table, left_columns=0))
        return "\n\n".join(blocks)

    def plot(self, path=None, *, metric=None, title=None, ax=None):
        """Learning curves: mean ± std over seeds, one line per strategy.

        Drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas, so
        it works without a display and leaves pyplot's state alone.

        Parameters
        ----------
        path : path-like, default=None
            Where to save the figure (PNG, PDF, SVG... by extension).
        metric : {"accuracy", "nll", "miou"}, default=None
            None is :attr:`metric` (the mean IoU of segmentation runs).
        title : str, default=None
        ax : matplotlib Axes, default=None
            Draw into these axes instead of a new figure.

        Returns
        -------
        figure : matplotlib.figure.Figure
        """
        if ax is None:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure

            fig = Figure(figsize=(7, 4.5), layout="constrained")
            FigureCanvasAgg(fig)
            ax = fig.add_subplot()
        else:
            fig = ax.figure
        metric = self.metric if metric is None else metric
        for strategy, (n, values) in self.curves(metric).items():
            mean = np.nanmean(values, axis=0)
            std = np.nanstd(values, axis=0)
            seeds = f"{len(values)} seed{'s' if len(values) > 1 else ''}"
            (line,) = ax.plot(n, mean, marker="." if len(n) <= 30 else None, label=f"{strategy} ({seeds})")
            if len(values) > 1:
                ax.fill_between(n, mean - std, mean + std, color=line.get_color(), alpha=0.2)
        ax.set_xlabel("labeled images" if metric == "miou" else "number of labels")
        ax.set_ylabel({"accuracy": "test accuracy", "nll": "test NLL", "miou": "test mIoU"}[metric])
        ax.grid(alpha=0.3)
        ax.legend()
        if title:
            ax.set_title(title)
        if path is not None:
            fig.savefig(path, dpi=120)
        return fig


def _text_table(table, left_columns):
    """Rows of cells as aligned text: a header, a rule of dashes, the rows.

    The first ``left_columns`` columns are left-aligned (names), the others
    right-aligned (numbers); columns are two spaces apart.
    """
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]

    def line(row):
        return "  ".join(c.ljust(w) if i < left_columns else c.rjust(w)
                         for i, (c, w) in enumerate(zip(row, widths)))

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(table[0]), rule, *map(line, table[1:])])
