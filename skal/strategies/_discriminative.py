"""Discriminative strategies: learn to tell labeled from unlabeled, query what looks unlabeled.

A pool point that a labeled-vs-unlabeled discriminator confidently calls
unlabeled is unlike anything labeled. The three strategies differ in the
representation the discriminator reads and in what they add to it:

* :func:`dal` (Gissin & Shalev-Shwartz 2019): any scikit-learn classifier
  on the task model's embedding ``φ(x)``; the batch is split into
  mini-queries with the discriminator retrained between them;
* :func:`vaal` (Sinha et al. 2019): the latent space of a β-VAE trained
  adversarially against the discriminator (:class:`skal.models.VAAL`),
  independent of the task model;
* :func:`mal` (Ebrahimi et al. 2021): the features of a minimax-entropy
  encoder (:class:`skal.models.MAL`), with its classifier's entropy as the
  uncertainty among the points the discriminator calls unlabeled.

Each trains its auxiliary model on the labeled set and the pool at every
query: the cost is in each strategy's docstring.
"""

from __future__ import annotations

import contextlib
import numbers
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import has_fit_parameter

from .. import measures
from .._containers import num_rows
from .._validation import check_n_instances, check_scalar
from ._auxiliary import auxiliary_model, fill_doc, labeled_data, model_input
from ._base import as_pool, check_chunk_size, top_n
from ._rows import features

__all__ = ["dal", "mal", "vaal"]


def _standardized(*blocks):
    """Blocks of rows scaled together to zero mean and unit variance per feature.

    Images (more than 2 dimensions) are returned as they are.
    """
    if blocks[0].ndim > 2:
        return blocks
    stacked = np.concatenate(blocks).astype(np.float64)
    mean, std = stacked.mean(axis=0), stacked.std(axis=0)
    std[std == 0] = 1.0
    return tuple(((b - mean) / std).astype(np.float32) for b in blocks)


def _seed(rng):
    from ..models._base import SEED_MAX

    return int(rng.randint(SEED_MAX))


def _default_discriminator():
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=(64,), max_iter=50)


def _fit_discriminator(template, X, is_labeled, seed, default):
    """A fresh discriminator fitted on ``X`` with the two classes weighed equally when it can be."""
    from threadpoolctl import threadpool_limits

    model = clone(template)
    if "random_state" in model.get_params(deep=False):
        model.set_params(random_state=seed)
    fit_params = {}
    if has_fit_parameter(model, "sample_weight"):
        n_lab = is_labeled.sum()
        fit_params["sample_weight"] = np.where(
            is_labeled, len(X) / (2 * n_lab), len(X) / (2 * (len(X) - n_lab))
        )
    with warnings.catch_warnings(), contextlib.ExitStack() as stack:
        if default:
            # a fixed budget of epochs need not converge; and as scikit-learn's
            # KMeans does, small products run on one BLAS thread (threaded
            # OpenBLAS is ten times slower on them when the cores are busy)
            warnings.simplefilter("ignore", ConvergenceWarning)
            stack.enter_context(threadpool_limits(limits=1, user_api="blas"))
        return model.fit(X, is_labeled.astype(int), **fit_params)


def _unlabeled_proba(model, X):
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    return proba[:, list(model.classes_).index(0)]


@fill_doc
def dal(
    classifier,
    X_pool,
    n_instances=1,
    *,
    X_labeled=None,
    n_subqueries=10,
    discriminator=None,
    representation="model",
    random_state=None,
    chunk_size=None,
):
    """Discriminative active learning (Gissin & Shalev-Shwartz 2019).

    A binary classifier learns to tell the labeled points from the pool in
    the task model's embedding ``φ(x)`` (:func:`skal.models.embed`), and
    the pool points it finds most surely unlabeled, ``argmax P(unlabeled |
    φ(x))``, are queried: they are the ones the labeled set represents
    worst. The batch is split into ``n_subqueries`` near-equal mini-queries;
    after each, its picks join the labeled side and the discriminator is
    trained again, so that one batch does not pile onto one unrepresented
    region. The embeddings are standardised (over labeled and pool
    together) and the two classes weighed equally when the discriminator's
    ``fit`` takes ``sample_weight``.

    Cost: one embedding of the labeled set and of the pool, then
    ``min(n_subqueries, n_instances)`` fits of the discriminator on
    ``n_labeled + n_pool`` rows.

    Parameters
    ----------
    {classifier}
        Only its embedding is used (``representation="model"``).
    {X_pool}
    {n_instances}
    {X_labeled}
    n_subqueries : int, default=10
        Mini-queries the batch is split into (at most ``n_instances``).
    discriminator : None, dict or classifier, default=None
        ``None`` is an ``MLPClassifier(hidden_layer_sizes=(64,),
        max_iter=50)`` (a fixed budget of epochs, its convergence warning
        silenced), a dict changes its parameters, or any scikit-learn
        classifier with ``predict_proba``. Cloned for each mini-query (its
        ``random_state`` set here); labeled rows are class 1, pool rows
        class 0.
    representation : {"model", "input"}, default="model"
        The embedding of the model, or the input features as the final
        estimator receives them.
    {random_state}
    {chunk_size}

    Returns
    -------
    {query_idx}
        In the order picked (mini-query by mini-query).
    scores : ndarray of shape (n_instances,)
        ``P(unlabeled)`` of each pick in its mini-query.

    References
    ----------
    D. Gissin, S. Shalev-Shwartz. Discriminative Active Learning.
    arXiv:1907.06347, 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skal.strategies import dal
    >>> rng = np.random.RandomState(0)
    >>> X_labeled = rng.normal(0, 1, (40, 2))
    >>> X_pool = np.concatenate([rng.normal(0, 1, (40, 2)), rng.normal(5, 1, (5, 2))])
    >>> model = LogisticRegression().fit(X_labeled, rng.randint(0, 2, 40))
    >>> idx, _ = dal(model, X_pool, n_instances=3, X_labeled=X_labeled, random_state=0)
    >>> sorted(idx.tolist())  # three of the five points far from the labeled ones
    [40, 42, 44]
    """
    pool = as_pool(X_pool)
    n_pool = pool.n_rows
    n_instances = check_n_instances(n_instances, n_pool)
    n_subqueries = check_scalar(n_subqueries, "n_subqueries", numbers.Integral, min_val=1)
    chunk_size = check_chunk_size(chunk_size)
    pool.require_memory("dal", "trains a discriminator on the vectors of every pool row")
    template = auxiliary_model(
        discriminator, _default_discriminator, name="discriminator",
        methods=("fit", "predict_proba"),
    )
    rng = check_random_state(random_state)
    X_lab, _ = labeled_data(classifier, X_labeled, required_by="dal")
    phi_pool = features(classifier, pool, representation=representation, chunk_size=chunk_size)
    phi_lab = features(classifier, X_lab, representation=representation, chunk_size=chunk_size)
    phi_lab, phi_pool = _standardized(phi_lab, phi_pool)
    picked = np.zeros(n_pool, dtype=bool)
    chosen, scores = [], []
    for size in np.array_split(np.arange(n_instances), min(n_subqueries, n_instances)):
        rest = np.flatnonzero(~picked)
        X_d = np.concatenate([phi_lab, phi_pool[picked], phi_pool[rest]])
        is_labeled = np.arange(len(X_d)) < len(X_d) - len(rest)
        model = _fit_discriminator(
            template, X_d, is_labeled, _seed(rng), default=not hasattr(discriminator, "fit")
        )
        p_unlabeled = _unlabeled_proba(model, phi_pool[rest])
        best = top_n(p_unlabeled, len(size), rng)
        chosen.append(rest[best])
        scores.append(p_unlabeled[best])
        picked[rest[best]] = True
    return np.concatenate(chosen).astype(np.intp), np.concatenate(scores)


def _fit_on_labeled_and_pool(model, cls, classifier, X_labeled, y_codes, X_pool, chunk_size,
                             rng, **settings):
    """Fit a VAAL or MAL on the labeled set (``y_codes``) and the pool (-1); return it and the pool.

    Inputs go through the classifier's Pipeline (images kept as images) and
    tabular ones are standardised over labeled and pool together.
    """
    lab = model_input(classifier, X_labeled, chunk_size=chunk_size)
    pool = model_input(classifier, X_pool, chunk_size=chunk_size)
    if lab.shape[1:] != pool.shape[1:]:
        raise ValueError(
            f"X_labeled has samples of shape {lab.shape[1:]} but X_pool of shape "
            f"{pool.shape[1:]}: pass the labeled set in the pool's form."
        )
    lab, pool = _standardized(lab, pool)
    fitted = auxiliary_model(
        model, cls, name="model", instance_of=cls, random_state=_seed(rng), **settings
    ).fit(np.concatenate([lab, pool]), np.r_[y_codes, -np.ones(len(pool), dtype=y_codes.dtype)])
    return fitted, pool


@fill_doc
def vaal(
    classifier,
    X_pool,
    n_instances=1,
    *,
    X_labeled=None,
    model=None,
    random_state=None,
    chunk_size=None,
):
    """VAAL: the pool points a VAE-latent discriminator finds least likely labeled (Sinha et al. 2019).

    A :class:`skal.models.VAAL` (a β-VAE and an adversarial discriminator
    on its latent means) is trained on the labeled set and the pool; the
    pool points of lowest discriminator score ``D(μ(x))``, the probability
    of being labeled, are queried. Task-agnostic: the classifier only
    transforms the inputs (a Pipeline's leading steps). Images
    ``(n, C, H, W)`` get a convolutional encoder; tabular rows are
    standardised (over labeled and pool together) and get an MLP.

    Cost: ``model.n_steps`` training steps on minibatches of labeled and of
    pool rows (independent of the pool's size), then one encoding of the
    pool.

    Not for budgets below a few hundred labels: with 20 to 100 labels
    (digits, DPE, batches of 10, 3 seeds; ``docs/label_efficiency.rst``) its
    AUBC is 0.053 below random's (on reduced MNIST it tied random, -0.004).
    With a few labeled points per class, the points the discriminator finds
    least like the labeled set lie in one or two regions of the latent
    space, and its batches covered 2.9 classes of 10 (random 6.3). Sinha et al. start from 10% of the data.

    Parameters
    ----------
    {classifier}
        Only used to transform the inputs.
    {X_pool}
    {n_instances}
    {X_labeled}
    {model}
        The default is ``VAAL()``: latent 32, 100 steps.
    {random_state}
    {chunk_size}

    Returns
    -------
    {query_idx}
    scores : ndarray of shape (n_instances,)
        ``1 - D(μ(x))``: the probability of being unlabeled.

    References
    ----------
    S. Sinha, S. Ebrahimi, T. Darrell. Variational Adversarial Active
    Learning. ICCV 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skal.models import VAAL
    >>> from skal.strategies import vaal
    >>> rng = np.random.RandomState(0)
    >>> X_labeled = rng.normal(0, 1, (40, 2))
    >>> X_pool = np.concatenate([rng.normal(0, 1, (40, 2)), rng.normal(5, 1, (10, 2))])
    >>> model = LogisticRegression().fit(X_labeled, rng.randint(0, 2, 40))
    >>> idx, _ = vaal(model, X_pool, n_instances=3, X_labeled=X_labeled,
    ...               model=VAAL(latent_dim=2, n_steps=100), random_state=0)
    >>> idx.shape
    (3,)
    """
    from ..models import VAAL

    pool = as_pool(X_pool)
    n_instances = check_n_instances(n_instances, pool.n_rows)
    chunk_size = check_chunk_size(chunk_size)
    pool.require_memory("vaal", "trains a VAE and a discriminator on every pool row")
    rng = check_random_state(random_state)
    X_lab, _ = labeled_data(classifier, X_labeled, required_by="vaal")
    fitted, pool = _fit_on_labeled_and_pool(
        model, VAAL, classifier, X_lab, np.zeros(num_rows(X_lab), dtype=np.int64), pool,
        chunk_size, rng,
    )
    scores = 1.0 - fitted.predict_labeled_proba(pool)
    idx = top_n(scores, n_instances, rng)
    return idx, scores[idx]


@fill_doc
def mal(
    classifier,
    X_pool,
    n_instances=1,
    *,
    X_labeled=None,
    y_labeled=None,
    model=None,
    random_state=None,
    chunk_size=None,
):
    """MAL: the most uncertain of the points a discriminator calls unlabeled (Ebrahimi et al. 2021).

    A :class:`skal.models.MAL` is trained on the labeled set (with its
    labels) and the pool: an encoder ``F`` and a cosine classifier ``C``
    playing a minimax entropy game on the pool, and a discriminator ``D``
    on ``F``'s features. Among the pool points ``D`` predicts unlabeled
    (``D(F(x)) < 0.5``: diversity), those of highest entropy under ``C``
    (uncertainty) are queried; should there be fewer than ``n_instances``
    of them, the others follow, also by entropy. Images get a
    convolutional encoder; tabular rows are standardised (over labeled and
    pool together) and get an MLP.

    Cost: ``model.n_steps`` training steps on minibatches of labeled and of
    pool rows (independent of the pool's size), then one pass over the pool.

    Parameters
    ----------
    {classifier}
        Used to transform the inputs and, without ``y_labeled``, to label
        the labeled set; its ``classes_`` size ``C``.
    {X_pool}
    {n_instances}
    {X_labeled}
    {y_labeled}
    {model}
        The default is ``MAL()``: features of 32, 100 steps. Its
        ``classes`` are set here too.
    {random_state}
    {chunk_size}

    Returns
    -------
    {query_idx}
    scores : ndarray of shape (n_instances,)
        ``H / log K`` (the normalised entropy under ``C``) for points ``D``
        predicts unlabeled, ``H / log K - 1`` for the others, so that the
        former always come first.

    References
    ----------
    S. Ebrahimi, W. Gan, D. Chen, G. Biamby, K. Salahi, M. Laielli, S. Zhu,
    T. Darrell. Minimax Active Learning. arXiv:2012.10467, 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skal.models import MAL
    >>> from skal.strategies import mal
    >>> rng = np.random.RandomState(0)
    >>> X_labeled = rng.normal(0, 1, (40, 2))
    >>> y_labeled = (X_labeled[:, 0] > 0).astype(int)
    >>> X_pool = rng.normal(0, 1, (50, 2))
    >>> model = LogisticRegression().fit(X_labeled, y_labeled)
    >>> idx, scores = mal(model, X_pool, n_instances=3, X_labeled=X_labeled, y_labeled=y_labeled,
    ...                   model=MAL(latent_dim=2, n_steps=100), random_state=0)
    >>> idx.shape, bool(scores[0] >= scores[-1])
    ((3,), True)
    """
    from ..models import MAL, get_classes
    from ..models._base import encode_labels

    pool = as_pool(X_pool)
    n_instances = check_n_instances(n_instances, pool.n_rows)
    chunk_size = check_chunk_size(chunk_size)
    pool.require_memory("mal", "trains an encoder and a discriminator on every pool row")
    rng = check_random_state(random_state)
    X_lab, y_lab = labeled_data(classifier, X_labeled, y_labeled, required_by="mal", labels=True)
    classes = np.asarray(get_classes(classifier))
    fitted, pool = _fit_on_labeled_and_pool(
        model, MAL, classifier, X_lab, encode_labels(y_lab, classes), pool, chunk_size, rng,
        classes=np.arange(len(classes)),
    )
    entropy = measures.entropy(fitted.predict_proba(pool)) / np.log(len(classes))
    scores = entropy - (fitted.predict_labeled_proba(pool) >= 0.5)
    idx = top_n(scores, n_instances, rng)
    return idx, scores[idx]
