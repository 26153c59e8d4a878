"""Ctrl-C: before training the estimator stays as it was; during training it stops at a piece boundary."""

from __future__ import annotations

import copy
import signal

import numpy as np
import pytest

import skxc._solver as solver
from skxc import AdversarialSoftmaxClassifier, AuxiliaryTree, TrainingInterruptedWarning
from skxc.datasets import make_hierarchical_classification


@pytest.fixture
def data():
    X, y = make_hierarchical_classification(n_samples=3000, n_features=12, n_classes=20, random_state=0)
    return X, y


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_ctrl_c_during_training_stops_at_a_piece_boundary(monkeypatch, data, n_jobs, sigint_after_first_kernel_call):
    X, y = data
    calls = sigint_after_first_kernel_call
    monkeypatch.setattr("skxc._fit.HOGWILD_MIN_CLASSES", 0)  # n_jobs=2: two threads even for 20 classes
    # no blend: its pilot would take the Ctrl-C (tests/test_blend.py, Ctrl-C during the pilot)
    clf = AdversarialSoftmaxClassifier(max_iter=5, random_state=0, n_jobs=n_jobs, n_components=4, centroid_blend=0)
    with pytest.warns(TrainingInterruptedWarning, match="interrupted"):
        clf.fit(X, y)
    assert clf.interrupted_ and clf.n_iter_ == 0
    assert clf.t_ == 500  # exactly the first piece (split over the threads) was trained
    assert len(calls) == n_jobs  # no kernel call after the boundary
    assert np.all(np.isfinite(clf.coef_)) and clf.score(X, y) > 0.05
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    # training goes on from there
    monkeypatch.undo()
    clf.partial_fit(X, y)
    assert not clf.interrupted_ and clf.t_ == 500 + X.shape[0]


def test_second_ctrl_c_raises_at_once(monkeypatch, data):
    X, y = data
    real = solver.negative_sampling_epoch

    def kernel(*args):
        real(*args)
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(solver, "negative_sampling_epoch", kernel)
    with pytest.raises(KeyboardInterrupt):
        AdversarialSoftmaxClassifier(max_iter=2, random_state=0, n_components=4).fit(X, y)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("method", ["fit", "fit_noise"])
def test_ctrl_c_before_training_leaves_the_previous_model(monkeypatch, data, method):
    X, y = data
    clf = AdversarialSoftmaxClassifier(max_iter=2, random_state=0, n_components=4).fit(X, y)
    before = copy.deepcopy(clf)
    expected = clf.predict_proba(X[:50])

    def interrupted_tree_fit(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(AuxiliaryTree, "fit_encoded", interrupted_tree_fit)
    Xb, yb = X[:2000] * 2.0, (y[:2000] + 1) % 20
    with pytest.raises(KeyboardInterrupt):
        getattr(clf, method)(Xb, yb)
    assert set(vars(clf)) == set(vars(before))
    np.testing.assert_array_equal(clf.coef_, before.coef_)
    np.testing.assert_array_equal(clf.intercept_, before.intercept_)
    assert clf.tree_ is not None and clf.n_iter_ == before.n_iter_ and clf.t_ == before.t_
    np.testing.assert_array_equal(clf.predict_proba(X[:50]), expected)


def test_early_stopping_keeps_the_best_epoch():
    """The returned model is the best validated epoch's, not the last one's."""
    X, y = make_hierarchical_classification(n_samples=3000, n_features=12, n_classes=20, random_state=0)
    params = dict(
        early_stopping=True, n_iter_no_change=8, random_state=0, n_jobs=1, n_components=4,
        learning_rate_schedule="constant",
    )  # fmt: skip
    # a learning rate so large that validation accuracy goes up and down (here best at epoch 7 of 8)
    clf = AdversarialSoftmaxClassifier(learning_rate=3.0, max_iter=8, **params).fit(X, y)
    scores = clf.validation_scores_
    best = int(np.argmax(scores)) + 1
    assert clf.n_iter_ == 8 and best < 8, scores  # the scenario this test needs
    assert clf.best_iteration_ == best
    # the held model is the best epoch's: a fit of exactly `best` epochs (same seed, same rows)
    again = AdversarialSoftmaxClassifier(learning_rate=3.0, max_iter=best, **params).fit(X, y)
    np.testing.assert_array_equal(clf.coef_, again.coef_)
    np.testing.assert_array_equal(clf.intercept_, again.intercept_)
    assert clf.score(X, y) == again.score(X, y)


def test_early_stopping_can_keep_the_start():
    """The model before the first epoch competes as epoch 0: when every epoch validates worse (a step size
    that wrecks the model), the start comes back, the same as a fit whose epochs cannot move a weight."""
    X, y = make_hierarchical_classification(n_samples=3000, n_features=12, n_classes=20, random_state=0)
    params = dict(
        early_stopping=True, n_iter_no_change=8, random_state=0, n_jobs=1, n_components=4, max_iter=4,
        learning_rate_schedule="constant", centroid_blend=0,  # the blend's pilot would see the wrecking step too
    )  # fmt: skip
    clf = AdversarialSoftmaxClassifier(learning_rate=20.0, **params).fit(X, y)
    assert clf.best_iteration_ == 0 and clf.n_iter_ == 4
    frozen = AdversarialSoftmaxClassifier(learning_rate=1e-30, **params).fit(X, y)
    assert frozen.best_iteration_ == 0
    np.testing.assert_array_equal(clf.coef_, frozen.coef_)
    np.testing.assert_array_equal(clf.intercept_, frozen.intercept_)


@pytest.mark.parametrize("at", ["out", "back"])
def test_ctrl_c_while_the_blend_term_moves_keeps_the_model_whole(monkeypatch, data, at):
    """Stop 40 (audit): a warm start takes the blend's term out, trains, adds it back. A Ctrl-C during the
    add-back lost the term (training top-1 0.891 -> 0.874, centroid_blend_ still 16) and later warm starts kept
    taking out a term that was not there. Now a fold finishes first: during the add-back, the call raises
    with the trained model whole; during the take-out, it raises with the model as before the call."""
    import skxc._training as training

    X, y = data

    def new():
        params = dict(random_state=0, n_components=4, max_iter=2, centroid_blend=16.0, warm_start=True, n_jobs=1)
        return AdversarialSoftmaxClassifier(**params).fit(X, y)

    reference, clf = new(), new()
    before = copy.deepcopy(clf)
    reference.fit(X, y)  # the second warm fit, uninterrupted
    real, calls = training.blended, []

    def blended(*args, **kwargs):  # SIGINT as a fold starts (-1: the take-out, +1: the add-back)
        calls.append(args[-1])
        if calls[-1] == (-1.0 if at == "out" else 1.0) and len(calls) <= 2:
            signal.raise_signal(signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "blended", blended)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    monkeypatch.undo()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert clf.centroid_blend_ == 16.0 and not clf.interrupted_
    if at == "out":  # the weights before the call, to float32 rounding (the term taken out and put back);
        # no epoch of this call ran, no row trained: the fit before it, its epochs and curves (stop 69: n_iter_ was
        # reset to 0 and the curves emptied, unlike a Ctrl-C while training is set up)
        assert clf.n_iter_ == before.n_iter_ == 2 and clf.t_ == before.t_ and clf.loss_curve_ == before.loss_curve_
        np.testing.assert_allclose(clf.coef_, before.coef_, rtol=0, atol=1e-6)
        np.testing.assert_allclose(clf.intercept_, before.intercept_, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(clf.predict(X), before.predict(X))
        return
    np.testing.assert_array_equal(clf.coef_, reference.coef_)  # trained, with the term back
    np.testing.assert_array_equal(clf.intercept_, reference.intercept_)
    assert clf.n_iter_ == reference.n_iter_
    # the term is where centroid_blend_ says: the next warm fit continues as the uninterrupted one
    clf.fit(X, y)
    reference.fit(X, y)
    np.testing.assert_array_equal(clf.coef_, reference.coef_)


def test_ctrl_c_after_training_finishes_the_blend(monkeypatch, data):
    """A Ctrl-C while a new fit adds its blend term (after training) left the trained model without the chosen
    term; now the term is added, then KeyboardInterrupt (the model is whole)."""
    import skxc._training as training

    X, y = data
    params = dict(random_state=0, n_components=4, max_iter=2, centroid_blend=16.0, n_jobs=1)
    reference = AdversarialSoftmaxClassifier(**params).fit(X, y)
    real = training.blend_term

    def blend_term(*args, **kwargs):
        signal.raise_signal(signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "blend_term", blend_term)
    clf = AdversarialSoftmaxClassifier(**params)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    monkeypatch.undo()
    assert clf.centroid_blend_ == 16.0 and not clf.interrupted_
    np.testing.assert_array_equal(clf.coef_, reference.coef_)
    np.testing.assert_array_equal(clf.predict_proba(X[:50]), reference.predict_proba(X[:50]))


def test_ctrl_c_while_a_first_partial_fit_builds_its_rows_leaves_it_unfitted(monkeypatch, data):
    """Audit: the kernel rows of a first partial_fit were built outside the guard that restores the estimator,
    so a Ctrl-C there left it fitted (tree, n_iter_ 0) instead of unfitted."""
    import skxc._training as training

    X, y = data

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training.TrainingMixin, "_rows", interrupted)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_components=4)
    with pytest.raises(KeyboardInterrupt):
        clf.partial_fit(X, y, classes=np.unique(y))
    assert not hasattr(clf, "coef_") and not hasattr(clf, "tree_") and not hasattr(clf, "classes_")
    monkeypatch.undo()
    clf.partial_fit(X, y, classes=np.unique(y))  # and it starts afresh
    assert clf.n_iter_ == 1


def test_ctrl_c_while_early_stopping_scores_the_start_stops_at_the_first_boundary(monkeypatch, data):
    """Audit: a Ctrl-C while early stopping scored the model before the first epoch raised at once (the deferral
    began after it), leaving ``interrupted_`` set and no warning. Now it stops training before its first piece,
    with the warning, and the start is the model kept."""
    import skxc._training as training

    X, y = data
    real, calls = training.top1_score, []

    def top1_score(*args):
        calls.append(1)
        if len(calls) == 1:  # the start's score (epoch 0)
            signal.raise_signal(signal.SIGINT)
        return real(*args)

    monkeypatch.setattr(training, "top1_score", top1_score)
    params = dict(random_state=0, n_components=4, max_iter=3, early_stopping=True, centroid_blend=0, n_jobs=1)
    clf = AdversarialSoftmaxClassifier(**params)
    with pytest.warns(TrainingInterruptedWarning, match="after 0 of"):
        clf.fit(X, y)
    assert clf.interrupted_ and clf.n_iter_ == 0 and clf.t_ == 0 and clf.best_iteration_ == 0
    assert len(calls) == 1 and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    monkeypatch.undo()
    start = AdversarialSoftmaxClassifier(**{**params, "max_iter": 1, "learning_rate": 1e-30}).fit(X, y)
    assert np.all(np.isfinite(clf.coef_)) and clf.score(X, y) > 0.05
    np.testing.assert_allclose(clf.coef_, start.coef_, rtol=0, atol=1e-6)  # the untrained start


@pytest.mark.parametrize("signals", [1, 2])
@pytest.mark.parametrize("fitted", [False, True])
def test_ctrl_c_while_training_is_set_up_restores_the_estimator(monkeypatch, data, signals, fitted):
    """Stop 41: a Ctrl-C after the start was built but before training's own handler (the weight table, the
    Adagrad state and the schedule being set up: seconds with 10**5 classes) left a half-built model that
    looked fitted (the start, no blend, n_iter_ 0, no interrupted_). Now the setup finishes, and fit raises
    KeyboardInterrupt with the estimator as it was before the call; a second Ctrl-C too."""
    import skxc._training as training

    X, y = data
    clf = AdversarialSoftmaxClassifier(max_iter=2, random_state=0, n_components=4, centroid_blend=0)
    if fitted:
        clf.fit(X, y)
    before = copy.deepcopy(clf.__dict__)
    coef = np.array(clf.coef_) if fitted else None
    real = training.training_model

    def interrupted(*args, **kwargs):
        for _ in range(signals):
            signal.raise_signal(signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "training_model", interrupted)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    monkeypatch.undo()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert set(clf.__dict__) == set(before)
    for name, value in before.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(clf.__dict__[name], value)
        elif np.isscalar(value):
            assert clf.__dict__[name] == value, name
    if fitted:
        np.testing.assert_array_equal(clf.coef_, coef)
        assert clf.predict_proba(X[:5]).shape == (5, 20)
    else:
        assert not hasattr(clf, "n_iter_") and not hasattr(clf, "tree_")


def test_ctrl_c_stops_pilots_training_side_by_side_at_a_piece_boundary(monkeypatch):
    """Stop 42: the pilots of the automatic settings that train on worker threads (side by side, n_jobs=2)
    stop at their next piece boundary when Ctrl-C reaches the main thread; before, they trained to their end
    (15 s at 10^5 classes) before ``fit`` raised."""
    import os
    import threading
    import time

    X, y = make_hierarchical_classification(n_samples=3000, n_features=12, n_classes=300, random_state=0)
    real = solver.negative_sampling_epoch
    calls = []
    lock = threading.Lock()

    def kernel(*args):
        real(*args)
        with lock:
            calls.append(threading.current_thread() is threading.main_thread())
            first = len(calls) == 1
        if first:  # a process-directed SIGINT: Linux delivers it to the main thread, as a terminal's Ctrl-C
            os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)  # a piece takes longer than the main thread needs to take the signal and stop waiting

    monkeypatch.setattr(solver, "negative_sampling_epoch", kernel)
    monkeypatch.setattr(solver, "PROGRESS_ROWS", 50)
    clf = AdversarialSoftmaxClassifier(max_iter=5, random_state=0, n_jobs=2, n_components=4)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    assert not calls[0]  # the first kernel call was a pilot's, on a worker thread
    # each running pilot ends the piece it is in: a few calls, not the pilots' hundreds of pieces
    assert len(calls) <= 6, len(calls)
    assert not hasattr(clf, "coef_")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_ctrl_c_right_after_the_last_epoch_leaves_the_model_whole(monkeypatch, method):
    """Stop 42 (audit): a Ctrl-C after training's own handler and before the blend's (coef_ made from the
    weight table, the finite check: 0.13 s of a 17 s fit) left a fitted model without its blend, temperature
    or pruning, with ``interrupted_`` False (test accuracy 0.581 -> 0.539). Now those steps finish and the
    call raises KeyboardInterrupt with the model the call would have returned."""
    import skxc._training as training

    X, y = make_hierarchical_classification(n_samples=2000, n_features=16, n_classes=100, random_state=0)
    params = dict(random_state=0, n_jobs=1, max_iter=3)

    def run(clf):
        if method == "fit":
            return clf.fit(X, y)
        return clf.partial_fit(X, y, classes=np.unique(y)).partial_fit(X, y)

    reference = run(AdversarialSoftmaxClassifier(**params))
    real = training.check_finite_model
    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "check_finite_model", counted)
    run(AdversarialSoftmaxClassifier(**params))
    n_calls, calls[:] = len(calls), []

    def interrupted(*args, **kwargs):  # the last call follows the model's last epoch
        calls.append(1)
        if len(calls) == n_calls:
            signal.raise_signal(signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "check_finite_model", interrupted)
    clf = AdversarialSoftmaxClassifier(**params)
    with pytest.raises(KeyboardInterrupt):
        run(clf)
    assert len(calls) == n_calls
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert not clf.interrupted_
    assert clf.centroid_blend_ == reference.centroid_blend_
    assert clf.score_temperature_ == reference.score_temperature_
    np.testing.assert_array_equal(clf.predict_proba(X[:100]), reference.predict_proba(X[:100]))
