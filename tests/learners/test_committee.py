"""skal.learners.Committee: modAL's query by committee on current scikit-learn."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from skal.learners import ActiveLearner, Committee
from skal.models import predict_proba_samples

from ._helpers import (
    Counting,
    forest,
    logreg_pipe,
    make_committee,
    run_rounds,
    split,
    uncertainty_bare,
    uncertainty_pair,
)

def test_committee_rounds_vote_and_consensus(digits):
    counting = Counting(uncertainty_pair)
    committee, (X0, y0, X_pool, y_pool) = make_committee(digits, counting)
    X_rest, y_rest = run_rounds(committee, X_pool, y_pool, n_rounds=3, n_instances=6)
    assert counting.calls == 3
    for learner in committee:
        assert len(learner.y_training) == len(y0) + 18
    assert len(committee) == 3
    np.testing.assert_array_equal(committee.classes_, np.arange(10))
    votes = committee.vote(X_rest[:9])
    assert votes.shape == (9, 3)
    np.testing.assert_array_equal(votes[:, 1], committee.learner_list[1].predict(X_rest[:9]))
    vote_proba = committee.vote_proba(X_rest[:9])
    assert vote_proba.shape == (9, 3, 10)
    consensus = committee.predict_proba(X_rest[:9])
    np.testing.assert_allclose(consensus, vote_proba.mean(axis=1))
    np.testing.assert_array_equal(committee.predict(X_rest[:9]), consensus.argmax(axis=1))
    assert committee.score(X_rest, y_rest) > 0.5
    # The adapters see one sample per member (each a 10-tree forest), whose
    # mean is the committee's consensus.
    samples = predict_proba_samples(committee, X_rest[:4])
    assert samples.shape == (3, 4, 10)
    np.testing.assert_allclose(samples.mean(0), committee.predict_proba(X_rest[:4]))


def test_committee_aligns_members_that_know_different_classes(digits):
    X, y = digits
    low = np.flatnonzero(y < 5)[:40]
    high = np.flatnonzero(y >= 3)[:40]
    members = [
        ActiveLearner(forest(0), uncertainty_pair, X[low], y[low]),
        ActiveLearner(forest(1), uncertainty_pair, X[high], y[high]),
    ]
    committee = Committee(members, query_strategy=uncertainty_pair)
    np.testing.assert_array_equal(committee.classes_, np.arange(10))
    vp = committee.vote_proba(X[:20])
    assert vp.shape == (20, 2, 10)
    assert np.all(vp[:, 0, 5:] == 0) and np.all(vp[:, 1, :3] == 0)
    np.testing.assert_allclose(vp.sum(axis=2), 1.0, rtol=1e-5)
    # Members started on different data: the labeled set is all of it.
    assert committee.X_training.shape[0] == 80
    idx, _ = committee.query(X[100:200], n_instances=3)
    assert len(idx) == 3


def test_committee_shares_one_labeled_set_and_string_labels_vote(digits):
    X0, y0, X_pool, y_pool = split(digits)
    names = np.array(list("abcdefghij"))
    members = [ActiveLearner(forest(s), uncertainty_pair, X0, names[y0]) for s in range(2)]
    committee = Committee(members, query_strategy=uncertainty_bare)
    idx, X_query = committee.query(X_pool, n_instances=4)
    committee.teach(X_query, names[y_pool[idx]])
    assert committee.X_training.shape[0] == len(y0) + 4  # shared, not doubled
    votes = committee.vote(X_pool[:3])
    assert votes.dtype.kind == "U" and set(votes.ravel()) <= set(names)
    assert set(committee.predict(X_pool[:3])) <= set(names)


def test_committee_rebag_fit_and_only_new(digits):
    committee, (X0, y0, X_pool, y_pool) = make_committee(digits)
    before = [m.predict(X_pool[:100]) for m in committee]
    labeled = [m.X_training for m in committee]
    committee.rebag()
    # Fresh bootstrap draws change the members, not their labeled sets.
    assert all(
        not np.array_equal(m.predict(X_pool[:100]), p) for m, p in zip(committee, before)
    )
    assert all(m.X_training is t for m, t in zip(committee, labeled))
    committee.fit(X_pool[:30], y_pool[:30])
    for m in committee:
        np.testing.assert_array_equal(m.X_training, X_pool[:30])
    np.testing.assert_array_equal(committee.classes_, np.unique(y_pool[:30]))
    committee.teach(X_pool[30:40], y_pool[30:40], only_new=True)
    np.testing.assert_array_equal(committee.classes_, np.unique(y_pool[30:40]))
    assert committee.X_training.shape[0] == 40


def test_committee_transform_without_estimating_stacks_members(digits):
    X0, y0, X_pool, _ = split(digits)
    members = [ActiveLearner(logreg_pipe(), uncertainty_pair, X0, y0) for _ in range(2)]
    committee = Committee(members, uncertainty_pair, on_transformed=True)
    Xt = committee.transform_without_estimating(X_pool[:5])
    assert Xt.shape == (5, 2 * X0.shape[1])


BAD_COMMITTEES = {
    "no members": (lambda X0, y0: Committee([], uncertainty_pair), ValueError, "non-empty list"),
    "bare estimator": (lambda X0, y0: Committee([forest()], uncertainty_pair), TypeError, "wrap each estimator"),
    "unfitted member": (
        lambda X0, y0: Committee([ActiveLearner(forest(), uncertainty_pair)], uncertainty_pair).query(X0),
        NotFittedError, "not every committee member is fitted",
    ),
}


@pytest.mark.parametrize("case", BAD_COMMITTEES)
def test_bad_committees_are_clear_errors(digits, case):
    action, error, match = BAD_COMMITTEES[case]
    X0, y0, _, _ = split(digits)
    with pytest.raises(error, match=match):
        action(X0, y0)
