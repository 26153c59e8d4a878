"""AdversarialSoftmaxClassifier: invariants, scikit-learn integration, accuracy."""

from __future__ import annotations

import copy
import pickle
import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import NOISES, to_csr
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp, softmax
from sklearn.base import clone
from sklearn.decomposition import TruncatedSVD
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

import skxc._solver as solver
from skxc import AdversarialSoftmaxClassifier, AuxiliaryTree
from skxc.datasets import make_hierarchical_classification

SPARSE = [pytest.param(False, id="dense"), pytest.param(True, id="csr")]


def _X(X, sparse):
    return to_csr(X) if sparse else X


def assert_same_model(a, b):
    assert_array_equal(a.coef_, b.coef_)
    assert_array_equal(a.intercept_, b.intercept_)
    assert_array_equal(a._adagrad_state.coef_sums, b._adagrad_state.coef_sums)
    assert_array_equal(a._adagrad_state.factor_sums, b._adagrad_state.factor_sums)
    assert_array_equal(a._adagrad_state.intercept_sums, b._adagrad_state.intercept_sums)
    assert_array_equal(a.tree_.node_weight_, b.tree_.node_weight_)
    assert_array_equal(a.tree_.node_bias_, b.tree_.node_bias_)
    assert a.loss_curve_ == b.loss_curve_
    assert a.t_ == b.t_


# -- prediction invariants -------------------------------------------------------------


@pytest.mark.parametrize("noise", NOISES)
@pytest.mark.parametrize("sparse", SPARSE)
def test_predict_proba_invariants(fitted, data, noise, sparse):
    clf = fitted(noise, sparse)
    X = _X(data[2], sparse)
    proba = clf.predict_proba(X)
    assert proba.shape == (X.shape[0], len(clf.classes_)) and proba.dtype == np.float64
    assert np.all(proba >= 0)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    pred = clf.predict(X)
    assert_array_equal(pred, clf.classes_[np.argmax(proba, axis=1)])
    assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-10, atol=1e-12)
    scores = clf.decision_function(X)
    assert scores.shape == proba.shape
    assert_allclose(softmax(scores, axis=1), proba, rtol=1e-10, atol=1e-15)
    assert clf.score(X, data[3]) > 0.5


@pytest.mark.parametrize("noise", NOISES)
@pytest.mark.parametrize("sparse", SPARSE)
def test_decision_function_removes_the_sampling_bias(fitted, data, noise, sparse):
    """Theorem 1 / Eq. 5: scores = xi_y(x) + log p_n(y|x) with xi = coef_ x + intercept_."""
    clf = fitted(noise, sparse)
    X = _X(data[2], sparse)
    X64 = data[2].astype(np.float32).astype(np.float64)
    xi = X64 @ clf.coef_.T.astype(np.float64) + clf.intercept_
    assert_allclose(clf.decision_function(X), xi + clf.tree_.predict_log_proba(X), rtol=1e-5, atol=1e-5)


def test_predict_proba_extreme_scores(fitted, data):
    clf = copy.deepcopy(fitted("frequency"))
    clf.intercept_[:] = 0.0
    clf.intercept_[0] = 3e38
    clf.intercept_[1] = -3e38
    clf.intercept_[2] = 1e5
    X = data[2][:5]
    proba = clf.predict_proba(X)
    assert np.all(np.isfinite(proba))
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_array_equal(proba[:, 0], 1.0)
    assert_array_equal(clf.predict(X), np.repeat(clf.classes_[0], 5))
    log_proba = clf.predict_log_proba(X)
    assert np.all(np.isfinite(log_proba)) and np.all(log_proba <= 0)
    assert_allclose(logsumexp(log_proba, axis=1), 0.0, atol=1e-12)
    # huge finite scores of both signs in every row
    clf.coef_[:] = 0.0
    clf.coef_[:, 0] = np.linspace(-1e6, 1e6, len(clf.classes_))
    clf.intercept_[:] = 0.0
    X = np.zeros((3, data[2].shape[1]))
    X[:, 0] = [1.0, -1.0, 1e-3]
    proba = clf.predict_proba(X)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_array_equal(np.argmax(proba, axis=1), [len(clf.classes_) - 1, 0, len(clf.classes_) - 1])


@pytest.mark.parametrize("noise", NOISES)
@pytest.mark.parametrize("sparse", SPARSE)
def test_predict_top_k_consistent_with_predict_proba(fitted, data, noise, sparse):
    clf = fitted(noise, sparse)
    X = _X(data[2], sparse)
    proba = clf.predict_proba(X)
    n_classes = len(clf.classes_)
    for k in (1, 3, n_classes):
        top = clf.predict_top_k(X, k=k)
        assert top.shape == (X.shape[0], k)
        codes = np.searchsorted(clf.classes_, top)
        assert_array_equal(clf.classes_[codes], top)
        p = np.take_along_axis(proba, codes, axis=1)
        assert np.all(np.diff(p, axis=1) <= 1e-12)  # most probable first
        kth = np.sort(proba, axis=1)[:, ::-1][:, k - 1]
        assert_allclose(p[:, -1], kth, rtol=1e-9)  # the k largest, nothing skipped
        assert all(len(set(row)) == k for row in codes)
    assert_array_equal(clf.predict_top_k(X, k=1)[:, 0], clf.predict(X))


def test_binary_decision_function_is_log_odds(data):
    X, y = data[0], (data[1] >= 5).astype(int)
    clf = AdversarialSoftmaxClassifier(noise="frequency", max_iter=5, tol=None, random_state=0).fit(X, y)
    scores = clf.decision_function(data[2])
    assert scores.shape == (data[2].shape[0],)
    proba = clf.predict_proba(data[2])
    assert_allclose(scores, np.log(proba[:, 1] / proba[:, 0]), rtol=1e-9, atol=1e-9)
    assert_array_equal(clf.predict(data[2]), clf.classes_[(scores > 0).astype(int)])


@pytest.mark.parametrize("sparse", SPARSE)
def test_prediction_in_blocks_and_threads(fitted, data, sparse, monkeypatch):
    """Row blocks (and threads over blocks) give the same results as one block."""
    import skxc._predict as predict_module
    from skxc._validation import mostly_dense

    clf = fitted("adversarial", sparse)
    X = _X(np.vstack([data[2]] * 3), sparse)
    expected = (clf.predict_proba(X), clf.predict(X), clf.predict_top_k(X, 3), clf.decision_function(X))
    monkeypatch.setattr(predict_module, "PREDICT_BLOCK_BYTES", 7 * 8 * len(clf.classes_))
    assert predict_module.block_rows(len(clf.classes_), len(clf.tree_.leaf_class_)) < X.shape[0] // 10
    for n_jobs in (1, 2):
        other = copy.deepcopy(clf).set_params(n_jobs=n_jobs)
        got = (other.predict_proba(X), other.predict(X), other.predict_top_k(X, 3), other.decision_function(X))
        assert_array_equal(got[1], expected[1])
        assert_array_equal(got[2], expected[2])
        # dense scores (dense X, and CSR X dense enough to be scored as dense blocks) are a float32 BLAS
        # product whose rounding can depend on the block shape (OpenBLAS on some CPUs: by the rows' place in
        # its tiles): an absolute error of a few float32 ulps of the largest scores (~1e-5 here)
        blas = mostly_dense(X)
        tol = dict(rtol=1e-4, atol=1e-9) if blas else dict(rtol=0, atol=0)
        assert_allclose(got[0], expected[0], **tol)
        assert_allclose(got[3], expected[3], **tol)


# -- determinism, dense == CSR -----------------------------------------------------------


@pytest.mark.parametrize("noise", NOISES)
@pytest.mark.parametrize("sparse", SPARSE)
def test_same_seed_same_model(data, noise, sparse):
    X, y = _X(data[0], sparse), data[1]
    params = dict(noise=noise, max_iter=3, tol=None, n_components=4, n_jobs=1)
    a = AdversarialSoftmaxClassifier(random_state=7, **params).fit(X, y)
    b = AdversarialSoftmaxClassifier(random_state=7, **params).fit(X, y)
    assert_same_model(a, b)
    c = AdversarialSoftmaxClassifier(random_state=8, **params).fit(X, y)
    assert not np.array_equal(a.coef_, c.coef_)


@pytest.mark.usefixtures("sparse_paths")
@pytest.mark.parametrize("noise", ["uniform", "frequency"])
def test_dense_equals_csr_exactly_for_unconditional_noise(fitted, data, noise):
    """With a noise tree that ignores x, training visits the same non-zeros in the same
    order, draws the same negatives, and skips zero features in its updates; dense
    zeros add exact zeros to the scores. Only the float64 score sums may round
    differently (fastmath lets numba vectorise the dense loop), far below float32
    resolution: the models agree to float32 rounding (on this data, bitwise)."""
    dense, csr = fitted(noise, False), fitted(noise, True)
    from skxc._validation import mostly_dense

    # sparse X's weights are laid out by feature, unless its rows are mostly dense (as these are)
    assert dense.coef_.flags.c_contiguous
    assert csr.coef_.flags.c_contiguous if mostly_dense(to_csr(data[0])) else csr.coef_.flags.f_contiguous
    assert_allclose(dense.coef_, csr.coef_, rtol=1e-6, atol=1e-7)
    assert_allclose(dense.intercept_, csr.intercept_, rtol=1e-6, atol=1e-7)
    assert_allclose(dense.loss_curve_, csr.loss_curve_, rtol=1e-12)
    X = data[2]
    assert_array_equal(dense.predict(X), csr.predict(to_csr(X)))
    # dense scores are a float32 matrix product, CSR scores accumulate in float64
    assert_allclose(dense.predict_proba(X), csr.predict_proba(to_csr(X)), rtol=1e-5, atol=1e-7)


def test_dense_and_csr_agree_for_adversarial_noise(fitted, data):
    """The adversarial tree is fitted on PCA (dense) or TruncatedSVD (CSR) projections,
    so the two models differ; their predictions still agree closely."""
    dense, csr = fitted("adversarial", False), fitted("adversarial", True)
    X, y = data[2], data[3]
    agree = np.mean(dense.predict(X) == csr.predict(to_csr(X)))
    assert agree >= 0.85  # 0.91 here
    assert abs(dense.score(X, y) - csr.score(to_csr(X), y)) <= 0.05


def test_zero_sample_weight_equals_removing_rows(data, container):
    """Rows of weight 0 are skipped without drawing negatives (shuffle=False)."""
    X, y = data[0], data[1]
    keep = np.arange(len(y)) % 3 != 0
    params = dict(noise="frequency", max_iter=3, tol=None, shuffle=False, random_state=0)
    weighted = AdversarialSoftmaxClassifier(**params).fit(container(X), y, sample_weight=keep.astype(float))
    subset = AdversarialSoftmaxClassifier(**params).fit(container(X[keep]), y[keep])
    assert_array_equal(weighted.coef_, subset.coef_)
    assert_array_equal(weighted.intercept_, subset.intercept_)
    assert_allclose(weighted.loss_curve_, subset.loss_curve_, rtol=1e-12)


def test_sample_weight_scales_the_loss(data):
    X, y = data[0], data[1]
    params = dict(noise="uniform", max_iter=2, tol=None, random_state=0)
    w = np.full(len(y), 1e4)
    a = AdversarialSoftmaxClassifier(**params).fit(X, y, sample_weight=2 * w)
    b = AdversarialSoftmaxClassifier(**params).fit(X, y, sample_weight=w)
    c = AdversarialSoftmaxClassifier(**params).fit(X, y)
    # A weight c scales every gradient by c; Adagrad's step g / sqrt(init + sum g^2) is
    # invariant to that scale once c^2 dwarfs the initial accumulator (1), not at c ~ 1.
    assert_allclose(a.coef_, b.coef_, rtol=1e-3, atol=1e-4)
    assert np.abs(b.coef_ - c.coef_).max() > 1e-2
    assert_allclose(a.loss_curve_[0], b.loss_curve_[0], rtol=1e-6)  # weighted *mean*


# -- partial_fit, warm_start -----------------------------------------------------------


@pytest.mark.parametrize("noise", NOISES)
def test_partial_fit_epochs_equal_fit(data, container, noise):
    """partial_fit steps with a constant step size: as fit with learning_rate_schedule="constant"."""
    X, y = container(data[0]), data[1]
    params = dict(noise=noise, shuffle=False, tol=None, random_state=0, n_components=4)
    by_fit = AdversarialSoftmaxClassifier(max_iter=3, learning_rate_schedule="constant", **params).fit(X, y)
    by_partial = AdversarialSoftmaxClassifier(**params)
    for _ in range(3):
        by_partial.partial_fit(X, y, classes=np.unique(y))
    assert_same_model(by_fit, by_partial)
    assert by_fit.n_iter_ == by_partial.n_iter_ == 3
    assert by_partial.t_ == 3 * X.shape[0]


def test_partial_fit_draws_fresh_negatives(data, monkeypatch):
    X, y = data[0], data[1]
    states = []
    kernel = solver.negative_sampling_epoch

    def spy(*args):
        states.append(int(args[-4][0]))  # the xorshift state the epoch starts from (before out_stats and scratch)
        return kernel(*args)

    monkeypatch.setattr(solver, "negative_sampling_epoch", spy)
    clf = AdversarialSoftmaxClassifier(noise="uniform", shuffle=False, random_state=0)
    clf.partial_fit(X, y, classes=np.unique(y))
    replay = copy.deepcopy(clf)
    clf.partial_fit(X, y)
    assert len(states) == 2 and states[0] != states[1]
    # replaying the first call's negatives on the same batch gives a different model
    monkeypatch.setattr(solver, "seed_states", lambda rng, n: np.full((n, 1), states[0], dtype=np.uint64))
    replay.partial_fit(X, y)
    assert not np.array_equal(clf.coef_, replay.coef_)


@pytest.mark.parametrize("noise", ["uniform", "adversarial"])
def test_warm_start_continues_training(data, container, noise):
    X, y = container(data[0]), data[1]
    params = dict(noise=noise, tol=None, random_state=0, n_components=4, learning_rate_schedule="constant")
    cold = AdversarialSoftmaxClassifier(max_iter=5, **params).fit(X, y)
    warm = AdversarialSoftmaxClassifier(max_iter=3, warm_start=True, **params).fit(X, y)
    tree = warm.tree_
    warm.set_params(max_iter=2).fit(X, y)
    assert warm.tree_ is tree  # the noise model is kept
    assert_same_model(cold, warm)
    assert warm.n_iter_ == 2 and len(warm.loss_curve_) == 5


def test_linear_schedule_restarts_with_each_warm_fit(data, monkeypatch):
    """learning_rate_schedule="linear": each fit's epochs step from learning_rate_ down to 0 over its max_iter."""
    X, y = data[0], data[1]
    seen = []
    epoch = solver.sgd_epoch

    def spy(*args, **kwargs):
        seen.append(args[-1])  # the epoch's step sizes (first row, after the last row)
        return epoch(*args, **kwargs)

    monkeypatch.setattr(solver, "sgd_epoch", spy)
    clf = AdversarialSoftmaxClassifier(noise="uniform", max_iter=4, tol=None, warm_start=True, random_state=0)
    clf.fit(X, y)
    rho = clf.learning_rate_
    assert_allclose(seen, [(rho, 0.75 * rho), (0.75 * rho, 0.5 * rho), (0.5 * rho, 0.25 * rho), (0.25 * rho, 0.0)])
    clf.set_params(max_iter=2).fit(X, y)
    assert_allclose(seen[4:], [(rho, 0.5 * rho), (0.5 * rho, 0.0)])
    clf.partial_fit(X, y)
    assert_allclose(seen[6:], [(rho, rho)])
    const = AdversarialSoftmaxClassifier(noise="uniform", max_iter=2, learning_rate_schedule="constant", random_state=0)
    const.fit(X, y)
    assert_allclose(seen[7:], [(rho, rho)] * 2)


def test_linear_schedule_trains_a_different_reproducible_model(data):
    X, y = data[0], data[1]
    params = dict(noise="adversarial", max_iter=3, n_components=4, random_state=0, n_jobs=1)
    a = AdversarialSoftmaxClassifier(**params).fit(X, y)
    b = AdversarialSoftmaxClassifier(**params).fit(X, y)
    c = AdversarialSoftmaxClassifier(learning_rate_schedule="constant", **params).fit(X, y)
    assert_same_model(a, b)
    assert not np.allclose(a.coef_, c.coef_)


def test_without_warm_start_refit_starts_over(data):
    X, y = data[0], data[1]
    params = dict(noise="uniform", tol=None, random_state=0, max_iter=2)
    once = AdversarialSoftmaxClassifier(**params).fit(X, y)
    twice = AdversarialSoftmaxClassifier(**params).fit(X, y).fit(X, y)
    assert_same_model(once, twice)


def test_warm_start_with_other_classes_raises(data):
    """(A restart before stop 30; tests/test_s30_stream.py checks the model stays as it was.)"""
    X, y = data[0], data[1]
    clf = AdversarialSoftmaxClassifier(noise="uniform", max_iter=2, tol=None, warm_start=True, random_state=0)
    clf.fit(X, y)
    keep = y < 5
    with pytest.raises(ValueError, match="warm_start=True"):
        clf.fit(X[keep], y[keep])
    clf.set_params(warm_start=False).fit(X[keep], y[keep])  # a new model
    assert clf.coef_.shape == (5, X.shape[1])
    assert_array_equal(clf.classes_, np.arange(5))
    assert len(clf.loss_curve_) == 2


# -- labels ----------------------------------------------------------------------------


@pytest.mark.parametrize("sparse", SPARSE)
def test_string_labels(data, sparse):
    names = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"])
    X, y = _X(data[0], sparse), names[data[1]]
    clf = AdversarialSoftmaxClassifier(max_iter=5, tol=None, random_state=0, n_components=4).fit(X, y)
    assert_array_equal(clf.classes_, np.sort(np.unique(y)))
    pred = clf.predict(_X(data[2], sparse))
    assert pred.dtype.kind == "U" and np.all(np.isin(pred, clf.classes_))
    assert clf.score(_X(data[2], sparse), names[data[3]]) > 0.5
    top = clf.predict_top_k(_X(data[2], sparse), k=2)
    assert top.dtype.kind == "U"
    # object labels and partial_fit with string classes
    pf = AdversarialSoftmaxClassifier(noise="uniform", random_state=0)
    pf.partial_fit(X, y.astype(object), classes=list(names))
    pf.partial_fit(X[:50], y[:50])
    assert set(pf.predict(X)) <= set(names)


def test_labels_are_sorted_and_probability_columns_follow_classes(data):
    X, y = data[0], data[1]
    # any increasing relabelling gives the same model; columns follow the sorted classes_
    shifted = 100 + 3 * y
    a = AdversarialSoftmaxClassifier(noise="frequency", max_iter=3, tol=None, random_state=0).fit(X, y)
    b = AdversarialSoftmaxClassifier(noise="frequency", max_iter=3, tol=None, random_state=0).fit(X, shifted)
    assert_array_equal(b.classes_, 100 + 3 * a.classes_)
    assert_array_equal(a.coef_, b.coef_)
    assert_array_equal(100 + 3 * a.predict(data[2]), b.predict(data[2]))
    # decreasing labels: still sorted classes_, and predict follows the probability columns
    c = AdversarialSoftmaxClassifier(noise="frequency", max_iter=3, tol=None, random_state=0).fit(X, 100 - 3 * y)
    assert np.all(np.diff(c.classes_) > 0)
    assert_array_equal(c.predict(data[2]), c.classes_[np.argmax(c.predict_proba(data[2]), axis=1)])


# -- scikit-learn integration ----------------------------------------------------------


def _text_corpus(n_docs, seed):
    rng = np.random.default_rng(seed)
    topics = ["sports", "politics", "science", "music", "food", "travel"]
    vocab = {t: [f"{t[:3]}{i}" for i in range(15)] for t in topics}
    common = [f"word{i}" for i in range(40)]
    y = rng.choice(topics, size=n_docs)
    docs = [
        " ".join(rng.choice(vocab[t], size=5).tolist() + rng.choice(common, size=12).tolist() + [rng.choice(topics)])
        for t in y
    ]
    return np.array(docs), y


@pytest.fixture(scope="module")
def corpus():
    docs, y = _text_corpus(480, seed=0)
    return docs[:360], y[:360], docs[360:], y[360:]


def _text_pipeline(**params):
    params = dict(max_iter=10, tol=None, random_state=0, n_components=4) | params
    return make_pipeline(
        TfidfVectorizer(), TruncatedSVD(n_components=20, random_state=0), AdversarialSoftmaxClassifier(**params)
    )


def test_text_pipeline(corpus):
    docs, y, docs_test, y_test = corpus
    pipe = _text_pipeline().fit(docs, y)
    assert pipe.score(docs_test, y_test) > 0.85
    assert_allclose(pipe.predict_proba(docs_test).sum(axis=1), 1.0, rtol=1e-12)
    # straight on the sparse TF-IDF matrix as well
    sparse_pipe = make_pipeline(TfidfVectorizer(), AdversarialSoftmaxClassifier(max_iter=10, tol=None, random_state=0))
    sparse_pipe.fit(docs, y)
    from skxc._validation import mostly_dense

    # feature-major for sparse input, class-major where its rows are mostly dense (this toy vocabulary)
    tfidf = sparse_pipe[0].transform(docs)
    assert sparse_pipe[-1].coef_.flags.f_contiguous != mostly_dense(tfidf)
    assert sparse_pipe.score(docs_test, y_test) > 0.85


def test_grid_search_n_jobs(corpus):
    docs, y = corpus[0], corpus[1]
    grid = GridSearchCV(
        _text_pipeline(max_iter=5),
        {
            "adversarialsoftmaxclassifier__alpha": [1e-3, 1e-2],
            "adversarialsoftmaxclassifier__learning_rate": [0.1, 0.3],
        },
        cv=3,
        n_jobs=2,
        error_score="raise",
    ).fit(docs, y)
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))
    assert grid.best_score_ > 0.8
    assert grid.best_params_["adversarialsoftmaxclassifier__alpha"] in (1e-3, 1e-2)
    assert grid.predict(corpus[2]).shape == (len(corpus[2]),)


def test_clone(fitted):
    clf = fitted("adversarial")
    new = clone(clf)
    assert new.get_params() == clf.get_params()
    assert not hasattr(new, "coef_") and not hasattr(new, "tree_")


@pytest.mark.parametrize("noise", NOISES)
@pytest.mark.parametrize("sparse", SPARSE)
def test_pickle_and_joblib_round_trip(fitted, data, noise, sparse, tmp_path):
    clf = fitted(noise, sparse)
    X = _X(data[2], sparse)
    expected = (clf.predict(X), clf.predict_proba(X), clf.predict_top_k(X, 3))
    pickled = pickle.loads(pickle.dumps(clf))
    joblib.dump(clf, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    for other in (pickled, loaded):
        assert other.coef_.flags.f_contiguous == clf.coef_.flags.f_contiguous
        got = (other.predict(X), other.predict_proba(X), other.predict_top_k(X, 3))
        for a, b in zip(got, expected, strict=True):
            assert_array_equal(a, b)
    # training continues identically after a round trip (the RNG state travels along)
    a, b = copy.deepcopy(clf), pickle.loads(pickle.dumps(clf))
    a.partial_fit(_X(data[0], sparse), data[1])
    b.partial_fit(_X(data[0], sparse), data[1])
    assert_array_equal(a.coef_, b.coef_)


@pytest.mark.parametrize("sparse", SPARSE)
def test_memory_mapped_model(fitted, data, sparse, tmp_path):
    """A model loaded read-only (joblib mmap_mode="r") predicts and keeps training."""
    clf = fitted("adversarial", sparse)
    joblib.dump(clf, tmp_path / "model.joblib")
    mapped = joblib.load(tmp_path / "model.joblib", mmap_mode="r")
    assert not mapped.coef_.flags.writeable
    X = _X(data[2], sparse)
    assert_array_equal(mapped.predict_proba(X), clf.predict_proba(X))
    expected = copy.deepcopy(clf).partial_fit(_X(data[0], sparse), data[1])
    mapped.partial_fit(_X(data[0], sparse), data[1])
    assert_array_equal(mapped.coef_, expected.coef_)
    assert_array_equal(mapped.intercept_, expected.intercept_)


def test_feature_names(data):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(data[0], columns=[f"f{i}" for i in range(data[0].shape[1])])
    clf = AdversarialSoftmaxClassifier(noise="uniform", max_iter=2, tol=None, random_state=0).fit(X, data[1])
    assert_array_equal(clf.feature_names_in_, X.columns)
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(data[2])


# -- training behaviour ------------------------------------------------------------------


def test_convergence_warning_and_tol(data):
    X, y = data[0], data[1]
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        AdversarialSoftmaxClassifier(noise="uniform", max_iter=2, tol=1e-3, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = AdversarialSoftmaxClassifier(noise="uniform", max_iter=200, tol=10.0, random_state=0).fit(X, y)
    assert clf.n_iter_ == 1 + clf.n_iter_no_change  # no epoch improves the loss by 10
    assert len(clf.loss_curve_) == len(clf.hardness_curve_) == clf.n_iter_


def test_early_stopping(data):
    X, y = data[0], data[1]
    clf = AdversarialSoftmaxClassifier(
        noise="uniform", early_stopping=True, validation_fraction=0.2, n_iter_no_change=2, max_iter=50, random_state=0
    ).fit(X, y)
    assert len(clf.validation_scores_) == clf.n_iter_ < 50
    assert all(0.0 <= s <= 1.0 for s in clf.validation_scores_)
    assert clf.t_ == clf.n_iter_ * (len(y) - 60)


def test_verbose(data, capsys):
    AdversarialSoftmaxClassifier(noise="uniform", max_iter=2, tol=None, verbose=1, random_state=0).fit(data[0], data[1])
    out = capsys.readouterr().out
    assert out.count("Epoch") == 2 and "loss" in out


@pytest.mark.parametrize("sparse", SPARSE)
def test_hogwild_threads(data, sparse, monkeypatch):
    """n_jobs=2 trains lock-free on two threads: not bitwise reproducible, but as good."""
    monkeypatch.setattr("skxc._fit.HOGWILD_MIN_CLASSES", 0)  # two threads even for these 10 classes
    X, y = _X(data[0], sparse), data[1]
    params = dict(noise="uniform", max_iter=10, tol=None, random_state=0, n_negatives=3)
    one = AdversarialSoftmaxClassifier(n_jobs=1, **params).fit(X, y)
    two = AdversarialSoftmaxClassifier(n_jobs=2, **params).fit(X, y)
    assert two.t_ == one.t_ and np.all(np.isfinite(two.coef_))
    X_test = _X(data[2], sparse)
    assert two.score(X_test, data[3]) >= one.score(X_test, data[3]) - 0.1


@pytest.mark.parametrize("sparse", SPARSE)
def test_few_classes_train_on_one_thread(data, sparse):
    """Fewer than HOGWILD_MIN_CLASSES classes: n_jobs=2 trains the n_jobs=1 model, bitwise."""
    X, y = _X(data[0], sparse), data[1]
    params = dict(max_iter=3, random_state=0, n_components=4)
    one = AdversarialSoftmaxClassifier(n_jobs=1, **params).fit(X, y)
    two = AdversarialSoftmaxClassifier(n_jobs=2, **params).fit(X, y)
    assert_array_equal(two.coef_, one.coef_)
    assert_array_equal(two.intercept_, one.intercept_)


def test_hardness_curve_is_larger_for_adversarial_noise(fitted):
    """Theorem 2's premise: negatives from the fitted tree are harder than uniform ones."""
    adversarial, uniform = fitted("adversarial"), fitted("uniform")
    assert adversarial.hardness_curve_[-1] > uniform.hardness_curve_[-1]


# -- accuracy ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fifty_classes():
    X, y = make_hierarchical_classification(n_samples=4000, n_features=32, n_classes=50, random_state=0)
    return X[:3000], y[:3000], X[3000:], y[3000:]


@pytest.fixture(scope="module")
def logistic_accuracy(fifty_classes):
    """Exact multinomial softmax regression (0.880 here; 0.889 when run to convergence)."""
    from threadpoolctl import threadpool_limits

    X, y, X_test, y_test = fifty_classes
    with threadpool_limits(1), warnings.catch_warnings():  # 2 BLAS threads are 5x slower on 2 cores
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression().fit(X, y).score(X_test, y_test)


@pytest.mark.parametrize(
    "params",
    [
        # uniform negatives carry little signal: more negatives and epochs than the defaults
        pytest.param(dict(noise="uniform", n_negatives=5, learning_rate=0.1, max_iter=30, tol=None), id="uniform"),
        pytest.param({}, id="adversarial-defaults"),
        pytest.param(dict(adagrad="full"), id="adversarial-full-adagrad"),
    ],
)
def test_accuracy_close_to_logistic_regression(fifty_classes, logistic_accuracy, params):
    X, y, X_test, y_test = fifty_classes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = AdversarialSoftmaxClassifier(random_state=0, **params).fit(X, y)
    accuracy = clf.score(X_test, y_test)
    assert accuracy >= logistic_accuracy - 0.04, (accuracy, logistic_accuracy)


# -- the Adagrad state ---------------------------------------------------------------------


@pytest.mark.parametrize("sparse", SPARSE)
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_factored_adagrad_state(data, sparse, n_jobs, monkeypatch):
    """The factored state is C + K + 1 sums that agree with each other; no C x K accumulator."""
    monkeypatch.setattr("skxc._fit.HOGWILD_MIN_CLASSES", 0)  # n_jobs=2: two threads even for 10 classes
    X, y = _X(data[0], sparse), data[1]
    clf = AdversarialSoftmaxClassifier(max_iter=3, random_state=0, n_components=4, n_jobs=n_jobs).fit(X, y)
    C, K = clf.coef_.shape
    assert clf._adagrad_state.coef_sums.size == 0 and clf._adagrad_state.factor_sums.shape == (C + K + 1,)
    R, S, T = (
        clf._adagrad_state.factor_sums[:C],
        clf._adagrad_state.factor_sums[C:-1],
        clf._adagrad_state.factor_sums[-1],
    )
    assert np.all(R > 0) and T > 0
    # every squared gradient went into one R_c, one S_j and T; two Hogwild threads lose some of the R_c
    # and S_j updates, here with 10 classes and 12 features many (up to 8 % of S's total seen)
    rtol = 1e-9 if n_jobs == 1 else 0.2
    assert_allclose(R.sum(), T, rtol=rtol)
    assert_allclose(S.sum(), T, rtol=rtol)
    assert_array_equal(S[np.asarray((X != 0).sum(axis=0)).ravel() == 0], 0.0)  # features never non-zero


@pytest.mark.parametrize(
    ("noise", "adagrad", "kind"),
    [
        ("adversarial", "auto", "factored"),
        (None, "auto", "full"),
        (None, "factored", "factored"),
        ("uniform", "full", "full"),
    ],
)
def test_adagrad_auto_is_full_only_for_exact_softmax(data, noise, adagrad, kind):
    clf = AdversarialSoftmaxClassifier(noise=noise, adagrad=adagrad, max_iter=1, n_components=4, random_state=0)
    clf.fit(data[0], data[1])
    C, K = clf.coef_.shape
    assert (clf._adagrad_state.coef_sums.shape, clf._adagrad_state.factor_sums.shape) == (
        ((C, K), (0,)) if kind == "full" else ((0, 0), (C + K + 1,))
    )


def test_adagrad_state_converts_when_the_parameter_changes(data):
    """Changing ``adagrad`` before partial_fit converts the state: exact sums one way, R S^T / T the other."""
    X, y = data[0], data[1]
    full = AdversarialSoftmaxClassifier(adagrad="full", max_iter=2, random_state=0, n_components=4).fit(X, y)
    acc = full._adagrad_state.coef_sums.astype(np.float64)
    assert full._adagrad_state.factor_sums.size == 0 and acc.shape == full.coef_.shape
    factored = copy.deepcopy(full).set_params(adagrad="factored")
    factored._adagrad_state = factored._adagrad_state.converted("factored", factored.coef_, "test")
    C = acc.shape[0]
    assert factored._adagrad_state.coef_sums.size == 0
    assert_allclose(factored._adagrad_state.factor_sums[:C], acc.sum(axis=1), rtol=1e-6)
    assert_allclose(factored._adagrad_state.factor_sums[C:-1], acc.sum(axis=0), rtol=1e-6)
    assert_allclose(factored._adagrad_state.factor_sums[-1], acc.sum(), rtol=1e-6)
    back = copy.deepcopy(factored).set_params(adagrad="full")
    back._adagrad_state = back._adagrad_state.converted("full", back.coef_, "test")
    assert_allclose(back._adagrad_state.coef_sums, np.outer(acc.sum(axis=1), acc.sum(axis=0)) / acc.sum(), rtol=1e-5)
    assert back._adagrad_state.coef_sums.flags.c_contiguous == full._adagrad_state.coef_sums.flags.c_contiguous
    # and training goes on from the converted state
    factored.partial_fit(X, y)
    assert factored._adagrad_state.factor_sums[-1] > acc.sum() and factored.score(data[2], data[3]) > 0.5


def _old_pickle(clf, with_factors=True):
    """``pickle.dumps`` of ``clf`` as skxc <= 0.1.0 stored it: the Adagrad state as ``_acc_*`` attributes."""

    class Old(AdversarialSoftmaxClassifier):
        def __reduce_ex__(self, protocol):
            state = dict(self.__dict__)
            adagrad = state.pop("_adagrad_state")
            state.update(_acc_coef=adagrad.coef_sums, _acc_intercept=adagrad.intercept_sums)
            if with_factors:
                state["_acc_factors"] = adagrad.factor_sums
            return (_new_classifier, (), state)

    old = copy.copy(clf)
    old.__class__ = Old
    return pickle.dumps(old)


def _new_classifier():
    return AdversarialSoftmaxClassifier.__new__(AdversarialSoftmaxClassifier)


@pytest.mark.parametrize("adagrad", ["full", "factored"])
def test_old_pickles_load_and_predict(data, adagrad):
    """A model pickled with ``_acc_coef``/``_acc_factors``/``_acc_intercept`` (skxc <= 0.1.0) loads, predicts and trains on."""
    X, y = data[0], data[1]
    clf = AdversarialSoftmaxClassifier(adagrad=adagrad, max_iter=1, n_components=4, random_state=0).fit(X, y)
    old = pickle.loads(_old_pickle(clf))
    assert not hasattr(old, "_acc_coef") and old._adagrad_state.kind == adagrad
    assert_array_equal(old.predict_proba(data[2]), clf.predict_proba(data[2]))
    assert_array_equal(old._adagrad_state.factor_sums, clf._adagrad_state.factor_sums)
    old.partial_fit(X, y)
    clf.partial_fit(X, y)
    assert_array_equal(old.coef_, clf.coef_)


def test_model_from_before_the_factored_state_trains_on(data):
    """A fitted model without ``_acc_factors`` (pickled by skxc 0.1.0) has a full state and converts."""
    X, y = data[0], data[1]
    clf = AdversarialSoftmaxClassifier(adagrad="full", max_iter=1, n_components=4, random_state=0).fit(X, y)
    old = pickle.loads(_old_pickle(clf, with_factors=False))
    assert old._adagrad_state.kind == "full"
    acc_sum = float(old._adagrad_state.coef_sums.sum(dtype=np.float64))
    old.set_params(adagrad="auto").partial_fit(X, y)
    assert old._adagrad_state.kind == "factored"
    assert old._adagrad_state.coef_sums.size == 0 and old._adagrad_state.factor_sums[-1] > acc_sum


def test_full_adagrad_conversion_checks_memory_first(monkeypatch, data):
    import skxc._validation as validation

    clf = AdversarialSoftmaxClassifier(max_iter=1, random_state=0, n_components=4).fit(data[0], data[1])
    before = clf._adagrad_state.factor_sums.copy()
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: 16)
    with pytest.raises(ValueError, match="full Adagrad state"):
        clf.set_params(adagrad="full").partial_fit(data[0], data[1])
    assert clf._adagrad_state.coef_sums.size == 0
    assert_array_equal(clf._adagrad_state.factor_sums, before)


@pytest.mark.parametrize("noise", ["uniform", "adversarial"])
def test_sparse_input_is_not_densified(monkeypatch, noise):
    """Sparse X is never turned into a dense array: no toarray/todense call, and peak memory far below X's dense size."""
    import tracemalloc

    X = sp.random(200, 50_000, density=1e-4, format="csr", random_state=0) + sp.eye(200, 50_000, format="csr")
    y = np.arange(200) % 4
    dense_bytes = X.shape[0] * X.shape[1] * 8

    def refuse(self, *args, **kwargs):
        raise AssertionError("sparse input was densified")

    for cls in (sp.csr_matrix, sp.csr_array, sp.csc_matrix, sp.coo_matrix):
        monkeypatch.setattr(cls, "toarray", refuse)
        monkeypatch.setattr(cls, "todense", refuse)
    clf = AdversarialSoftmaxClassifier(noise=noise, n_components=4, max_iter=2, tol=None, random_state=0)
    clf.fit(X, y).predict(X)  # compile outside the measurement
    tracemalloc.start()
    try:
        clf.fit(X, y)
        clf.predict(X), clf.predict_proba(X), clf.predict_top_k(X, 2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # a dense copy would take dense_bytes (float64) or half of it (float32); the randomized SVD of
    # the adversarial tree's projection takes about 17 MiB here (n_features x ~26 float64)
    assert peak < dense_bytes / 3, f"peak {peak / 2**20:.1f} MiB for a {dense_bytes / 2**20:.0f} MiB dense X"
    assert clf.coef_.shape == (4, 50_000) and clf.coef_.flags.f_contiguous  # feature-major for sparse rows


def test_auxiliary_tree_export(fitted):
    assert isinstance(fitted("adversarial").tree_, AuxiliaryTree)
    assert fitted("uniform").tree_.n_components_ == 0


def test_fit_noise_then_stream_keeps_tree_fixed():
    """fit_noise fits the tree on a sample; partial_fit batches then train only the linear model."""
    from skxc.datasets import make_hierarchical_classification

    X, y = make_hierarchical_classification(n_samples=3000, n_classes=30, random_state=3)
    classes = np.arange(30)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_components=4, init="zeros")
    clf.fit_noise(X[:1000], y[:1000], classes=classes)
    assert clf.n_iter_ == 0 and not np.any(clf.coef_)
    W, b = clf.tree_.node_weight_.copy(), clf.tree_.node_bias_.copy()
    for start in range(1000, 3000, 500):
        clf.partial_fit(X[start : start + 500], y[start : start + 500])
    np.testing.assert_array_equal(clf.tree_.node_weight_, W)
    np.testing.assert_array_equal(clf.tree_.node_bias_, b)
    assert clf.n_iter_ == 4 and np.any(clf.coef_)
    np.testing.assert_array_equal(clf.classes_, classes)
    assert clf.score(X[:1000], y[:1000]) > 0.5


def test_verbose_progress_does_not_change_results(monkeypatch, capsys):
    """verbose=2 prints progress within an epoch; the model is the same as with verbose=0."""
    monkeypatch.setattr(solver, "PROGRESS_ROWS", 700)
    X, y = make_hierarchical_classification(n_samples=2000, n_classes=20, random_state=0)
    quiet = AdversarialSoftmaxClassifier(max_iter=2, random_state=0, n_components=4).fit(X, y)
    loud = AdversarialSoftmaxClassifier(max_iter=2, random_state=0, n_components=4, verbose=2).fit(X, y)
    out = capsys.readouterr().out
    assert out.count("/2,000 rows") == 6 and out.count("Epoch") == 2 and "Noise model" in out
    assert_array_equal(quiet.coef_, loud.coef_)


def test_learning_rate_auto():
    """ "auto" is 1 / sqrt(1 + weighted mean ||x||^2), from the initialising call; a number is used as given."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    y = np.arange(60) % 3
    w = rng.uniform(0.0, 2.0, size=60)
    expected = 1.0 / np.sqrt(1.0 + np.sum(w * np.sum(X**2, axis=1)) / w.sum())
    for Xin in (X, sp.csr_matrix(X)):
        clf = AdversarialSoftmaxClassifier(max_iter=1, random_state=0).fit(Xin, y, sample_weight=w)
        assert clf.learning_rate_ == pytest.approx(expected, rel=1e-6)  # weights are float32
    # partial_fit keeps the first batch's value; a number set later is used as given
    clf = AdversarialSoftmaxClassifier(random_state=0).partial_fit(X[:30], y[:30], classes=[0, 1, 2])
    first = 1.0 / np.sqrt(1.0 + np.mean(np.sum(X[:30] ** 2, axis=1)))
    assert clf.learning_rate_ == pytest.approx(first, rel=1e-12)
    clf.partial_fit(10 * X[30:], y[30:])
    assert clf.learning_rate_ == pytest.approx(first, rel=1e-12)
    clf.set_params(learning_rate=0.25).partial_fit(X[30:], y[30:])
    assert clf.learning_rate_ == 0.25
    # one-hot rows with 3 non-zeros (ptb-nextword's format) give 0.5
    onehot = sp.csr_matrix((np.ones(30), np.arange(30) % 10, np.arange(0, 31, 3)), shape=(10, 10))
    clf = AdversarialSoftmaxClassifier(max_iter=1, random_state=0).fit(onehot, np.arange(10) % 2)
    assert clf.learning_rate_ == pytest.approx(0.5)


def test_auto_max_iter_follows_the_number_of_rows(data):
    """max_iter="auto": 10 epochs up to AUTO_MAX_ITER_ROWS training rows, 5 above; integers as given."""
    from skxc._fit import AUTO_MAX_ITER_ROWS, resolve_max_iter

    assert resolve_max_iter("auto", AUTO_MAX_ITER_ROWS) == 10
    assert resolve_max_iter("auto", AUTO_MAX_ITER_ROWS + 1) == 5
    assert resolve_max_iter(3, 10**7) == 3
    X, y = data[0], data[1]
    clf = AdversarialSoftmaxClassifier(noise="uniform", random_state=0).fit(X, y)
    assert clf.max_iter == "auto" and clf.n_iter_ == 10 and len(clf.loss_curve_) == 10


def test_auto_max_iter_counts_rows_of_multilabel_targets(monkeypatch):
    """Multi-label: "auto" counts rows, as for single-label data, not the (row, label) pairs an epoch trains on."""
    import skxc._fit as fit_module

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    Y = (rng.random((60, 6)) < 0.5).astype(int)
    Y[:, 0] = 1  # every row has a label: more pairs than rows
    monkeypatch.setattr(fit_module, "AUTO_MAX_ITER_ROWS", 60)  # as many rows as the limit, more pairs
    assert int(Y.sum()) > 60
    clf = AdversarialSoftmaxClassifier(noise="uniform", random_state=0).fit(X, Y)
    assert clf.n_iter_ == 10
    monkeypatch.setattr(fit_module, "AUTO_MAX_ITER_ROWS", 59)
    assert AdversarialSoftmaxClassifier(noise="uniform", random_state=0).fit(X, Y).n_iter_ == 5


def test_auto_n_negatives_follows_rows_per_class(monkeypatch):
    """n_negatives="auto": 3 above AUTO_NEGATIVES_ROWS_PER_CLASS single-label rows per class, else 2 (multi-label
    always 2); the model is the one that number gives; partial_fit keeps the first call's, a number is used as given."""
    import skxc._fit as fit_module
    from skxc._fit import AUTO_NEGATIVES_ROWS_PER_CLASS, resolve_n_negatives

    assert resolve_n_negatives("auto", int(AUTO_NEGATIVES_ROWS_PER_CLASS * 10), 10) == 2  # at the bound
    assert resolve_n_negatives("auto", int(AUTO_NEGATIVES_ROWS_PER_CLASS * 10) + 1, 10) == 3
    assert resolve_n_negatives("auto", 10**6, 10, multilabel=True) == 2
    assert resolve_n_negatives(5, 10, 10) == 5
    X, y = make_hierarchical_classification(n_samples=400, n_features=8, n_classes=4, random_state=0)
    params = dict(random_state=0, max_iter=2, n_jobs=1)
    monkeypatch.setattr(fit_module, "AUTO_NEGATIVES_ROWS_PER_CLASS", 99)  # 400 rows, 4 classes: "many rows"
    auto = AdversarialSoftmaxClassifier(**params).fit(X, y)
    assert auto.n_negatives == "auto" and auto.n_negatives_ == 3
    assert_same_model(auto, AdversarialSoftmaxClassifier(n_negatives=3, **params).fit(X, y))
    monkeypatch.setattr(fit_module, "AUTO_NEGATIVES_ROWS_PER_CLASS", 100)  # 100 rows per class: not above
    auto = AdversarialSoftmaxClassifier(**params).fit(X, y)
    assert auto.n_negatives_ == 2
    assert_same_model(auto, AdversarialSoftmaxClassifier(n_negatives=2, **params).fit(X, y))
    Y = np.zeros((400, 4), dtype=int)
    Y[np.arange(400), y] = 1
    assert AdversarialSoftmaxClassifier(**params).fit(X, Y).n_negatives_ == 2  # 100 pairs per label, multi-label
    monkeypatch.setattr(fit_module, "AUTO_NEGATIVES_ROWS_PER_CLASS", 5)
    clf = AdversarialSoftmaxClassifier(random_state=0).partial_fit(X[:12], y[:12], classes=[0, 1, 2, 3])
    assert clf.n_negatives_ == 2  # 3 rows per class in the first batch
    assert clf.partial_fit(X, y).n_negatives_ == 2  # kept by later calls
    assert clf.set_params(n_negatives=4).partial_fit(X, y).n_negatives_ == 4


def test_auto_tree_projection_follows_rows_per_class_and_density(monkeypatch):
    """tree_projection="auto": "centroids" for single-label sparse rows with more than AUTO_NEGATIVES_ROWS_PER_CLASS
    rows per class and more classes than n_components, else "svd"; the model is the one that value gives."""
    import skxc._fit as fit_module
    from skxc._fit import AUTO_NEGATIVES_ROWS_PER_CLASS, resolve_tree_projection

    rng = np.random.default_rng(0)
    n = int(AUTO_NEGATIVES_ROWS_PER_CLASS * 20)
    sparse = sp.random(n + 1, 50, density=0.05, format="csr", random_state=0)
    assert resolve_tree_projection("auto", sparse, 20, 16) == "centroids"
    assert resolve_tree_projection("auto", sparse[:n], 20, 16) == "svd"  # at the bound: not above it
    assert resolve_tree_projection("auto", sparse, 16, 16) == "svd"  # no more classes than components
    assert resolve_tree_projection("auto", sparse.toarray(), 20, 16) == "svd"  # dense rows
    assert resolve_tree_projection("auto", sparse, 20, 16, example_row=np.arange(n + 1)) == "svd"  # multi-label
    assert resolve_tree_projection("svd", sparse, 20, 16) == "svd"
    assert resolve_tree_projection("centroids", sparse.toarray(), 20, 16) == "centroids"
    X = sp.csr_matrix(sp.random(600, 40, density=0.05, random_state=1) + sp.csr_matrix(np.eye(600, 40)))
    y = rng.integers(0, 6, size=600)
    params = dict(random_state=0, max_iter=2, n_jobs=1, n_components=4)
    monkeypatch.setattr(fit_module, "AUTO_NEGATIVES_ROWS_PER_CLASS", 99)  # 600 rows, 6 classes: "many rows"
    auto = AdversarialSoftmaxClassifier(**params).fit(X, y)
    assert auto.tree_projection == "auto" and auto.tree_.projection == "centroids"
    assert_same_model(auto, AdversarialSoftmaxClassifier(tree_projection="centroids", **params).fit(X, y))
    monkeypatch.setattr(fit_module, "AUTO_NEGATIVES_ROWS_PER_CLASS", 100)
    auto = AdversarialSoftmaxClassifier(**params).fit(X, y)
    assert auto.tree_.projection == "svd"
    assert_same_model(auto, AdversarialSoftmaxClassifier(tree_projection="svd", **params).fit(X, y))
    with pytest.raises(ValueError, match="tree_projection"):
        AdversarialSoftmaxClassifier(tree_projection="pca").fit(X, y)


@pytest.mark.parametrize("noise", ["adversarial", "uniform"])
def test_dense_csr_rows_predict_as_dense_blocks(monkeypatch, noise):
    """CSR rows with many stored entries are scored as dense blocks by BLAS: the same predictions as the CSR
    kernels (to float32 rounding) and as the same rows given dense; sparse CSR rows keep the CSR kernels."""
    import skxc._predict as predict
    import skxc._validation as validation
    from skxc._validation import kernel_rows

    X, y = make_hierarchical_classification(n_samples=1500, n_features=32, n_classes=120, random_state=3)
    X_csr = sp.csr_matrix(X)
    clf = AdversarialSoftmaxClassifier(noise=noise, random_state=0, max_iter=2, weights="dense").fit(X_csr, y)
    assert predict.dense_rows(kernel_rows(X_csr), clf.coef_)
    sparse_rows = sp.random(50, 32, density=0.05, format="csr", random_state=0)
    assert not predict.dense_rows(kernel_rows(sparse_rows), clf.coef_)
    as_blocks = clf.predict_proba(X_csr), clf.predict_top_k(X_csr, 5), clf.decision_function(X_csr)
    given_dense = clf.predict_proba(X), clf.predict_top_k(X, 5), clf.decision_function(X)
    for a, b in zip(as_blocks, given_dense, strict=True):
        assert_array_equal(a, b)  # the same float32 rows, the same BLAS products
    monkeypatch.setattr(validation, "DENSE_DENSITY", 1.01)  # the CSR kernels
    kernels = clf.predict_proba(X_csr), clf.predict_top_k(X_csr, 5), clf.decision_function(X_csr)
    assert_allclose(as_blocks[0], kernels[0], rtol=1e-4, atol=1e-7)
    assert np.mean(as_blocks[1] == kernels[1]) > 0.999  # the same top 5 but for float32 near-ties
    assert_allclose(as_blocks[2], kernels[2], rtol=1e-4, atol=1e-4)


def test_densified_csr_blocks_stay_within_the_block_bytes(monkeypatch):
    """Mostly dense CSR rows are densified a block at a time, no more rows than ``PREDICT_BLOCK_BYTES`` of
    float32 features hold (few classes would otherwise give blocks of many wide rows)."""
    import skxc._predict as predict

    X, y = make_hierarchical_classification(n_samples=600, n_features=40, n_classes=8, random_state=4)
    X_csr = sp.csr_matrix(X)
    clf = AdversarialSoftmaxClassifier(random_state=0, max_iter=2, noise="uniform").fit(X_csr, y)
    expected = clf.predict_proba(X_csr), clf.predict_top_k(X_csr, 3)
    sizes = []
    real = predict.dense_block

    def recording(rows, a, b):
        block = real(rows, a, b)
        sizes.append(block.shape[0])
        return block

    monkeypatch.setattr(predict, "dense_block", recording)
    monkeypatch.setattr(predict, "PREDICT_BLOCK_BYTES", 4 * 40 * 7)  # 7 rows of 40 float32 features
    got = clf.predict_proba(X_csr), clf.predict_top_k(X_csr, 3)
    assert sizes and max(sizes) <= 7 and sum(sizes) == 2 * X.shape[0]
    assert_allclose(got[0], expected[0], rtol=1e-5, atol=1e-9)  # float32 BLAS sums in other blocks
    assert_array_equal(got[1], expected[1])
