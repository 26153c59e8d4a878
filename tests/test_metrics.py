"""skxc.metrics against hand-worked examples, a slow reference, and as scikit-learn scorers."""

from __future__ import annotations

import math
import warnings

import _reference_metrics as ref
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import make_scorer
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.multiclass import OneVsRestClassifier

import skxc
from skxc import metrics
from skxc.metrics import ndcg_at_k, precision_at_k, propensity, psndcg_at_k, psp_at_k, recall_at_k

PLAIN = [precision_at_k, recall_at_k, ndcg_at_k]
WEIGHTED = [psp_at_k, psndcg_at_k]
REFERENCE = {
    precision_at_k: ref.precision,
    recall_at_k: ref.recall,
    ndcg_at_k: ref.ndcg,
    psp_at_k: ref.psp,
    psndcg_at_k: ref.psndcg,
}


def score(metric, y_true, y_pred, k, p=None, **kwargs):
    if metric in WEIGHTED:
        return metric(y_true, y_pred, propensities=p, k=k, **kwargs)
    return metric(y_true, y_pred, k=k)


def reference(metric, y_true, y_pred, k, p=None):
    if metric in WEIGHTED:
        return REFERENCE[metric](y_true, y_pred, p, k)
    return REFERENCE[metric](y_true, y_pred, k)


# --------------------------------------------------------------------------- hand-worked example
# Row 0 has 2 labels (< k), row 1 one label and no hit, row 2 none (empty), row 3 five (> k).
Y_HAND = np.array(
    [
        [1, 0, 1, 0, 0],
        [0, 1, 0, 0, 0],
        [0, 0, 0, 0, 0],
        [1, 1, 1, 1, 1],
    ]
)
TOP_HAND = np.array([[2, 1, 0], [0, 3, -1], [1, 2, 3], [4, 3, 0]])
P_HAND = np.array([0.5, 0.25, 1.0, 0.5, 0.2])  # inverse propensities 2, 4, 1, 2, 5
D2, D3 = 1 / math.log2(3), 1 / math.log2(4)  # rank-2 and rank-3 discounts (rank 1: 1)


@pytest.mark.parametrize("container", [np.asarray, sp.csr_matrix, sp.csc_matrix], ids=["dense", "csr", "csc"])
def test_hand_worked_example(container):
    Y = container(Y_HAND)
    # P@3: hits 2, 0, 0, 3 out of k=3 each, empty row included in the mean.
    assert precision_at_k(Y, TOP_HAND, k=3) == pytest.approx((2 / 3 + 0 + 0 + 1) / 4)
    assert precision_at_k(Y, TOP_HAND, k=1) == pytest.approx((1 + 0 + 0 + 1) / 4)
    # R@3: 2/2, 0/1, empty -> 0, 3/5.
    assert recall_at_k(Y, TOP_HAND, k=3) == pytest.approx((1 + 0 + 0 + 3 / 5) / 4)
    # nDCG@3: row 0 hits ranks 1 and 3 over an ideal of min(3, 2) = 2 ranks; row 3 is ideal.
    assert ndcg_at_k(Y, TOP_HAND, k=3) == pytest.approx(((1 + D3) / (1 + D2) + 0 + 0 + 1) / 4)
    # PSP@3: gains 1 + 2 (row 0), 5 + 2 + 2 (row 3); best 2 + 1, 4, -, 5 + 4 + 2.
    assert psp_at_k(Y, TOP_HAND, propensities=P_HAND, k=3) == pytest.approx((3 + 9) / (3 + 4 + 11))
    assert psp_at_k(Y, TOP_HAND, propensities=P_HAND, k=3, normalize=False) == pytest.approx((3 + 9) / 3 / 4)
    # PSnDCG@3: each row divided by its count-based ideal DCG Z_i, then a ratio of sums.
    z0, z1, z3 = 1 + D2, 1.0, 1 + D2 + D3
    gain = (1 * 1 + 2 * D3) / z0 + (5 + 2 * D2 + 2 * D3) / z3
    best = (2 + 1 * D2) / z0 + 4 / z1 + (5 + 4 * D2 + 2 * D3) / z3
    assert psndcg_at_k(Y, TOP_HAND, propensities=P_HAND, k=3) == pytest.approx(gain / best)
    assert psndcg_at_k(Y, TOP_HAND, propensities=P_HAND, k=3, normalize=False) == pytest.approx(gain / 4)


def test_hand_worked_example_from_scores():
    # Scores whose rankings start with TOP_HAND's rows (the -1 of row 1 becomes a miss on label 2).
    S = np.array(
        [
            [0.2, 0.5, 0.9, 0.0, 0.1],
            [0.9, 0.0, 0.1, 0.5, 0.0],
            [0.0, 0.9, 0.5, 0.2, 0.0],
            [0.2, 0.0, 0.1, 0.5, 0.9],
        ]
    )
    for metric in PLAIN + WEIGHTED:
        assert score(metric, Y_HAND, S, 3, P_HAND) == pytest.approx(score(metric, Y_HAND, TOP_HAND, 3, P_HAND))


def test_perfect_and_worst_rankings():
    rng = np.random.default_rng(1)
    Y = (rng.random((30, 12)) < 0.3).astype(int)
    Y[0] = 0
    p = rng.uniform(0.1, 1.0, 12)
    best = Y * (10 + 1 / p)  # true labels first, by decreasing inverse propensity
    nonempty = np.mean(Y.any(axis=1))
    assert ndcg_at_k(Y, best, k=4) == pytest.approx(nonempty)
    assert psp_at_k(Y, best, propensities=p, k=4) == pytest.approx(1.0)
    assert psndcg_at_k(Y, best, propensities=p, k=4) == pytest.approx(1.0)
    n_true = Y.sum(axis=1)
    assert precision_at_k(Y, best, k=4) == pytest.approx(np.mean(np.minimum(n_true, 4) / 4))
    assert recall_at_k(Y, best, k=4) == pytest.approx(np.mean(np.minimum(n_true, 4) / np.maximum(n_true, 1)))
    worst = -10.0 * Y  # true labels last
    assert all(n < 11 for n in n_true)
    for metric in PLAIN + WEIGHTED:
        assert score(metric, Y, worst, 1, p) == 0.0


def test_empty_rows_only():
    Y = np.zeros((3, 4), dtype=int)
    S = np.random.default_rng(0).random((3, 4))
    for metric in PLAIN + WEIGHTED:
        assert score(metric, Y, S, 2, np.full(4, 0.5)) == 0.0


def test_ties_are_broken_by_the_lower_label():
    S = np.array([[0.5, 0.9, 0.5, 0.5, 0.1], [0.0, 0.0, 0.0, 0.0, 0.0]])
    assert metrics._top_k(S, 3, 2, 5).tolist() == [[1, 0, 2], [0, 1, 2]]
    assert metrics._top_k(sp.csr_matrix(S), 3, 2, 5).tolist() == [[1, 0, 2], [-1, -1, -1]]
    assert metrics._top_k(S.astype(np.float32), 3, 2, 5).tolist() == [[1, 0, 2], [0, 1, 2]]
    # Through a metric: label 2 ties with 0 and 3 at 0.5 and loses to 0 at k=2.
    assert precision_at_k(np.array([[0, 0, 1, 0, 0]]), S[:1], k=2) == 0.0
    assert precision_at_k(np.array([[1, 0, 0, 0, 0]]), S[:1], k=2) == 0.5
    # Infinite scores are ordinary values.
    S_inf = np.array([[-np.inf, np.inf, 0.0, -np.inf]])
    assert metrics._top_k(S_inf, 4, 1, 4).tolist() == [[1, 2, 0, 3]]


def test_top_k_in_several_blocks_with_ties(monkeypatch):
    rng = np.random.default_rng(3)
    S = np.round(rng.random((57, 9)), 1)  # many ties
    S[5] = 0.3  # a whole row tied
    expected = np.array(ref.rankings(S, 4))
    monkeypatch.setattr(metrics, "_BLOCK_ELEMENTS", 40)  # 4 rows per block
    np.testing.assert_array_equal(metrics._top_k(S, 4, 57, 9), expected)


def test_sparse_scores_use_only_stored_entries():
    Y = np.array([[0, 0, 1, 1]])
    S = sp.csr_matrix(np.array([[0.3, 0.2, 0.0, 0.0]]))  # labels 2 and 3 are not stored
    assert precision_at_k(Y, S, k=3) == 0.0
    assert precision_at_k(Y, S.toarray(), k=3) == pytest.approx(1 / 3)  # dense: 2 is a candidate (score 0)
    S_explicit = sp.csr_matrix((np.array([0.3, 0.2, 0.0]), np.array([0, 1, 2]), np.array([0, 3])), shape=(1, 4))
    assert precision_at_k(Y, S_explicit, k=3) == pytest.approx(1 / 3)  # a stored zero is a candidate


# --------------------------------------------------------------------------- against the reference


def random_problem(seed, n=40, n_labels=15, density=0.15, ties=False):
    rng = np.random.default_rng(seed)
    Y = (rng.random((n, n_labels)) < density).astype(np.int64)
    Y[rng.random(n) < 0.15] = 0  # some empty rows
    S = rng.normal(size=(n, n_labels))
    if ties:
        S = np.round(S, 0)
    p = propensity(np.vstack([Y, np.ones((1, n_labels), dtype=int)]))
    return Y, S, p


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [1, 3, 5, 17])
@pytest.mark.parametrize("metric", PLAIN + WEIGHTED, ids=lambda f: f.__name__)
def test_against_reference(metric, k, seed):
    Y, S, p = random_problem(seed, ties=seed % 2 == 1)
    expected = reference(metric, Y, S, k, p)
    assert score(metric, Y, S, k, p) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    # Same value from sparse y_true, float32 scores, the top-k label matrix and a wider one with -1 padding.
    assert score(metric, sp.csr_matrix(Y), S, k, p) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    top = np.full((len(Y), k + 2), -1, dtype=np.int32)
    ranked = ref.rankings(S, k)
    for i, r in enumerate(ranked):
        top[i, : len(r)] = r
    assert score(metric, Y, top, k, p) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    if k <= Y.shape[1]:  # unsigned label indices (no -1 among the first k here), COO y_true
        assert score(metric, sp.coo_matrix(Y), top[:, :k].astype(np.uint32), k, p) == pytest.approx(expected)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("metric", PLAIN + WEIGHTED, ids=lambda f: f.__name__)
def test_sparse_scores_against_reference_and_dense(metric, seed):
    Y, S, p = random_problem(seed, n=30, n_labels=20)
    rng = np.random.default_rng(seed)
    S = np.abs(S) + 0.01
    S[rng.random(S.shape) < 0.5] = 0.0
    S_sparse = sp.csr_matrix(S)
    for k in (1, 4, 12):
        expected = ref.__dict__[REFERENCE[metric].__name__](Y, S_sparse, *((p, k) if metric in WEIGHTED else (k,)))
        assert score(metric, Y, S_sparse, k, p) == pytest.approx(expected, abs=1e-12)
        assert score(metric, Y, sp.csc_matrix(S), k, p) == pytest.approx(expected, abs=1e-12)
    # With at least k stored (positive) scores per row, the dense matrix ranks the same labels first.
    k = int(np.diff(S_sparse.indptr).min())
    if k >= 1:
        assert score(metric, Y, S_sparse, k, p) == pytest.approx(score(metric, Y, S, k, p))


def test_matches_napkinxc():
    nm = pytest.importorskip("napkinxc.metrics")
    Y, S, p = random_problem(7, n=60, n_labels=25)
    Ys = sp.csr_matrix(Y)
    np.testing.assert_allclose(propensity(Y), nm.Jain_et_al_propensity(Ys))
    inv = 1 / p
    pairs = [
        (precision_at_k(Y, S, k=5), nm.precision_at_k(Ys, S, k=5)[-1]),
        (recall_at_k(Y, S, k=5), nm.recall_at_k(Ys, S, k=5)[-1]),
        (ndcg_at_k(Y, S, k=5), nm.ndcg_at_k(Ys, S, k=5)[-1]),
        (psp_at_k(Y, S, propensities=p, k=5), nm.psprecision_at_k(Ys, S, inv, k=5)[-1]),
        (psndcg_at_k(Y, S, propensities=p, k=5), nm.psndcg_at_k(Ys, S, inv, k=5)[-1]),
    ]
    for ours, theirs in pairs:
        assert ours == pytest.approx(theirs, rel=1e-9)


@pytest.mark.parametrize("A,B", [(0.55, 1.5), (0.5, 0.4), (0.6, 2.6), (0.0, 1.0)])
def test_propensity_against_reference(A, B):
    Y, _, _ = random_problem(0, n=50)
    expected = ref.propensity(Y, A, B)
    np.testing.assert_allclose(propensity(Y, A=A, B=B), expected, rtol=1e-12)
    np.testing.assert_allclose(propensity(sp.csr_matrix(Y), A=A, B=B), expected, rtol=1e-12)
    p = propensity(Y, A, B)
    assert p.shape == (Y.shape[1],) and np.all((p > 0) & (p <= 1))


def test_propensity_is_increasing_in_label_frequency():
    Y = np.zeros((1000, 4), dtype=bool)
    for j, count in enumerate([0, 1, 30, 900]):
        Y[:count, j] = True
    p = propensity(Y)
    assert np.all(np.diff(p) > 0) and p[0] < 0.2 and p[-1] > 0.8


def test_huge_sparse_label_space_is_not_densified():
    n, n_labels = 200, 10**7  # a dense (n, n_labels) matrix would take 2 GB as int8
    rng = np.random.default_rng(0)
    rows = np.repeat(np.arange(n), 3)
    cols = rng.choice(n_labels, size=3 * n)
    Y = sp.csr_matrix((np.ones(3 * n), (rows, cols)), shape=(n, n_labels))
    top = np.stack([cols[0::3], rng.choice(n_labels, n), np.full(n, -1)], axis=1)
    assert precision_at_k(Y, top, k=3) == pytest.approx(1 / 3)
    n_true = np.diff(Y.indptr)
    assert recall_at_k(Y, top, k=3) == pytest.approx(np.mean(1 / n_true))
    ideal = np.array([1, 1 + D2, 1 + D2 + D3])[np.minimum(n_true, 3) - 1]  # the hit is at rank 1
    assert ndcg_at_k(Y, top, k=3) == pytest.approx(np.mean(1 / ideal))


# --------------------------------------------------------------------------- scikit-learn scorers


@pytest.fixture(scope="module")
def multilabel():
    X, Y = make_multilabel_classification(n_samples=90, n_features=8, n_classes=6, random_state=0)
    return X, Y


def test_grid_search_with_metric_scorers(multilabel):
    X, Y = multilabel
    p = propensity(Y)
    scoring = {
        "p@1": make_scorer(precision_at_k, k=1, response_method="predict_proba"),
        "r@3": make_scorer(recall_at_k, k=3, response_method="predict_proba"),
        "ndcg@3": make_scorer(ndcg_at_k, k=3, response_method="decision_function"),
        "psp@3": make_scorer(psp_at_k, k=3, propensities=p, response_method="predict_proba"),
        "psndcg@3": make_scorer(psndcg_at_k, k=3, propensities=p, response_method="predict_proba"),
    }
    search = GridSearchCV(
        OneVsRestClassifier(LogisticRegression(solver="liblinear")),
        {"estimator__C": [0.001, 1.0]},
        scoring=scoring,
        refit="p@1",
        cv=3,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, Y)
    for name in scoring:
        values = search.cv_results_[f"mean_test_{name}"]
        assert np.all((values >= 0) & (values <= 1)), (name, values)
    # The scorer computes the metric on predict_proba's (n_samples, n_labels) matrix.
    model = search.best_estimator_
    assert scoring["p@1"](model, X, Y) == pytest.approx(precision_at_k(Y, model.predict_proba(X), k=1))
    assert scoring["psp@3"](model, X, Y) == pytest.approx(psp_at_k(Y, model.predict_proba(X), propensities=p, k=3))
    assert search.cv_results_["mean_test_p@1"][1] > search.cv_results_["mean_test_p@1"][0] - 0.2


def test_cross_val_score_with_a_scorer(multilabel):
    X, Y = multilabel
    scorer = make_scorer(ndcg_at_k, k=2, response_method="predict_proba")
    scores = cross_val_score(OneVsRestClassifier(LogisticRegression(solver="liblinear")), X, Y, scoring=scorer, cv=3)
    assert scores.shape == (3,) and np.all((scores > 0) & (scores <= 1))


def test_predicted_indicator_is_rejected_with_a_hint(multilabel):
    X, Y = multilabel
    model = OneVsRestClassifier(LogisticRegression(solver="liblinear")).fit(X, Y)
    with pytest.raises(ValueError, match="indicator matrix"):
        precision_at_k(Y, model.predict(X), k=3)
    with pytest.raises(ValueError, match="boolean"):
        precision_at_k(Y, model.predict(X).astype(bool), k=3)
    assert skxc.metrics is metrics


# --------------------------------------------------------------------------- input validation


@pytest.mark.parametrize("metric", PLAIN + WEIGHTED, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "k,error,message",
    [(0, ValueError, "k must be an integer >= 1; got 0"), (2.0, TypeError, "got 2.0"), (True, TypeError, "got True")],
)
def test_bad_k(metric, k, error, message):
    with pytest.raises(error, match=message):
        score(metric, Y_HAND, TOP_HAND, k, P_HAND)


@pytest.mark.parametrize(
    "y_true,error,message",
    [
        (np.array([0, 1, 1]), ValueError, r"y_true must be a 2-D label indicator matrix .* shape \(3,\)"),
        (
            np.array([[0, 2], [1, 0]]),
            ValueError,
            "y_true must be a label indicator matrix with entries 0 or 1; found the value 2",
        ),
        (sp.csr_matrix(np.array([[0, 0.5], [1, 0]])), ValueError, "found the value 0.5"),
        (np.array([["a", "b"]]), TypeError, "y_true must hold 0/1"),
        (np.zeros((0, 5)), ValueError, "y_true has no rows"),
    ],
)
def test_bad_y_true(y_true, error, message):
    with pytest.raises(error, match=message):
        precision_at_k(y_true, np.zeros((y_true.shape[0], 2), dtype=int), k=1)


@pytest.mark.parametrize(
    "y_pred,message",
    [
        (np.zeros((4, 5), dtype=bool), "boolean"),
        (np.array([[0, 5], [0, 1], [0, 1], [0, 1]]), r"label columns in \[0, 5\) or -1; found 5"),
        (np.array([[0, -2], [0, 1], [0, 1], [0, 1]]), "found -2"),
        (np.array([[0, 2**64 - 1], [0, 1], [0, 1], [0, 1]], dtype=np.uint64), "found 18446744073709551615"),
        (np.array([[0, 2**63], [0, 1], [0, 1], [0, 1]], dtype=np.uint64), "found 9223372036854775808"),
        (np.array([[0, 1], [2, 2], [0, 1], [0, 1]]), r"row 1 repeats a label .* \[2, 2\]"),
        (np.array([[0], [1], [2], [3]]), "with 1 columns, fewer than k=2"),
        (np.zeros((4, 3)), "read as a score matrix, but it has 3 columns while y_true has 5 labels"),
        (np.zeros((3, 5)), "y_pred has 3 rows but y_true has 4"),
        (np.zeros((4, 5, 2)), "y_pred must be 2-D"),
        (np.zeros(4), "y_pred must be 2-D"),
        (np.full((4, 5), np.nan), "contains NaN"),
        (sp.csr_matrix(np.full((4, 5), np.nan)), "contains NaN"),
        (sp.csr_matrix((4, 6)), r"must have the shape of y_true \(4, 5\); got \(4, 6\)"),
    ],
)
def test_bad_y_pred(y_pred, message):
    with pytest.raises(ValueError, match=message):
        precision_at_k(Y_HAND, y_pred, k=2)


def test_bad_y_pred_dtype():
    with pytest.raises(
        TypeError, match="y_pred must hold floating-point scores or integer label indices; got dtype <U1"
    ):
        precision_at_k(Y_HAND, np.full((4, 5), "a"), k=2)
    with pytest.raises(
        TypeError, match="y_pred must hold floating-point scores or integer label indices; got dtype complex"
    ):
        precision_at_k(Y_HAND, np.zeros((4, 5), dtype=complex), k=2)


def test_repeated_minus_one_and_columns_beyond_k_are_allowed():
    top = np.array([[2, -1, -1, 0], [-1, -1, -1, -1], [-1, 1, -1, 1], [4, -1, 3, 3]])  # repeats after column k
    assert precision_at_k(Y_HAND, top, k=3) == pytest.approx((1 + 0 + 0 + 2) / 3 / 4)


@pytest.mark.parametrize("metric", WEIGHTED, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "p,message",
    [
        (np.ones(4), r"propensities must be an array of shape \(n_labels,\) = \(5,\).*got shape \(4,\)"),
        (np.array([0.5, 0.5, 0.0, 0.5, 0.5]), "propensities must be finite and > 0; found 0.0"),
        (np.array([0.5, 0.5, np.nan, 0.5, 0.5]), "found nan"),
        (None, "propensities must be an array of shape"),
        # inverse propensities (other libraries' form) are >= 1: one above 1 is not a probability
        (1.0 / P_HAND, r"propensities must be probabilities in \(0, 1\]; found 2.0. .*not their inverses"),
    ],
)
def test_bad_propensities(metric, p, message):
    with pytest.raises(ValueError, match=message):
        metric(Y_HAND, TOP_HAND, propensities=p, k=3)


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"A": -0.1}, ValueError, "A must be a finite number >= 0.0; got -0.1"),
        ({"B": 0.0}, ValueError, "B must be a finite number > 0.0; got 0.0"),
        ({"A": "0.5"}, TypeError, "A must be a finite real number; got '0.5'"),
        ({"A": True}, TypeError, "A must be a finite real number; got True"),
        ({"B": np.inf}, ValueError, "B must be a finite number > 0.0; got inf"),  # a real value out of range
        ({"B": np.nan}, ValueError, "B must be a finite number > 0.0; got nan"),
        ({"A": float("-inf")}, ValueError, "A must be a finite number >= 0.0; got -inf"),
    ],
)
def test_bad_propensity_parameters(kwargs, error, message):
    with pytest.raises(error, match=message):
        propensity(Y_HAND, **kwargs)


def test_propensity_needs_three_rows():
    with pytest.raises(ValueError, match="at least 3 rows .* got 2"):
        propensity(Y_HAND[:2])
