"""Stop 30: multi-label fixes (predicted indicators in the metrics, two-label scorers, predict's temperature,
an empty first partial_fit batch, score's validation, predict_top_k's k, BOM and repeated sparse entries)."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.datasets import make_multilabel_classification
from sklearn.metrics import make_scorer
from sklearn.model_selection import GridSearchCV

from skxc import AdversarialSoftmaxClassifier
from skxc.datasets import load_xmc_file
from skxc.metrics import ndcg_at_k, precision_at_k, psp_at_k, recall_at_k

Y_TRUE = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])


@pytest.fixture(scope="module")
def data():
    X, Y = make_multilabel_classification(
        n_samples=300, n_features=12, n_classes=6, n_labels=2, allow_unlabeled=False, random_state=0
    )
    return X.astype(np.float64), Y


@pytest.fixture(scope="module")
def model(data):
    X, Y = data
    return AdversarialSoftmaxClassifier(random_state=0, max_iter=2, n_jobs=1).fit(X, Y)


# --------------------------------------------------------------------------- 1. indicator predictions


@pytest.mark.parametrize("metric", [precision_at_k, recall_at_k, ndcg_at_k], ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "y_pred,what",
    [
        (np.array([[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]]), "integer dtype, 4 columns"),
        (np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=np.uint8), "integer dtype, 4 columns"),
        (sp.csr_matrix(np.array([[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])), "integer sparse matrix"),
        (sp.csr_matrix(np.eye(3, 4, dtype=bool)), "boolean sparse matrix"),
        (np.eye(3, 4, dtype=bool), "is boolean"),
    ],
    ids=["int", "uint8-one-per-row", "sparse-int", "sparse-bool", "bool"],
)
def test_predicted_indicator_is_rejected(metric, y_pred, what):
    # An int 0/1 matrix used to be read as top-k labels (ids 0 and 1): P@1 of the first one would be 1/3.
    with pytest.raises(ValueError, match=f"{what}.*predicted label indicator matrix.*no ranking.*predict_top_k"):
        metric(Y_TRUE, y_pred, k=1)


def test_indicator_cast_to_float_is_read_as_scores():
    y_pred = np.array([[0, 1, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0]])
    # row 0: ties among labels 1, 2 -> label 1 (miss); row 1: label 1 (hit); row 2: label 0 (miss)
    assert precision_at_k(Y_TRUE, y_pred.astype(float), k=1) == pytest.approx(1 / 3)
    assert precision_at_k(Y_TRUE, sp.csr_matrix(y_pred.astype(float)), k=1) == pytest.approx(1 / 3)


def test_integer_label_matrices_are_still_read_as_labels():
    # a 0/1 top-k matrix with fewer columns than labels: label ids 0 and 1
    assert precision_at_k(Y_TRUE, np.array([[0], [1], [0]]), k=1) == pytest.approx(2 / 3)
    # a full ranking (n_labels columns) from predict_top_k(X, n_labels)
    full = np.array([[2, 0, 1, 3], [1, 0, 2, 3], [0, 1, 2, 3]])
    assert precision_at_k(Y_TRUE, full, k=2) == pytest.approx((2 + 1 + 0) / 6)
    # sparse integer scores other than 0/1 are scores
    counts = sp.csr_matrix(np.array([[0, 2, 3, 0], [0, 1, 0, 0], [2, 0, 0, 1]]))
    assert precision_at_k(Y_TRUE, counts, k=1) == pytest.approx(2 / 3)


def test_two_labels_permutations_are_labels_but_repeats_are_indicators():
    y_true = np.array([[1, 0], [0, 1], [1, 1]])
    ranking = np.array([[0, 1], [0, 1], [1, 0]])  # predict_top_k(X, 2): a top-2 label matrix
    with pytest.warns(UserWarning, match="read as a top-2 label matrix"):  # stop 41: it may be predict's
        assert precision_at_k(y_true, ranking, k=1) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="predicted label indicator matrix"):
        precision_at_k(y_true, np.array([[1, 0], [0, 1], [1, 1]]), k=1)


def test_predict_of_a_multilabel_model_is_rejected(data, model):
    X, Y = data
    with pytest.raises(ValueError, match="predicted label indicator matrix"):
        precision_at_k(Y, model.predict(X), k=1)
    with pytest.raises(ValueError, match="predicted label indicator matrix"):
        psp_at_k(Y, model.predict(X), propensities=np.ones(Y.shape[1]), k=1)


def test_make_scorer_with_predict_fails_in_grid_search(data):
    X, Y = data
    search = GridSearchCV(
        AdversarialSoftmaxClassifier(random_state=0, max_iter=1, n_jobs=1),
        {"alpha": [1e-3]},
        scoring=make_scorer(precision_at_k, k=1),
        cv=2,
        error_score="raise",
    )
    with pytest.raises(ValueError, match="predicted label indicator matrix"):
        search.fit(X, Y)


# --------------------------------------------------------------------------- 2. two labels and scorers


def test_one_column_of_two_labels_gets_a_clear_error():
    with pytest.raises(ValueError, match="y_pred is 1-D but y_true has 2 labels.*decision_function"):
        precision_at_k(np.array([[1, 0], [0, 1]]), np.array([0.2, 0.9]), k=1)
    with pytest.raises(ValueError, match=r"y_pred must be 2-D.*shape \(3,\)"):
        precision_at_k(Y_TRUE, np.array([0.2, 0.9, 0.1]), k=1)


def test_two_label_scorers(data):
    X, Y = data
    Y2 = Y[:, :2]
    keep = Y2.sum(1) > 0
    X2, Y2 = X[keep], Y2[keep]
    clf = AdversarialSoftmaxClassifier(random_state=0, max_iter=2, n_jobs=1).fit(X2, Y2)
    proba_scorer = make_scorer(precision_at_k, k=1, response_method="predict_proba")
    with pytest.raises(ValueError, match="binary problem.*response_method='decision_function'"):
        proba_scorer(clf, X2, Y2)
    scorer = make_scorer(precision_at_k, k=1, response_method="decision_function")
    assert scorer(clf, X2, Y2) == pytest.approx(clf.score(X2, Y2))
    assert scorer(clf, X2, Y2) == pytest.approx(precision_at_k(Y2, clf.predict_proba(X2), k=1))


# --------------------------------------------------------------------------- 3. predict and the temperature


def _documented_rule(clf, X):
    proba = clf.predict_proba(X)
    want = (clf.label_cardinality_ * proba >= 0.5).astype(np.int64)
    want[np.arange(X.shape[0]), proba.argmax(1)] = 1
    return want


@pytest.mark.parametrize("temperature", [0.25, 1.0, 4.0])
def test_multilabel_predict_uses_the_score_temperature(data, model, temperature):
    X, _ = data
    clf = copy.deepcopy(model)
    clf.score_temperature_ = temperature
    assert_array_equal(clf.predict(X), _documented_rule(clf, X))


def test_temperature_changes_the_label_sets(data, model):
    X, _ = data
    flat = copy.deepcopy(model)
    flat.score_temperature_ = 1e6
    # T huge: predict_proba is 1/6 per label up to ~1e-6, and label_cardinality_ / 6 < 0.5, so only the
    # top label is kept; the untempered probabilities keep more labels on some rows.
    assert model.label_cardinality_ / 6 < 0.45
    assert_array_equal(flat.predict(X).sum(1), np.ones(X.shape[0]))
    assert np.any(model.predict(X).sum(1) > 1)
    assert_array_equal(flat.predict_top_k(X, 3), model.predict_top_k(X, 3))  # the order does not change


# --------------------------------------------------------------------------- 4. an empty first partial_fit batch


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_empty_first_partial_fit_batch_is_rejected(data, sparse):
    X, Y = data
    empty = np.zeros((50, Y.shape[1]), dtype=int)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1)
    before = dict(vars(clf))
    with pytest.raises(ValueError, match="y has no labels: every row of the label indicator matrix is empty"):
        clf.partial_fit(X[:50], sp.csr_matrix(empty) if sparse else empty)
    assert vars(clf) == before  # unfitted: no n_features_in_, classes_ or label_cardinality_
    clf.partial_fit(X[:150], Y[:150])  # the next call is a first call again
    assert clf.label_cardinality_ == pytest.approx(Y[:150].sum(1).mean())
    clf.partial_fit(X[150:200], empty)  # a later batch without labels is fine
    assert clf.label_cardinality_ == pytest.approx(Y[:150].sum(1).mean())


# --------------------------------------------------------------------------- 5. score's validation


def test_score_needs_an_indicator_matrix(data, model):
    X, Y = data
    with pytest.raises(
        ValueError, match=r"y must be a label indicator matrix of shape .* = \(300, 6\).*shape \(300,\)"
    ):
        model.score(X, Y.argmax(1))
    with pytest.raises(ValueError, match=r"shape \(300,\)"):
        model.score(X, Y[:, 0].tolist())
    with pytest.raises(ValueError, match="ragged sequence"):
        model.score(X[:2], [[0, 1], [2]])
    with pytest.raises(ValueError, match="y has 1 label columns but the model was trained with 6"):
        model.score(X, Y[:, :1])
    with pytest.raises(ValueError, match="y has 299 rows but X has 300"):
        model.score(X, Y[:-1])


def test_score_validates_sample_weight(data, model):
    X, Y = data
    with pytest.raises(ValueError, match=r"sample_weight.shape == \(5,\), expected \(300,\)"):
        model.score(X, Y, sample_weight=np.ones(5))
    # recent scikit-learn says so itself; skxc's own check covers older versions
    with pytest.raises(ValueError, match="sample_weight is 0 for every row|at least one non-zero"):
        model.score(X, Y, sample_weight=np.zeros(300))
    with pytest.raises(ValueError, match="Negative values"):
        model.score(X, Y, sample_weight=np.r_[-1.0, np.ones(299)])
    # hand-worked: weight only on rows 0 and 1 -> the mean of their two hits
    top = model.predict_top_k(X[:2], 1)[:, 0]
    hits = Y[[0, 1], top]
    w = np.r_[1.0, 3.0, np.zeros(298)]
    assert model.score(X, Y, sample_weight=w) == pytest.approx((hits[0] + 3 * hits[1]) / 4)
    assert model.score(X, Y, sample_weight=list(np.ones(300))) == model.score(X, Y)


# --------------------------------------------------------------------------- 6. k, BOM, repeated sparse entries


@pytest.mark.parametrize("multilabel", [False, True], ids=["multiclass", "multilabel"])
@pytest.mark.parametrize("k", [True, False, 2.0, "2"])
def test_predict_top_k_rejects_non_integer_k(data, model, multilabel, k):
    X, Y = data
    clf = (
        AdversarialSoftmaxClassifier(random_state=0, max_iter=1, n_jobs=1).fit(X, Y.argmax(1))
        if not multilabel
        else model
    )
    with pytest.raises(ValueError, match=rf"k must be an integer in \[1, n_classes=6\]; got {k!r}"):
        clf.predict_top_k(X[:3], k=k)


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_load_xmc_file_skips_a_byte_order_mark(binary):
    text = "\ufeff2 4 3\n0,2 0:1.5 3:2\n1 1:0.5\n"
    X, Y = load_xmc_file(io.BytesIO(text.encode("utf-8")) if binary else io.StringIO(text))
    assert_array_equal(X.toarray(), [[1.5, 0, 0, 2], [0, 0.5, 0, 0]])
    assert_array_equal(Y.toarray(), [[1, 0, 1], [0, 1, 0]])


def test_repeated_sparse_entries_are_named(data):
    X, _ = data
    Y = sp.coo_matrix((np.ones(3), ([0, 0, 1], [1, 1, 2])), shape=(300, 6))  # (0, 1) twice
    clf = AdversarialSoftmaxClassifier(random_state=0, max_iter=1, n_jobs=1)
    message = r"stores some \(row, label\) entries more than once.*sums repeated entries, here to \[2.0\]"
    with pytest.raises(ValueError, match=message):
        clf.fit(X, Y)
    with pytest.raises(ValueError, match=message):
        clf.partial_fit(X, Y)
    with pytest.raises(ValueError, match=r"found the value 2.*stores some \(row, label\) entries more than once"):
        precision_at_k(Y, np.zeros((300, 6)), k=1)
    # a stored 2 is not a repeat: the plain message
    with pytest.raises(ValueError, match=r"values other than 0 and 1, e.g. \[2.0\]\. Pass 0/1"):
        clf.fit(X, sp.coo_matrix((np.array([2.0]), ([0], [1])), shape=(300, 6)))
    with pytest.raises(ValueError, match=r"found the value 2\.0\.$"):
        precision_at_k(sp.coo_matrix((np.array([2.0]), ([0], [1])), shape=(300, 6)), np.zeros((300, 6)), k=1)
    # the suggested repair gives the indicator
    assert_array_equal((Y != 0).astype(np.int8).toarray().sum(), 2)
