"""The faster pilot (stop 43; stop 46: 16 times the step, by held-out log-likelihood): ``FASTER``'s step factor and
8 negatives, taken when its held-out log-likelihood is clearly higher."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import skxc._blend as blend
from skxc import AdversarialSoftmaxClassifier
from skxc.datasets import make_hierarchical_classification


def few_rows_data(n_classes=200, n_samples=2000, seed=7):
    X, y = make_hierarchical_classification(
        n_samples=n_samples + 600, n_features=40, n_classes=n_classes, random_state=seed
    )
    X = sp.csr_matrix(X)
    return X[:n_samples], y[:n_samples], X[n_samples:], y[n_samples:]


def dense(coef):
    return coef.toarray() if sp.issparse(coef) else np.asarray(coef)


def test_faster_wins_only_by_a_clear_paired_margin():
    rng = np.random.default_rng(1)
    chosen = rng.normal(-4.0, 1.0, size=1000)  # per-row held-out log-likelihoods
    better = chosen + rng.uniform(0.0, 0.2, size=1000)  # higher on every row: z far above the bar
    assert blend.faster_wins(better, chosen)
    assert not blend.faster_wins(chosen, better)
    assert not blend.faster_wins(chosen.copy(), chosen)  # a tie keeps the chosen pilot
    # the threshold: a mean difference of FASTER_Z standard errors does not win, more does
    noise = rng.normal(0.0, 1.0, size=1000)
    noise -= noise.mean()
    se = noise.std(ddof=1) / np.sqrt(noise.size)
    for dz in (-0.5, -0.1, 0.1, 1.0):
        faster = chosen + noise + (blend.FASTER_Z + dz) * se
        assert blend.faster_wins(faster, chosen) == (dz > 0)


def _recording(monkeypatch, faster_bonus: bool):
    """chosen_blend recording each pilot's (learning_rate, n_negatives, tree temperature); with
    ``faster_bonus`` the pilot with ``FASTER``'s negatives gets a far higher log-likelihood on every held-out row."""
    real = blend.chosen_blend
    seen = []
    if faster_bonus:  # the bonus alone decides: no top-1 veto (tested in test_s52_faster_pilot.py)
        monkeypatch.setattr(blend, "FASTER_TOP1_Z", np.inf)

    def patched(pilot, *args):
        beta, T, ll, rows, top_map, hits, best_ll = real(pilot, *args)
        seen.append((pilot.learning_rate, pilot.learning_rate_, pilot.n_negatives, pilot.tree_.temperature_))
        if faster_bonus and pilot.n_negatives == blend.FASTER[1]:
            rows = rows + 10.0 + 0.01 * np.arange(rows.size)  # not a constant shift: a finite z
        return beta, T, ll, rows, top_map, hits, best_ll

    monkeypatch.setattr(blend, "chosen_blend", patched)
    return seen


@pytest.mark.parametrize("weights", ["dense", "sparse"])
def test_when_the_faster_pilot_wins_the_model_trains_with_its_step_and_negatives(monkeypatch, weights):
    X, y, Xt, yt = few_rows_data()
    monkeypatch.setattr(blend, "UNIFORM_MAX_CLASSES", 0)  # the tree's pilots only
    seen = _recording(monkeypatch, faster_bonus=True)
    kw = dict(random_state=0, n_jobs=1, max_iter=3, weights=weights)
    without, without_sparse = blend.FASTER_MAX_CLASSES, blend.FASTER_MAX_CLASSES_SPARSE
    clf = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    assert len(seen) == 3  # the flatter tree, the slower step, then the faster pilot
    (lr0, auto0, k0, tau0), (lr1, _, _, tau1), (lr2, _, k2, tau2) = seen
    assert lr0 == "auto" and k0 == 2 and tau1 == 2 * tau0  # the estimator's negatives and step
    assert lr1 == pytest.approx(blend.SLOWER * auto0, rel=1e-12)
    assert lr2 == pytest.approx(blend.FASTER[0] * auto0, rel=1e-12) and k2 == blend.FASTER[1] == 8
    assert tau2 == tau1  # the estimator's own tree
    # the model: FASTER's negatives and step factor times its auto rate, its own tree (not the flatter one)
    monkeypatch.setattr(blend, "FASTER_MAX_CLASSES", 0)
    monkeypatch.setattr(blend, "FASTER_MAX_CLASSES_SPARSE", 0)
    plain = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    assert plain.n_negatives_ == 2 and clf.n_negatives_ == 8
    unblended = AdversarialSoftmaxClassifier(centroid_blend=0.0, **kw).fit(X, y)  # no pilots: the auto rate
    assert clf.learning_rate_ == pytest.approx(blend.FASTER[0] * unblended.learning_rate_, rel=1e-12)
    assert clf.tree_.temperature_ == pytest.approx(tau1)
    assert clf.get_params()["n_negatives"] == "auto" and clf.get_params()["learning_rate"] == "auto"
    P = clf.predict_proba(Xt)
    assert np.all(np.isfinite(P)) and np.allclose(P.sum(axis=1), 1.0)
    # reproducible with n_jobs=1
    monkeypatch.setattr(blend, "FASTER_MAX_CLASSES", without)
    monkeypatch.setattr(blend, "FASTER_MAX_CLASSES_SPARSE", without_sparse)
    again = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    np.testing.assert_array_equal(dense(again.coef_), dense(clf.coef_))
    # a later partial_fit keeps the chosen negatives and step
    lr = clf.learning_rate_
    clf.partial_fit(X[:200], y[:200])
    assert clf.n_negatives_ == 8 and clf.learning_rate_ == lr


def test_a_faster_pilot_that_loses_leaves_the_model_bit_for_bit(monkeypatch):
    """The faster pilot draws nothing from the model's generator: where it loses, the model is the one
    trained without it."""
    X, y, Xt, _ = few_rows_data(seed=3)
    monkeypatch.setattr(blend, "FASTER_Z", np.inf)
    seen = _recording(monkeypatch, faster_bonus=False)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2).fit(X, y)
    assert any(k == blend.FASTER[1] for _, _, k, _ in seen)
    monkeypatch.setattr(blend, "FASTER_MAX_CLASSES", 0)
    monkeypatch.setattr(blend, "FASTER_MAX_CLASSES_SPARSE", 0)
    seen.clear()
    plain = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2).fit(X, y)
    assert all(k != blend.FASTER[1] for _, _, k, _ in seen)
    np.testing.assert_array_equal(dense(plain.coef_), dense(clf.coef_))
    np.testing.assert_array_equal(plain.predict_proba(Xt), clf.predict_proba(Xt))
    assert clf.n_negatives_ == plain.n_negatives_ == 2


@pytest.mark.parametrize(
    "case", ["fixed learning rate", "fixed negatives", "many classes", "multi-label", "fixed blend", "many rows"]
)
def test_which_fits_run_the_faster_pilot(monkeypatch, case):
    X, y, _, _ = few_rows_data()
    kw = dict(random_state=0, n_jobs=1, max_iter=2)
    if case == "fixed learning rate":
        kw["learning_rate"] = 0.1
    elif case == "fixed negatives":
        kw["n_negatives"] = 2
    elif case == "many classes":
        monkeypatch.setattr(blend, "FASTER_MAX_CLASSES", len(np.unique(y)) - 1)
        monkeypatch.setattr(blend, "FASTER_MAX_CLASSES_SPARSE", len(np.unique(y)) - 1)
    elif case == "multi-label":
        Y = sp.csr_matrix((np.ones(y.size), (np.arange(y.size), y)), shape=(y.size, y.max() + 1))
        y = Y.toarray().astype(np.int8)
    elif case == "fixed blend":
        kw["centroid_blend"] = 0.0
    elif case == "many rows":  # more than 50 rows per class: one pilot, on a subsample
        X, y, _, _ = few_rows_data(n_classes=20, n_samples=2000)
        assert np.bincount(y).mean() > blend.MAX_ROWS_PER_CLASS
    seen = _recording(monkeypatch, faster_bonus=True)
    real_new_pilot = blend.new_pilot
    made = []
    monkeypatch.setattr(blend, "new_pilot", lambda e, c, *a, **k: made.append(c[2]) or real_new_pilot(e, c, *a, **k))
    clf = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    assert blend.FASTER[1] not in made
    assert clf.n_negatives_ == (2 if case != "many rows" else 3)
    assert all(k != blend.FASTER[1] for _, _, k, _ in seen)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_the_faster_pilot_runs_beside_the_others_and_verbose_says_its_choice(monkeypatch, capsys, n_jobs):
    X, y, _, _ = few_rows_data()
    real = blend.pilot_log_proba
    seen = []

    def recording(pilot, *args):
        seen.append(pilot.n_negatives)
        return real(pilot, *args)

    monkeypatch.setattr(blend, "pilot_log_proba", recording)
    monkeypatch.setattr(blend, "FASTER_Z", -np.inf)  # it wins whatever its log-likelihood
    monkeypatch.setattr(blend, "FASTER_TOP1_Z", np.inf)  # and its top-1
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=n_jobs, max_iter=2, verbose=1).fit(X, y)
    assert sorted(seen) == [2, 2, 2, 8]  # the flatter tree, the slower step, uniform noise, the faster pilot
    assert clf.n_negatives_ == 8 and clf.noise_ == "adversarial"
    out = capsys.readouterr().out
    assert f"learning rate x{blend.FASTER[0]:g}, 8 negatives" in out
    assert "learning rate x16, 8 negatives" in out


def topic_text(n_rows=3000, n_classes=100, vocab=2000, words=30, mix=0.1, seed=0):
    """Generated topic text (docs/benchmarks.rst, stop 42): each document ``words`` words from a common
    background distribution and, with probability ``mix`` each, its class's topic; sublinear tf-idf."""
    from sklearn.feature_extraction.text import TfidfTransformer

    rng = np.random.default_rng(seed)
    background = rng.dirichlet(np.full(vocab, 0.05))
    topics = rng.dirichlet(np.full(vocab, 0.02), size=n_classes)
    y = rng.integers(0, n_classes, size=n_rows)
    n_topic = rng.binomial(words, mix, size=n_rows)
    cols = [
        np.concatenate([rng.choice(vocab, size=words - k, p=background), rng.choice(vocab, size=k, p=topics[c])])
        for k, c in zip(n_topic, y, strict=True)
    ]
    counts = sp.csr_matrix(
        (np.ones(n_rows * words), (np.repeat(np.arange(n_rows), words), np.concatenate(cols))), shape=(n_rows, vocab)
    )
    counts.sum_duplicates()
    return TfidfTransformer(sublinear_tf=True).fit_transform(counts).astype(np.float32).tocsr(), y


def _fit_recording_z(monkeypatch, X, y):
    real, z = blend.faster_wins, []
    monkeypatch.setattr(blend, "faster_wins", lambda a, b, *hits: z.append(blend.paired_z(a - b)) or real(a, b, *hits))
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).fit(X, y)
    monkeypatch.undo()
    return clf, z


def test_the_faster_pilot_wins_on_topic_text_and_the_model_is_more_accurate(monkeypatch):
    """Unpatched: on topic text the pilot's held-out log-likelihood passes the bar, the model trains with its
    step and negatives, and it is more accurate on new rows than the model without that pilot."""
    X, y = topic_text()
    n = 2250
    clf, z = _fit_recording_z(monkeypatch, X[:n], y[:n])
    assert len(z) == 1 and z[0] > blend.FASTER_Z
    assert clf.n_negatives_ == blend.FASTER[1]
    unblended = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, centroid_blend=0.0).fit(X[:n], y[:n])
    assert clf.learning_rate_ == pytest.approx(blend.FASTER[0] * unblended.learning_rate_, rel=1e-12)
    monkeypatch.setattr(blend, "FASTER_MAX_CLASSES", 0)
    monkeypatch.setattr(blend, "FASTER_MAX_CLASSES_SPARSE", 0)
    without = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).fit(X[:n], y[:n])
    assert without.n_negatives_ == 2
    assert np.mean(clf.predict(X[n:]) == y[n:]) > np.mean(without.predict(X[n:]) == y[n:])


def test_the_faster_pilot_loses_on_a_hierarchy_of_dense_features(monkeypatch):
    """Unpatched: on the generated hierarchy (dense features, where 16 times the step loses) the pilot's
    held-out log-likelihood is clearly lower, and the model keeps its step and 2 negatives."""
    X, y, _, _ = few_rows_data()
    clf, z = _fit_recording_z(monkeypatch, X, y)
    assert len(z) == 1 and z[0] < 0
    assert clf.n_negatives_ == 2


def test_side_by_side_pilots_start_with_the_faster_one_and_choose_as_one_thread_does(monkeypatch):
    """Side by side, the faster pilot (4 times the negatives: the longest) is queued first, so that the others
    fill the other thread while it trains (stop 48); the choice, whichever pilot wins, is that of one thread."""
    X, y, _, _ = few_rows_data()
    queued = []
    real = blend.fan_out_pipelined

    def recording(first, then, items, n_threads):
        items = list(items)
        queued.append([candidate[2] for candidate in items])
        return real(first, then, items, n_threads)

    monkeypatch.setattr(blend, "fan_out_pipelined", recording)
    monkeypatch.setattr(blend, "FASTER_TOP1_Z", np.inf)  # no top-1 veto
    for z in (np.inf, -np.inf):  # the faster pilot never wins, always wins
        monkeypatch.setattr(blend, "FASTER_Z", z)
        chosen = []
        for n_jobs in (1, 2):
            clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=n_jobs, max_iter=2).fit(X, y)
            chosen.append((
                clf.centroid_blend_, clf.score_temperature_, clf.tree_.temperature_, clf.learning_rate_,
                clf.n_negatives_, tuple(clf.top_label_calibration_),
            ))  # fmt: skip
        assert chosen[0] == chosen[1]
        assert chosen[0][4] == (blend.FASTER[1] if z < 0 else 2)
    # n_jobs=2: the flatter tree's and the slower step's pilots after it (uniform noise's in the background)
    assert queued == [[blend.FASTER[1], None, None]] * 2


@pytest.mark.parametrize("weights", ["dense", "sparse"])
def test_when_the_faster_pilot_wins_the_start_is_chosen_again_for_its_negatives(monkeypatch, weights):
    """Stop 65: the centroid start's scale is chosen by Eq. 6's held-out loss for the negatives per example, before
    the pilots run (2 here). When the faster pilot wins (8 negatives), the model starts again with the start chosen
    for 8, as that pilot did; with ``init="zeros"`` nothing starts again."""
    import skxc._start as start_module
    import skxc._training as training

    X, y, Xt, _ = few_rows_data()
    monkeypatch.setattr(blend, "UNIFORM_MAX_CLASSES", 0)
    _recording(monkeypatch, faster_bonus=True)
    real = start_module.held_out_start
    starts = []  # (negatives, scale) of every start chosen, the pilots' included, in order

    def recording(X_held, codes_held, sums, centre, tree, n_negatives, *args):
        scale, bias = real(X_held, codes_held, sums, centre, tree, n_negatives, *args)
        starts.append((n_negatives, scale))
        return scale, bias

    monkeypatch.setattr(start_module, "held_out_start", recording)
    kw = dict(random_state=0, n_jobs=1, max_iter=3, weights=weights)
    clf = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    assert clf.n_negatives_ == blend.FASTER[1]
    # the model's own start first (2 negatives), then the pilots' (the faster one's with 8), then the model's again
    assert starts[0][0] == 2 and any(k == blend.FASTER[1] for k, _ in starts[1:-1])
    assert starts[-1] == (blend.FASTER[1], clf.init_scale_) and clf.init_scale_ > 0
    assert clf.noise_ == "adversarial"
    n_starts = len(starts)  # the model's two and one per pilot
    P = clf.predict_proba(Xt)
    assert np.all(np.isfinite(P)) and np.allclose(P.sum(axis=1), 1.0)
    # without the restart the model keeps the start chosen for 2 negatives
    monkeypatch.setattr(training, "RESTART_NEGATIVES", False)
    starts.clear()
    kept = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    assert kept.n_negatives_ == blend.FASTER[1] and kept.init_scale_ == starts[0][1] and len(starts) == n_starts - 1
    # reproducible with n_jobs=1
    monkeypatch.setattr(training, "RESTART_NEGATIVES", True)
    again = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    np.testing.assert_array_equal(dense(again.coef_), dense(clf.coef_))
    np.testing.assert_array_equal(again.intercept_, clf.intercept_)
    # no start to choose again: init="zeros"
    starts.clear()
    zeros = AdversarialSoftmaxClassifier(init="zeros", **kw).fit(X, y)
    assert zeros.n_negatives_ == blend.FASTER[1] and zeros.init_scale_ == 0.0
    assert all(k == blend.FASTER[1] or k == 2 for k, _ in starts)  # the pilots' (init="centroid") only
