"""Early stopping counts from the start's held-out accuracy (epoch 0), as documented: training stops once the
accuracy has not improved on its best so far, the start's included, for ``n_iter_no_change`` epochs."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from skxc import AdversarialSoftmaxClassifier
from skxc.datasets import make_hierarchical_classification

PARAMS = dict(random_state=0, n_jobs=1, n_components=4, early_stopping=True, max_iter=12)


@pytest.fixture(scope="module")
def hierarchical():
    return make_hierarchical_classification(n_samples=1000, n_features=12, n_classes=20, random_state=0)


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(300, centers=3, cluster_std=0.5, random_state=0)  # held-out accuracy 1.0 from the start


def test_epochs_that_never_beat_the_start_stop_training(hierarchical):
    """A large constant step: every epoch validates below the start, though each of the first two beats the
    epoch before it; the stopping rule counts them all (before: they ran while they beat each other)."""
    X, y = hierarchical
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning: it stopped
        clf = AdversarialSoftmaxClassifier(
            n_iter_no_change=3, learning_rate=2.0, learning_rate_schedule="constant", centroid_blend=0, **PARAMS
        ).fit(X, y)
    scores = clf.validation_scores_
    assert clf.best_iteration_ == 0  # the start was best: no epoch beat it
    assert clf.n_iter_ == 3 and len(scores) == 3, scores
    assert scores[0] < scores[1] < scores[2]  # the scenario: each epoch beats the last, none the start


@pytest.mark.parametrize("n_iter_no_change", [1, 2, 3])
def test_a_flat_accuracy_stops_after_n_iter_no_change_epochs(blobs, n_iter_no_change):
    """tol=None: an accuracy that does not rise above the start's stops training after n_iter_no_change epochs
    (before: the first epoch set the best, and n_iter_no_change more ran)."""
    X, y = blobs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = AdversarialSoftmaxClassifier(**{**PARAMS, "max_iter": 50}, n_iter_no_change=n_iter_no_change).fit(X, y)
    assert clf.validation_scores_ == [1.0] * n_iter_no_change
    assert clf.n_iter_ == n_iter_no_change and clf.best_iteration_ == 0


def test_a_flat_accuracy_with_tol_stops_after_n_iter_no_change_epochs(blobs):
    X, y = blobs
    clf = AdversarialSoftmaxClassifier(**{**PARAMS, "max_iter": 50}, n_iter_no_change=2, tol=1e-3).fit(X, y)
    assert clf.n_iter_ == 2 and clf.best_iteration_ == 0


def test_a_warm_start_counts_from_the_previous_model(blobs):
    """A warm start's epoch 0 is the model it continues: a flat accuracy stops it after n_iter_no_change epochs."""
    X, y = blobs
    clf = AdversarialSoftmaxClassifier(**{**PARAMS, "max_iter": 50}, n_iter_no_change=2, warm_start=True)
    clf.fit(X, y)
    assert clf.n_iter_ == 2
    clf.fit(X, y)
    assert clf.n_iter_ == 2 and clf.best_iteration_ == 0
    assert clf.validation_scores_ == [1.0] * 4  # one per epoch, the warm start's appended


def test_verbose_prints_the_start_accuracy(blobs, capsys):
    X, y = blobs
    AdversarialSoftmaxClassifier(**{**PARAMS, "max_iter": 50}, n_iter_no_change=1, verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert "Epoch 0 (start): val accuracy 1.0000" in out and "Convergence after 1 epochs." in out


def test_without_early_stopping_tol_counts_from_the_first_epoch(hierarchical):
    """The training loss has no value before the first epoch: with tol and no early stopping the first epoch
    sets the best, and n_iter_no_change more without improvement stop training (unchanged)."""
    X, y = hierarchical
    clf = AdversarialSoftmaxClassifier(**{**PARAMS, "early_stopping": False}, tol=10.0, n_iter_no_change=2)
    clf.fit(X, y)
    assert clf.n_iter_ == 3 and not hasattr(clf, "best_iteration_")
    assert np.isfinite(clf.loss_curve_).all()
