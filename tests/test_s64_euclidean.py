"""The centroid blend's Euclidean rule (stop 64, ``skxc._blend.euclidean_parts``): the nearest class mean as linear
scores against NumPy references, the held-out test that chooses it over the cosine rule, the blend term it folds into
a model, and the estimator's choice (``centroid_metric_``) on dense rows where the rows' norms tell the classes apart."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import skxc._blend as blend
from skxc import AdversarialSoftmaxClassifier
from skxc._blend import COSINE, EUCLIDEAN, blend_term, euclidean_parts, euclidean_scores, euclidean_wins


def reference_parts(X, codes, n_classes, w, rows):
    """Weighted class means by np.add.at, a rowless class at the mean of the others, both parts centred."""
    X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
    sums = np.zeros((n_classes, X.shape[1]))
    np.add.at(sums, codes[rows], w[rows, None] * X[rows])
    counts = np.bincount(codes[rows], weights=w[rows], minlength=n_classes)
    has = counts > 0
    m = np.zeros_like(sums)
    m[has] = sums[has] / counts[has, None]
    b = -0.5 * np.sum(m**2, axis=1)
    m[~has] = m[has].mean(axis=0)
    b[~has] = b[has].mean()
    return m - m.mean(axis=0), b - b.mean()


@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_euclidean_parts_match_a_numpy_reference(layout):
    """Weighted means of the rows given (a class without rows among them: the others' mean), minus half their squared
    norms, centred over the classes; also when the rows span several of the blocks it reads."""
    rng = np.random.default_rng(0)
    n, n_features, n_classes = 40_000, 110, 37  # 110 features: 38,130 rows a block, so two blocks
    X = rng.normal(size=(n, n_features)).astype(np.float32)
    codes = rng.integers(0, n_classes - 2, size=n)  # the last two classes have no rows
    w = rng.uniform(0.5, 2.0, size=n)
    rows = np.sort(rng.choice(n, size=39_000, replace=False))
    Xin = sp.csr_matrix(X) if layout == "csr" else X
    T, b = euclidean_parts(Xin, codes, n_classes, w, rows=rows)
    T_ref, b_ref = reference_parts(X, codes, n_classes, w, rows)
    np.testing.assert_allclose(T, T_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b, b_ref, rtol=1e-9, atol=1e-12)


def test_euclidean_scores_rank_by_distance_to_the_class_means():
    """For classes with rows, score differences are half the differences of squared distances to the means, over
    r^2: the top class is the nearest mean."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 8)) * rng.uniform(0.2, 3.0, size=(300, 1))
    codes = np.arange(300) % 12
    w = np.ones(300)
    T, b = euclidean_parts(X, codes, 12, w)
    m = np.stack([X[codes == c].mean(axis=0) for c in range(12)])
    Xq = rng.normal(size=(25, 8))
    unit = 1.7
    E = euclidean_scores(Xq, T, b, unit)
    d2 = ((Xq[:, None, :] - m[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_allclose(E - E[:, :1], -(d2 - d2[:, :1]) / (2 * unit**2), atol=1e-10)
    np.testing.assert_array_equal(np.argmax(E, axis=1), np.argmin(d2, axis=1))


def norm_classes(n_per_class=12, n_dirs=10, n_scales=4, n_features=16, seed=0, noise=0.15):
    """Dense rows whose classes share directions and differ in scale: cosine centroids cannot tell classes of one
    direction apart, Euclidean ones can."""
    rng = np.random.default_rng(seed)
    dirs = rng.normal(size=(n_dirs, n_features))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    scales = 2.0 ** np.arange(n_scales)
    means = (dirs[:, None, :] * scales[None, :, None]).reshape(-1, n_features)
    y = np.repeat(np.arange(means.shape[0]), n_per_class)
    X = means[y] + noise * rng.normal(size=(y.size, n_features)) * scales[y % n_scales, None]
    perm = rng.permutation(y.size)
    return X[perm].astype(np.float32), y[perm]


def held_out_rule_scores(X, y, n_fit):
    """Both rules' scores of rows ``n_fit:`` against centroids of the first ``n_fit`` rows, as the choice scores them."""
    from skxc._blend import centroid_scores
    from skxc._start import rms_row_norm, unit_centroids

    w = np.ones(y.size)
    fit = np.arange(n_fit)
    unit = rms_row_norm(X)
    mu, centre = unit_centroids(X, y, y.max() + 1, w, rows=fit)
    S = centroid_scores(X[n_fit:], mu, centre, unit)
    T, b = euclidean_parts(X, y, y.max() + 1, w, rows=fit)
    return S, euclidean_scores(X[n_fit:], T, b, unit)


def test_euclidean_wins_where_norms_separate_the_classes_and_not_otherwise():
    """The test passes where classes differ in scale along shared directions; it fails where the rows are unit length
    with classes of one scale (cosine as good) and where the scores are the same."""
    X, y = norm_classes()
    S, E = held_out_rule_scores(X, y, 360)
    assert np.mean(np.argmax(E, 1) == y[360:]) > np.mean(np.argmax(S, 1) == y[360:]) + 0.3
    assert euclidean_wins(E, S, y[360:])
    assert not euclidean_wins(S, S, y[360:])  # identical scores: no gain
    assert not euclidean_wins(S, E, y[360:])  # the other way round: the cosine rule is the better one
    X, y = norm_classes(n_scales=1, n_dirs=40, noise=0.5)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    S, E = held_out_rule_scores(X, y, 360)
    assert not euclidean_wins(E, S, y[360:])


def test_the_euclidean_blend_term_adds_beta_times_the_rule_to_the_scores():
    """Folded into a zero model: x.coef_c + intercept_c = beta (x.T_c + b_c) / r^2, all in the weights and intercepts
    (no common term)."""
    from skxc._blend import apply_blend_term
    from skxc._start import rms_row_norm

    X, y = norm_classes(n_per_class=5)
    n_classes, beta = y.max() + 1, 16.0
    parts = blend_term(X, y, np.ones(y.size), n_classes, beta, kind=EUCLIDEAN)
    assert not parts["common"].any()
    coef = np.zeros((n_classes, X.shape[1]), dtype=np.float32)
    intercept = np.zeros(n_classes, dtype=np.float32)
    coef, _, _ = apply_blend_term(coef, intercept, parts, 1.0)
    T, b = euclidean_parts(X, y, n_classes, np.ones(y.size))
    expected = beta * euclidean_scores(X[:50], T, b, rms_row_norm(X))
    np.testing.assert_allclose(X[:50] @ coef.T + intercept, expected, rtol=1e-4, atol=1e-3)
    # taken out again: zero
    apply_blend_term(coef, intercept, parts, -1.0)
    assert np.abs(coef).max() < 1e-5 and np.abs(intercept).max() < 1e-4


def test_fit_chooses_the_euclidean_rule_where_held_out_rows_prefer_it(monkeypatch):
    """ "auto" on dense rows whose classes differ in scale: centroid_metric_ "euclidean" with a centroid term. With
    ``EUCLIDEAN_Z`` None: "cosine", and top-1 on held-out rows is lower."""
    X, y = norm_classes(n_per_class=30, n_dirs=12, n_scales=4, seed=2)
    rng = np.random.default_rng(3)
    test = rng.permutation(y.size)[:300]
    train = np.setdiff1d(np.arange(y.size), test)
    Xt, yt = X[test], y[test]
    X, y = X[train], y[train]
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=3).fit(X, y)
    assert clf.centroid_metric_ == EUCLIDEAN and clf.centroid_blend_ > 0
    acc = np.mean(clf.predict(Xt) == yt)
    monkeypatch.setattr(blend, "EUCLIDEAN_Z", None)
    cos = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=3).fit(X, y)
    assert cos.centroid_metric_ == COSINE
    assert acc > np.mean(cos.predict(Xt) == yt)


def test_sparse_rows_and_fixed_beta_keep_the_cosine_rule(monkeypatch, text_like):
    """Sparse (not mostly dense) rows never compute the Euclidean rule; a fixed centroid_blend uses the cosine one;
    a model without a term says "cosine"."""
    X, y = text_like[:2]

    def refuse(*args, **kwargs):
        raise AssertionError("the Euclidean rule was computed")

    monkeypatch.setattr(blend, "euclidean_parts", refuse)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2).fit(X, y)
    assert clf.centroid_metric_ == COSINE
    Xd, yd = norm_classes(n_per_class=30, n_dirs=12, n_scales=4, seed=2)
    fixed = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2, centroid_blend=16.0).fit(Xd, yd)
    assert fixed.centroid_metric_ == COSINE and fixed.centroid_blend_ == 16.0
    none = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2, centroid_blend=0.0).fit(Xd, yd)
    assert none.centroid_metric_ == COSINE


@pytest.mark.parametrize("unit_rows", [False, True])
def test_held_out_scores_screen_then_test_the_euclidean_rule(monkeypatch, unit_rows):
    """``held_out_scores`` returns the Euclidean rule's scores and ``EUCLIDEAN`` where the classes differ in scale;
    on unit-length rows of one scale the rule fails the screen on the log-likelihood's rows, so the full test
    (``euclidean_wins``) does not run, and the cosine scores come back."""
    X, y = norm_classes(
        n_per_class=20, n_dirs=12, n_scales=1 if unit_rows else 4, seed=4, noise=0.5 if unit_rows else 0.15
    )
    if unit_rows:
        X /= np.linalg.norm(X, axis=1, keepdims=True)
    tested = []
    real = blend.euclidean_wins
    monkeypatch.setattr(blend, "euclidean_wins", lambda *args: tested.append(1) or real(*args))
    n = y.size
    split = (np.arange(0, n - 200), np.arange(n - 200, n))
    seed, held, X_held, S, trained, kind = blend.held_out_scores(
        X, y, np.ones(n), split, y.max() + 1, np.random.default_rng(0)
    )
    if unit_rows:
        assert kind == COSINE and tested == []
    else:
        assert kind == EUCLIDEAN and tested == [1]
        from skxc._start import rms_row_norm

        T, b = euclidean_parts(X, y, y.max() + 1, np.ones(n), rows=trained)
        np.testing.assert_allclose(S, euclidean_scores(X_held, T, b, rms_row_norm(X)), rtol=1e-12)


def test_a_euclidean_blended_model_pickles_and_trains_on():
    """The Euclidean term's model round-trips through pickle with the same probabilities; ``partial_fit`` after
    ``fit`` trains under the term (taken out and added back, as the cosine one) and keeps the rule."""
    import pickle

    X, y = norm_classes(n_per_class=30, n_dirs=12, n_scales=4, seed=2)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=3).fit(X, y)
    assert clf.centroid_metric_ == EUCLIDEAN
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X[:50]), clf.predict_proba(X[:50]))
    assert again.centroid_metric_ == EUCLIDEAN
    before = clf.predict(X)
    clf.partial_fit(X[:200], y[:200])
    assert clf.centroid_metric_ == EUCLIDEAN and np.isfinite(clf.predict_proba(X[:50])).all()
    assert np.mean(clf.predict(X) == before) > 0.9  # one more pass under the term, not a different model
