"""Append-only JSONL logs, one per (strategy, seed) run, that survive interruption.

Each file starts with a header line describing the run's settings, then one
line per finished round. A line is written in one ``write`` and flushed to
disk before the next round starts, so a run killed at any moment leaves at
most one incomplete trailing line; :meth:`RunLog.load` drops it. Everything
needed to continue (the labeled indices, the round number) is in the rounds
themselves, and the random state of round ``r`` is derived from
``(seed, r)`` alone, so a resumed run picks up exactly where it stopped.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

__all__ = ["RunLog", "read_run_file", "run_filename"]

# Fields that differ between an interrupted-and-resumed run and an
# uninterrupted one only through the machine's speed.
TIMING_FIELDS = ("train_seconds", "query_seconds")


def run_filename(strategy, seed):
    """File name of the log of one run; the strategy name is made path-safe."""
    safe = re.sub(r"[^A-Za-z0-9_.+-]+", "-", str(strategy)).strip("-") or "strategy"
    return f"{safe}__seed{int(seed)}.jsonl"


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_run_file(path):
    """Read a run log: ``(header, rounds)``, ignoring a truncated last line.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    header : dict or None
    rounds : list of dict
    """
    header, rounds = None, []
    path = Path(path)
    if not path.exists():
        return header, rounds
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            # Only the last line can be cut short by a kill; anything else
            # is damage we must not paper over.
            if i >= len(lines) - 2:
                break
            raise ValueError(f"{path}, line {i + 1}: not valid JSON; the log is corrupt.") from None
        if record.get("kind") == "header":
            header = record
        else:
            rounds.append(record)
    return header, rounds


class RunLog:
    """The log of one (strategy, seed) run in ``folder``.

    Parameters
    ----------
    folder : path-like
        Folder holding the run files.
    strategy : str
        Display name of the strategy.
    seed : int
    settings : dict
        Settings that must match for a resumed run to continue this one
        (batch size, budget, data sizes, ...); stored in the header.
    """

    def __init__(self, folder, strategy, seed, settings):
        self.folder = Path(folder)
        self.strategy = strategy
        self.seed = seed
        self.settings = _jsonable(settings)
        self.path = self.folder / run_filename(strategy, seed)

    def load(self, resume=True):
        """Return the finished rounds to resume from (empty for a fresh run).

        With ``resume=False`` an existing log is discarded. A log written
        with other settings raises a ValueError naming the settings that
        differ, rather than mixing two experiments in one curve.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        if not resume or not self.path.exists():
            self._rewrite([])
            return []
        header, rounds = read_run_file(self.path)
        if header is None:
            self._rewrite([])
            return []
        old = header.get("settings", {})
        differ = sorted(k for k in set(old) | set(self.settings) if old.get(k) != self.settings.get(k))
        if differ:
            details = "; ".join(f"{k}: {old.get(k)!r} -> {self.settings.get(k)!r}" for k in differ)
            raise ValueError(
                f"{self.path} was written by a run with other settings ({details}). "
                "Use another output folder, or resume=False (CLI: --no-resume) to start over."
            )
        # Rewriting drops a truncated trailing line so appends start clean.
        self._rewrite(rounds)
        return rounds

    def _header(self):
        return {
            "kind": "header",
            "strategy": self.strategy,
            "seed": int(self.seed),
            "settings": self.settings,
        }

    def _rewrite(self, rounds):
        tmp = self.path.with_suffix(".jsonl.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(record, sort_keys=True) + "\n" for record in [self._header(), *rounds])
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def append(self, record):
        """Append one round; on return it is on disk."""
        line = json.dumps(_jsonable(record), sort_keys=True) + "\n"
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
