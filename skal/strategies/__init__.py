"""Query strategies with modAL's contract, grouped by family.

Every strategy is a plain function::

    strategy(classifier, X_pool, n_instances=1, *, random_state=None, **options)
        -> (query_idx, scores)

``classifier`` may be a modAL or skal learner/committee, a Pipeline, a
scikit-learn ensemble or any classifier; predictive samples are read through
:func:`skal.models.predict_proba_samples`, chunk by chunk, so pools of any
size are scored in bounded memory. ``query_idx`` holds ``n_instances``
distinct pool positions, best first, and ``scores`` their acquisition
scores (modAL 0.4.2.1 unpacks exactly that pair).

Families (one module each): uncertainty sampling on the mean prediction
(``_uncertainty.py``: least confident, margin, entropy, and their power
variants); disagreement of the predictive samples (``_disagreement.py``:
vote entropy, consensus entropy, max disagreement, BALD, PowerBALD,
variation ratios, mean STD); batch-aware BatchBALD (``_batch_bald.py``);
diversity (``_diversity.py``: core-set, TypiClust); hybrids of uncertainty
and diversity (``_hybrid.py``: BADGE, cluster-margin, suggestive
annotation, information density, CAL); expected model change
(``_model_change.py``: EGL, EMOC); budget-aware ``auto``, typical points
then uncertain and diverse ones (``_adaptive.py``); strategies that train
a model of their own: learning loss (``_learning_loss.py``), label
dispersion from the record of training (``_dynamics.py``), and the
labeled-vs-unlabeled discriminators DAL, VAAL and MAL
(``_discriminative.py``), with what they share in ``_auxiliary.py``; random
sampling (``_random.py``). The
building blocks of a strategy of your own are public:
:func:`query_by_measure`, :func:`score_pool`, :func:`top_n` and
:func:`power_sample`.

Every strategy wraps its pool once, at its boundary, in a pool object
(``_pool.py``) that executes the strategy's per-row work (``_rows.py``)
and its reduction (``_ranking.py``, ``_geometry.py``) where the rows live:
chunk by chunk in this process (``_memory.py``), or block by block on the
workers of a distributed pool (the executor next to it), with the same
picks.

Strategies can be named by string, for command lines and grid searches:

>>> from skal.strategies import get_strategy
>>> get_strategy("bald").__name__
'bald'
"""

from ._adaptive import auto
from ._base import SingleSampleWarning, power_sample, query_by_measure, score_pool, top_n
from ._batch_bald import batch_bald
from ._disagreement import (
    bald,
    consensus_entropy,
    max_disagreement,
    mean_std,
    power_bald,
    var_ratios,
    vote_entropy,
)
from ._discriminative import dal, mal, vaal
from ._diversity import coreset, typiclust
from ._dynamics import find_training_dynamics, label_dispersion
from ._hybrid import badge, cal, cluster_margin, information_density, suggestive_annotation
from ._learning_loss import learning_loss
from ._model_change import egl, emoc
from ._random import random_sampling
from ._uncertainty import entropy, least_confident, margin, power_entropy, power_margin

#: modAL's name for least-confidence sampling.
uncertainty_sampling = least_confident

#: Registered strategies by name (aliases point to the same function).
STRATEGIES = {
    "least_confident": least_confident,
    "uncertainty_sampling": least_confident,
    "margin": margin,
    "margin_sampling": margin,
    "entropy": entropy,
    "max_entropy": entropy,
    "entropy_sampling": entropy,
    "random": random_sampling,
    "random_sampling": random_sampling,
    "vote_entropy": vote_entropy,
    "consensus_entropy": consensus_entropy,
    "max_disagreement": max_disagreement,
    "bald": bald,
    "var_ratios": var_ratios,
    "variation_ratios": var_ratios,
    "mean_std": mean_std,
    "batch_bald": batch_bald,
    "batchbald": batch_bald,
    "power_bald": power_bald,
    "power_entropy": power_entropy,
    "power_margin": power_margin,
    "coreset": coreset,
    "core_set": coreset,
    "typiclust": typiclust,
    "badge": badge,
    "cluster_margin": cluster_margin,
    "suggestive_annotation": suggestive_annotation,
    "information_density": information_density,
    "cal": cal,
    "egl": egl,
    "emoc": emoc,
    "auto": auto,
    "learning_loss": learning_loss,
    "label_dispersion": label_dispersion,
    "dal": dal,
    "vaal": vaal,
    "mal": mal,
}


def get_strategy(name):
    """Return the strategy registered under ``name`` (callables pass through).

    Parameters
    ----------
    name : str or callable
        A key of :data:`STRATEGIES` (case-insensitive, ``-`` read as ``_``),
        or a strategy function, returned unchanged.

    Returns
    -------
    strategy : callable

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.

    Examples
    --------
    >>> from skal.strategies import get_strategy
    >>> get_strategy("uncertainty_sampling").__name__
    'least_confident'
    """
    if callable(name):
        return name
    if not isinstance(name, str):
        raise TypeError(f"strategy must be a name or a callable, got {type(name).__name__}.")
    key = name.strip().lower().replace("-", "_")
    try:
        return STRATEGIES[key]
    except KeyError:
        raise ValueError(
            f"unknown query strategy {name!r}; valid names: {', '.join(sorted(STRATEGIES))}."
        ) from None


__all__ = [
    "STRATEGIES",
    "SingleSampleWarning",
    "auto",
    "badge",
    "bald",
    "batch_bald",
    "cal",
    "cluster_margin",
    "consensus_entropy",
    "coreset",
    "dal",
    "egl",
    "emoc",
    "entropy",
    "find_training_dynamics",
    "get_strategy",
    "information_density",
    "label_dispersion",
    "learning_loss",
    "least_confident",
    "mal",
    "margin",
    "max_disagreement",
    "mean_std",
    "power_bald",
    "power_entropy",
    "power_margin",
    "power_sample",
    "query_by_measure",
    "random_sampling",
    "score_pool",
    "suggestive_annotation",
    "top_n",
    "typiclust",
    "uncertainty_sampling",
    "vaal",
    "var_ratios",
    "vote_entropy",
]
