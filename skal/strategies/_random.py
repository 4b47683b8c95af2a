"""Random sampling, the baseline every strategy is measured against."""

import numpy as np
from sklearn.utils import check_random_state

from .._validation import check_n_instances
from ._docstrings import fill_doc
from ._pool import as_pool

__all__ = ["random_sampling"]


@fill_doc
def random_sampling(classifier, X_pool, n_instances=1, *, random_state=None, **options):
    """Query ``n_instances`` pool rows uniformly at random, without replacement.

    Parameters
    ----------
    classifier : object or None
        Ignored (accepted for the common strategy signature); no prediction
        is made.
    {X_pool}
    {n_instances}
    random_state : int, RandomState instance or None, default=None
        Drives the draw.
    **options
        Ignored, so that options meant for other strategies (``chunk_size``,
        ``n_samples``, ...) can be passed uniformly.

    Returns
    -------
    query_idx : ndarray of shape (n_instances,)
        Distinct positions in ``X_pool``.
    scores : ndarray of shape (n_instances,)
        Zeros: every row is equally likely.

    Examples
    --------
    >>> import numpy as np
    >>> from skal.strategies import random_sampling
    >>> idx, scores = random_sampling(None, np.zeros((10, 2)), n_instances=3, random_state=0)
    >>> len(set(idx.tolist())), scores.tolist()
    (3, [0.0, 0.0, 0.0])
    """
    n_pool = as_pool(X_pool).n_rows
    n_instances = check_n_instances(n_instances, n_pool)
    rng = check_random_state(random_state)
    idx = rng.choice(n_pool, size=n_instances, replace=False)
    return idx.astype(np.intp), np.zeros(n_instances)
