"""Append-only JSONL logs, one per (strategy, seed) run, that survive interruption.

Each file starts with a header line describing the run's settings, then one
line per finished round. A line is written in one ``write`` and flushed to
disk before the next round starts, so a run killed at any moment leaves at
most one incomplete trailing line; :meth:`RunLog.load` drops it. Everything
needed to continue (the labeled indices, the round number) is in the rounds
themselves, and the random state of round ``r`` is derived from
``(seed, r)`` alone, so a resumed run picks up exactly where it stopped.

One run at a time may write an output folder: :class:`OutputFolderLock`
refuses a second one, since two processes appending to one log would
interleave their rounds.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from pathlib import Path

import numpy as np

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None

__all__ = ["FolderInUseError", "OutputFolderLock", "RunLog", "read_run_file", "run_filename"]

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


def _damaged(path, line, what):
    """The error of a run log that cannot be read, with the ways out."""
    return ValueError(
        f"{path}, line {line}: {what}. Delete {path} to redo that run (the other runs of the "
        "folder resume), or start the whole experiment over with resume=False (skal run --no-resume)."
    )


def read_run_file(path):
    """Read a run log: ``(header, rounds)``, ignoring a truncated last line.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    header : dict or None
    rounds : list of dict

    Raises
    ------
    ValueError
        For a damaged log: a line that is not JSON (other than the last), or
        rounds out of sequence, which is what two runs writing one folder at
        once leave behind. The message names the file and how to recover.
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
            raise _damaged(path, i + 1, "not valid JSON, the log is corrupt") from None
        if record.get("kind") == "header":
            header = record
            continue
        # A run appends rounds 0, 1, 2, ... and resumes at round len(rounds);
        # anything else (say round 3 twice) is two writers' records mixed.
        if record.get("round") != len(rounds):
            raise _damaged(
                path, i + 1,
                f"round {record.get('round')} where round {len(rounds)} should come, so the log mixes "
                "the records of two runs (did two processes write this output folder at once?)",
            )
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


class FolderInUseError(RuntimeError):
    """Another run is writing the output folder (see :class:`OutputFolderLock`)."""


# Locks this process holds, by folder: {real path: [fd, (pid, thread id), depth]}.
_HELD = {}
_HELD_GUARD = threading.Lock()


class OutputFolderLock:
    """Exclusive use of an experiment's output folder by one run at a time.

    Two runs writing one folder append to the same logs and interleave
    their rounds, leaving logs that can be neither read nor resumed; the
    second run is therefore refused at once with a :class:`FolderInUseError`
    naming the process that holds the folder.

    The lock is ``fcntl.flock`` on ``folder/.lock``, a file that holds the
    owner's pid and host (for the message only). The operating system
    drops a flock when the process that took it ends, however it ends
    (SIGKILL included): the lock of a killed run is stale the moment it
    dies and the next run takes it over, with no pid to probe and no race.
    The lock is re-entrant in the thread that holds it (``skal run`` locks
    the folder before writing its config, then :func:`run_experiment`
    locks it again). Where ``fcntl`` does not exist (Windows) the folder is
    not locked.

    Parameters
    ----------
    folder : path-like
        The output folder; created if missing.

    Examples
    --------
    >>> import tempfile
    >>> from skal.experiments._records import OutputFolderLock
    >>> folder = tempfile.mkdtemp()
    >>> with OutputFolderLock(folder):
    ...     with OutputFolderLock(folder):  # the same thread: re-entrant
    ...         pass
    """

    name = ".lock"

    def __init__(self, folder):
        self.folder = Path(folder)
        self.path = self.folder / self.name

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc_info):
        self.release()

    def acquire(self):
        """Take the lock, or raise :class:`FolderInUseError` when another run holds it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            return
        me = (os.getpid(), threading.get_ident())
        # One entry per folder, however it is spelled (relative, symlinked).
        self._key = os.path.realpath(self.folder)
        with _HELD_GUARD:
            held = _HELD.get(self._key)
            if held is not None and held[1][0] == os.getpid():
                if held[1] != me:
                    raise FolderInUseError(self._message({"pid": os.getpid(), "host": socket.gethostname()},
                                                         "another thread of this process"))
                held[2] += 1
                return
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = self._owner(fd)
                os.close(fd)
                raise FolderInUseError(self._message(owner)) from None
            except BaseException:
                os.close(fd)
                raise
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode(), 0)
            _HELD[self._key] = [fd, me, 1]

    def release(self):
        """Give the lock back (the outermost release of a re-entrant lock does)."""
        if fcntl is None or not hasattr(self, "_key"):
            return
        with _HELD_GUARD:
            held = _HELD.get(self._key)
            if held is None or held[1][0] != os.getpid():
                return
            held[2] -= 1
            if held[2] > 0:
                return
            del _HELD[self._key]
            fd = held[0]
            # The file stays: removing it would let a run that opened the old
            # file and a run that creates a new one both hold "the" lock.
            try:
                os.ftruncate(fd, 0)
            finally:
                os.close(fd)  # drops the flock

    @staticmethod
    def _owner(fd):
        try:
            owner = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        except (OSError, ValueError):
            owner = {}
        return owner if isinstance(owner, dict) else {}

    def _message(self, owner, who="another run"):
        pid, host = owner.get("pid"), owner.get("host")
        if pid is None:
            holder = who
        else:
            holder = f"{who} (pid {pid}{'' if host in (None, socket.gethostname()) else f' on {host}'})"
            if host in (None, socket.gethostname()) and not _alive(pid):
                # a flock outlives its taker only in a child that inherited it
                holder += ", which has ended, but a process it started still holds the lock: end that one"
        return (
            f"output folder {self.folder} is in use by {holder}; two runs writing one folder would mix "
            "their records. Wait for that run to finish, or write to another folder "
            f"(skal run --output DIR, run_experiment(output_dir=...)). Lock file: {self.path}."
        )


def _alive(pid):
    """Whether a process of this host has that pid (a process of another user counts)."""
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return True
    if pid <= 0:  # kill(0) or kill(-1) would probe process groups, not a pid
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True
