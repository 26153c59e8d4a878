"""Rows of unequal sample_weight in the held-out rows that the fit's choices are made on (stop 31 audit).

The tree's temperature, the centroid start's scale, the blend's beta and T and early stopping are chosen
by plain means over held-out rows; rows are held out in proportion to their weights, so that a row of
weight 0 counts as a row absent from X and a row of weight 2 about as a row given twice.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from skxc import AdversarialSoftmaxClassifier, AuxiliaryTree
from skxc._fit import holdout
from skxc._start import calibration_split, held_out_rows
from skxc.datasets import make_hierarchical_classification


def test_equal_weights_hold_out_the_rows_a_permutation_gives():
    """Unweighted fits keep their bits: equal weights (or None) draw one permutation, as before."""
    for weight in (None, np.ones(500), np.full(500, 2.5)):
        kept, held = held_out_rows(500, 40, np.random.default_rng(3), weight)
        perm = np.random.default_rng(3).permutation(500)
        np.testing.assert_array_equal(held, np.sort(perm[:40]))
        np.testing.assert_array_equal(kept, np.sort(perm[40:]))


def test_rows_are_held_out_in_proportion_to_their_weights():
    rng = np.random.default_rng(0)
    weight = np.r_[np.zeros(200), np.ones(400), np.full(400, 3.0)]
    counts = np.zeros(weight.size)
    for _ in range(300):
        kept, held = held_out_rows(weight.size, 40, rng, weight)
        assert np.all(np.diff(held) > 0) and np.all(np.diff(kept) > 0)
        np.testing.assert_array_equal(np.sort(np.r_[kept, held]), np.arange(weight.size))
        counts[held] += 1
    assert counts[:200].sum() == 0  # weight 0: never
    light, heavy = counts[200:600].mean(), counts[600:].mean()
    # inclusion probabilities 40 * w / 1600 (1 / 40 and 3 / 40 per draw): 7.5 and 22.5 in 300 draws
    assert light == pytest.approx(7.5, rel=0.08) and heavy == pytest.approx(22.5, rel=0.05)


def test_calibration_split_counts_the_rows_of_positive_weight():
    rng = np.random.default_rng(1)
    weight = np.r_[np.zeros(1500), np.ones(1500)]
    fit_rows, held = calibration_split(3000, rng, weight)
    assert held.size == 150 and np.all(held >= 1500)  # 10 % of the 1,500 rows that count
    assert calibration_split(3000, rng, np.r_[np.zeros(2500), np.ones(500)]) == (None, None)  # 50 < 100


def test_early_stopping_never_validates_on_rows_of_weight_zero():
    X = np.arange(40, dtype=np.float64)[:, None]
    codes = np.arange(40) % 2
    weight = np.r_[np.zeros(20), np.ones(20)]
    _, _, _, w_train, (X_val, _, w_val) = holdout(X, codes, codes, weight, 0.25, np.random.default_rng(0), False)
    assert X_val.shape[0] == 5 and np.all(X_val[:, 0] >= 20)  # a quarter of the 20 that count
    assert w_val is None  # equal weights: a plain mean
    assert w_train.sum() == 15
    with pytest.raises(ValueError, match="out of the 2 of positive sample_weight"):
        holdout(X, codes, codes, np.r_[np.zeros(38), np.ones(2)], 0.75, np.random.default_rng(0), False)


def test_the_tree_temperature_is_chosen_without_rows_of_weight_zero(monkeypatch):
    import skxc._tree as tree_module

    X, y = make_hierarchical_classification(n_samples=3000, n_features=8, n_classes=20, random_state=0)
    weight = np.r_[np.zeros(1500), np.ones(1500)]
    seen = []
    real = tree_module.calibration_split

    calls = []

    def recording(n, rng, sample_weight=None):
        calls.append(n)
        split = real(n, rng, sample_weight)
        seen.append(split[1])
        return split

    monkeypatch.setattr(tree_module, "calibration_split", recording)
    AuxiliaryTree(n_components=4, random_state=0).fit(X, y, sample_weight=weight)
    # stop 40: the rows of weight 0 are left out before the split (as if absent), so it splits the other 1,500
    assert len(seen) == 1 and seen[0].size == 150 and np.all(seen[0] < 1500)
    assert len(calls) == 1 and calls[0] == 1500


def test_rows_of_weight_zero_do_not_change_the_fit():
    """2,000 rows of shuffled labels at weight 0 beside 2,000 clean rows: the model and its probabilities as
    for the clean rows alone (before: the held-out choices saw the shuffled rows; test accuracy 0.78 -> 0.66,
    mean top probability 0.81 -> 0.24)."""
    X, y = make_hierarchical_classification(n_samples=5000, n_features=32, n_classes=100, random_state=1)
    X_test, y_test = X[4000:], y[4000:]
    rng = np.random.RandomState(0)
    X_all, y_all = X[:4000], np.r_[y[:2000], rng.permutation(y[2000:4000])]
    weight = np.r_[np.ones(2000), np.zeros(2000)]
    perm = rng.permutation(4000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean = AdversarialSoftmaxClassifier(random_state=0).fit(X[:2000], y[:2000])
        weighted = AdversarialSoftmaxClassifier(random_state=0).fit(
            X_all[perm], y_all[perm], sample_weight=weight[perm]
        )
    accuracy, clean_accuracy = weighted.score(X_test, y_test), clean.score(X_test, y_test)
    assert accuracy == pytest.approx(clean_accuracy, abs=0.04)
    confidence = weighted.predict_proba(X_test).max(axis=1).mean()
    assert confidence == pytest.approx(accuracy, abs=0.08)  # calibrated as the clean fit (0.81 for 0.78)
