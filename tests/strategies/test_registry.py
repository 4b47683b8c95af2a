import pytest

from skal import strategies
from skal.strategies import STRATEGIES, get_strategy


def test_every_name_in_the_brief_is_registered_and_exported():
    for name in [
        "least_confident", "uncertainty_sampling", "margin", "entropy", "random_sampling",
        "vote_entropy", "consensus_entropy", "max_disagreement", "bald", "var_ratios",
        "mean_std", "batch_bald",
    ]:
        assert get_strategy(name) is getattr(strategies, name)
        assert name in strategies.__all__


def test_aliases_and_spelling():
    assert get_strategy("uncertainty_sampling") is strategies.least_confident
    assert get_strategy("Batch-BALD") is strategies.batch_bald
    assert get_strategy("  max_entropy ") is strategies.entropy
    assert get_strategy("random") is strategies.random_sampling


def test_callables_pass_through():
    def custom(classifier, X_pool, n_instances=1, **kw):
        return [0], [0.0]

    assert get_strategy(custom) is custom


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown query strategy 'bold'; valid names: .*bald"):
        get_strategy("bold")
    with pytest.raises(TypeError, match="name or a callable"):
        get_strategy(3)


def test_registry_values_are_callables():
    assert all(callable(f) for f in STRATEGIES.values())
