"""Labeling sessions: active learning for human annotators, persistent and crash-safe.

:class:`LabelingSession` keeps a campaign in one SQLite file: ``ask(n)``
the next batch, ``tell(ids, labels)`` the answers, ``status()``,
``labeled()``; ``LabelingSession.open(path)`` resumes it exactly. See
``docs/labeling.rst``.
"""

from ._db import IncompatibleDatabaseError
from ._session import Batch, Disagreement, LabelingSession, SessionStatus

__all__ = ["Batch", "Disagreement", "IncompatibleDatabaseError", "LabelingSession", "SessionStatus"]
