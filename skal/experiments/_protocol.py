"""What a learner offers the harness: a few methods it must have, three it may.

:func:`~skal.experiments.simulate_campaign` drives any learner through the
methods of :class:`HarnessLearner`. A learner may also declare what the
harness should know about it (how to resume it, what to record besides the
batch); the harness reads those declarations through
:func:`learner_capabilities`, in one place, so that a learner without them
(a modAL learner, a Committee) simply has none.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable

__all__ = ["HarnessLearner", "LearnerCapabilities", "learner_capabilities"]


@runtime_checkable
class HarnessLearner(Protocol):
    """The learner a labeling campaign drives (modAL's API).

    Required: ``teach(X, y)``, ``query(X_pool, return_metrics=True,
    n_instances=..., **options) -> (positions, X_query, scores)`` and
    ``predict_proba(X)``. :class:`skal.ActiveLearner`,
    :class:`skal.Committee` and the learners of :mod:`skal.learners` have
    them.

    Optional capabilities, read through :func:`learner_capabilities` (a
    learner that lacks one behaves as its default):

    ``history_dependent`` : bool, default False
        What ``teach`` trains on depends on earlier rounds, not only on the
        labeled set and the model's ``random_state`` (generated twins,
        pseudo-labels): a resumed run replays every recorded round's
        ``teach`` instead of teaching the labeled set at once.
    ``replays_queries`` : bool, default False
        What ``teach`` trains on depends on the pools earlier queries saw
        (CEAL's pseudo-labels): a resumed run replays each recorded round as
        its query, then its ``teach``.
    ``describe_round(y_pool=None) -> dict``
        What the learner did in the round besides the batch, given the true
        labels of the candidates the round's query saw (``None`` in round
        0); stored in the round's record as ``learner``.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skal.experiments import HarnessLearner
    >>> from skal.learners import ActiveLearner
    >>> isinstance(ActiveLearner(LogisticRegression()), HarnessLearner)
    True
    """

    def teach(self, X, y, **kwargs: Any) -> Any: ...

    def query(self, X_pool, *args: Any, **kwargs: Any) -> Any: ...

    def predict_proba(self, X, **kwargs: Any) -> Any: ...


@dataclasses.dataclass(frozen=True)
class LearnerCapabilities:
    """The optional capabilities of a :class:`HarnessLearner`, with their defaults.

    Parameters
    ----------
    history_dependent : bool, default=False
        Resume by replaying every recorded round's ``teach``.
    replays_queries : bool, default=False
        Resume by replaying every recorded round's query, then ``teach``.
    describes_rounds : bool, default=False
        The learner has ``describe_round(y_pool=None)``, whose dict each
        round's record stores as ``learner``.
    """

    history_dependent: bool = False
    replays_queries: bool = False
    describes_rounds: bool = False


def learner_capabilities(learner):
    """Read what ``learner`` declares to the harness (see :class:`HarnessLearner`).

    The one place the harness looks for optional capabilities: an attribute
    a learner lacks is its default (False, or no ``describe_round``).

    Parameters
    ----------
    learner : HarnessLearner

    Returns
    -------
    capabilities : LearnerCapabilities

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skal.experiments import learner_capabilities
    >>> from skal.learners import ActiveLearner
    >>> learner_capabilities(ActiveLearner(LogisticRegression()))
    LearnerCapabilities(history_dependent=False, replays_queries=False, describes_rounds=False)
    """
    return LearnerCapabilities(
        history_dependent=bool(getattr(learner, "history_dependent", False)),
        replays_queries=bool(getattr(learner, "replays_queries", False)),
        describes_rounds=hasattr(learner, "describe_round"),
    )
