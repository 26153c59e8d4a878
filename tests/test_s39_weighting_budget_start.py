"""Stop 39: ``label_weighting`` (how a multi-label row's weight is spread over its labels: "pairs", pick-all-labels;
"rows", the row's labels share it; "auto", chosen by two pilots' held-out precision@k,
``skxc._blend.weighting_choice``), the tree's temperature that follows the epoch budget
(``skxc._blend.budget_tree``) and the centroid start's held-out loss from more draws (``skxc._start.START_DRAWS``);
docs/benchmarks.rst, "Stop 39"."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from test_blend import multilabel_few_rows_data

import skxc._blend as blend
from skxc import AdversarialSoftmaxClassifier
from skxc._blend import precision_gains, rows_win
from skxc._multilabel import label_cardinality, label_examples, shared_by_row


@pytest.fixture(autouse=True)
def _no_multilabel_faster_pilot(monkeypatch):
    """The tests here count the weighting's pilots: without the faster one (``MULTILABEL_FASTER``), which
    ``tests/test_s56_multilabel_faster.py`` tests with them."""
    monkeypatch.setattr(blend, "MULTILABEL_FASTER", 1.0)


def dense(coef):
    return coef.toarray() if sp.issparse(coef) else np.asarray(coef)


def reference_shared(Y, w):
    """Per (row, label) pair in row-major order: w_i * c / |Y_i|, c the w-weighted mean |Y_i| of rows with labels."""
    Y = sp.csr_matrix(Y)
    counts = np.diff(Y.indptr)
    has = [i for i in range(Y.shape[0]) if counts[i]]
    c = sum(w[i] * counts[i] for i in has) / sum(w[i] for i in has)
    return np.array([w[i] * c / counts[i] for i in range(Y.shape[0]) for _ in range(counts[i])], dtype=np.float32)


def test_rows_weights_share_each_row_and_keep_the_total():
    rng = np.random.default_rng(0)
    labels = (rng.random((40, 12)) < 0.25).astype(np.int8)
    labels[3] = 0  # a row without labels gives no pair
    Y = sp.csr_matrix(labels)
    w = rng.uniform(0.5, 2.0, 40)
    codes, pairs, example_row = label_examples(Y, w)
    codes_r, rows, example_row_r = label_examples(Y, w, by_row=True)
    np.testing.assert_array_equal(codes, codes_r)
    np.testing.assert_array_equal(example_row, example_row_r)
    np.testing.assert_allclose(rows, reference_shared(Y, w), rtol=1e-6)
    assert rows.dtype == np.float32
    # the pairs weigh as much in all as pick-all-labels', and each row's labels share c times its weight
    assert rows.sum() == pytest.approx(pairs.sum(), rel=1e-5)
    per_row = np.bincount(example_row, weights=rows, minlength=40)
    has = np.diff(Y.indptr) > 0
    np.testing.assert_allclose(per_row[has], w[has] * label_cardinality(Y, w), rtol=1e-5)
    counts = np.diff(Y.indptr)
    np.testing.assert_array_equal(shared_by_row(pairs, example_row, counts, label_cardinality(Y, w)), rows)


def test_precision_gains_by_hand():
    Y = sp.csr_matrix(np.array([[1, 0, 1, 0, 0, 0], [0, 1, 0, 0, 0, 0]], dtype=np.int8))
    a = np.array([[0, 1, 2, 3, 4], [1, 0, 2, 3, 4]])  # row 0: P@1 1, P@3 2/3, P@5 2/5; row 1: 1, 1/3, 1/5
    b = np.array([[1, 3, 4, 5, 0], [0, 2, 3, 4, 5]])  # row 0: 0, 0, 1/5; row 1: 0, 0, 0
    gains = precision_gains(a, b, Y)
    np.testing.assert_allclose(gains, [(1 + 2 / 3 + 2 / 5 - 1 / 5) / 3, (1 + 1 / 3 + 1 / 5) / 3])
    # fewer than 5 labels in all: k of at most the number of labels
    Y3 = sp.csr_matrix(np.array([[1, 0, 1]], dtype=np.int8))
    np.testing.assert_allclose(precision_gains(np.array([[0, 2]]), np.array([[1, 0]]), Y3), [(1 - 0) / 1])


def test_rows_win_needs_more_than_one_standard_error(monkeypatch):
    rng = np.random.default_rng(1)
    noise = rng.normal(0.0, 1.0, 2_000)
    noise -= noise.mean()
    se = noise.std(ddof=1) / np.sqrt(noise.size)
    assert rows_win(noise + 1.2 * se) and not rows_win(noise + 0.8 * se)
    assert not rows_win(noise) and not rows_win(noise - 3 * se)
    assert rows_win(np.full(10, 0.1)) and not rows_win(np.zeros(10))  # every row gains: no spread needed
    assert not rows_win(np.array([1.0]))  # one row: no test
    monkeypatch.setattr(blend, "ROWS_Z", 2.0)
    assert not rows_win(noise + 1.2 * se)


def test_rows_is_pairs_with_the_shared_weights_as_sample_weight():
    """Without a calibration split (fewer than 1,000 rows) and with a fixed step, "rows" trains the model
    that "pairs" trains with sample_weight c / |Y_i| (the same pair weights)."""
    X, Y, _, _ = multilabel_few_rows_data(seed=2)
    X, Y = X[:600], Y[:600]
    counts = np.diff(Y.indptr).astype(np.float64)
    c = label_cardinality(Y, np.ones(600))
    params = {"random_state": 0, "n_jobs": 1, "learning_rate": 0.1, "max_iter": 3}
    rows = AdversarialSoftmaxClassifier(label_weighting="rows", **params).fit(X, Y)
    pairs = AdversarialSoftmaxClassifier(label_weighting="pairs", **params).fit(X, Y, sample_weight=c / counts)
    plain = AdversarialSoftmaxClassifier(label_weighting="pairs", **params).fit(X, Y)
    assert rows.label_weighting_ == "rows" and pairs.label_weighting_ == plain.label_weighting_ == "pairs"
    np.testing.assert_array_equal(dense(rows.coef_), dense(pairs.coef_))
    assert not np.array_equal(dense(rows.coef_), dense(plain.coef_))


def test_single_label_ignores_label_weighting():
    X, Y, _, _ = multilabel_few_rows_data(seed=2, extra=0.0)
    y = Y.indices
    a = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2, label_weighting="rows").fit(X, y)
    b = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2, label_weighting="pairs").fit(X, y)
    np.testing.assert_array_equal(dense(a.coef_), dense(b.coef_))
    assert not hasattr(a, "label_weighting_")


def record_pilots(monkeypatch):
    seen = []
    real = blend.chosen_blend

    def recording(pilot, *args):
        seen.append(pilot.label_weighting)
        return real(pilot, *args)

    monkeypatch.setattr(blend, "chosen_blend", recording)
    return seen


def test_auto_trains_a_rows_pilot_and_keeps_pairs_unless_it_wins(monkeypatch):
    """The "auto" weighting adds a "rows" pilot to the "pairs" one; when it does not win, the model is the "pairs" model bit
    for bit (the pilots draw from their own generator)."""
    X, Y, Xt, _ = multilabel_few_rows_data(seed=3)
    params = {"random_state": 0, "n_jobs": 1, "max_iter": 2}
    seen = record_pilots(monkeypatch)
    pairs = AdversarialSoftmaxClassifier(label_weighting="pairs", **params).fit(X, Y)
    assert seen == ["pairs"]
    monkeypatch.setattr(blend, "ROWS_Z", np.inf)
    auto = AdversarialSoftmaxClassifier(**params).fit(X, Y)
    assert seen == ["pairs", "pairs", "rows"] and auto.label_weighting_ == "pairs"
    np.testing.assert_array_equal(dense(auto.coef_), dense(pairs.coef_))
    np.testing.assert_array_equal(auto.predict_proba(Xt), pairs.predict_proba(Xt))
    assert (auto.centroid_blend_, auto.score_temperature_) == (pairs.centroid_blend_, pairs.score_temperature_)


def test_auto_that_chooses_rows_trains_with_shared_weights_and_keeps_them(monkeypatch):
    X, Y, Xt, _ = multilabel_few_rows_data(seed=3)
    params = {"random_state": 0, "n_jobs": 1, "max_iter": 2}
    monkeypatch.setattr(blend, "ROWS_Z", -np.inf)  # "rows" always wins
    auto = AdversarialSoftmaxClassifier(**params).fit(X, Y)
    pairs = AdversarialSoftmaxClassifier(label_weighting="pairs", **params).fit(X, Y)
    assert auto.label_weighting_ == "rows"
    assert not np.array_equal(dense(auto.coef_), dense(pairs.coef_))
    # later partial_fit calls (and warm starts) keep the fitted choice: as an explicit "rows" would train
    explicit = copy.deepcopy(auto).set_params(label_weighting="rows")
    auto.partial_fit(Xt[:300], Y[:300])
    explicit.partial_fit(Xt[:300], Y[:300])
    assert auto.label_weighting_ == "rows"
    np.testing.assert_array_equal(dense(auto.coef_), dense(explicit.coef_))
    # a new fit chooses again
    monkeypatch.setattr(blend, "ROWS_Z", np.inf)
    assert auto.fit(X, Y).label_weighting_ == "pairs"


def test_auto_choice_with_two_threads_runs_the_pilots_side_by_side(monkeypatch):
    X, Y, _, _ = multilabel_few_rows_data(seed=3)
    seen = record_pilots(monkeypatch)
    choices = []
    for n_jobs in (1, 2):
        clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=n_jobs, max_iter=2).fit(X, Y)
        choices.append(clf.label_weighting_)
    assert sorted(seen) == ["pairs", "pairs", "rows", "rows"]
    assert choices[0] == choices[1]


def test_label_weighting_is_validated():
    X, Y, _, _ = multilabel_few_rows_data(seed=3)
    with pytest.raises(ValueError, match="label_weighting"):
        AdversarialSoftmaxClassifier(label_weighting="labels").fit(X[:50], Y[:50])


# --- the tree's temperature follows the epoch budget (``skxc._blend.budget_tree``) ---------------------------


def test_budget_tree_flattens_beyond_the_budget_epochs(monkeypatch):
    from skxc import AuxiliaryTree
    from skxc._blend import budget_tree
    from skxc._start import tempered

    X, Y, _, _ = multilabel_few_rows_data(seed=4, extra=0.0)
    tree = AuxiliaryTree(n_components=4, random_state=0).fit(X, Y.indices)
    monkeypatch.setattr(blend, "BUDGET_EPOCHS", 10)
    for n_epochs in (1, 5, 10):
        assert budget_tree(tree, n_epochs) is tree
    flat = budget_tree(tree, 40)
    assert flat is not tree and flat.temperature_ == pytest.approx(tree.temperature_ / 4)
    weight, bias = tempered(tree.node_weight_, tree.node_bias_, 0.25)
    np.testing.assert_array_equal(flat.node_weight_, weight)
    np.testing.assert_array_equal(flat.node_bias_, bias)
    assert tree.temperature_ == 1.0 and tree.node_weight_ is not flat.node_weight_  # the fitted tree is untouched
    # flatter trees give each class a log-probability closer to uniform
    spread = [np.std(t.predict_log_proba(X[:50]), axis=1).mean() for t in (tree, flat)]
    assert spread[1] < spread[0]
    # never below the smallest temperature
    assert budget_tree(tree, 10_000).temperature_ == pytest.approx(blend.MIN_TREE_TEMPERATURE)
    monkeypatch.setattr(blend, "BUDGET_EPOCHS", None)
    assert budget_tree(tree, 40) is tree


def test_a_fit_beyond_the_budget_epochs_trains_and_predicts_with_the_flatter_tree(monkeypatch):
    X, Y, Xt, _ = multilabel_few_rows_data(seed=4, extra=0.0)
    y = Y.indices
    monkeypatch.setattr(blend, "BUDGET_EPOCHS", 2)
    params = {"random_state": 0, "n_jobs": 1, "centroid_blend": 0.0}
    flat = AdversarialSoftmaxClassifier(max_iter=4, **params).fit(X, y)
    monkeypatch.setattr(blend, "BUDGET_EPOCHS", None)
    plain = AdversarialSoftmaxClassifier(max_iter=4, **params).fit(X, y)
    assert flat.tree_.temperature_ == pytest.approx(plain.tree_.temperature_ / 2)
    # the bias correction adds the log-probabilities of the tree the model trained with
    xi = np.asarray(Xt @ dense(flat.coef_).T, dtype=np.float64) + flat.intercept_
    np.testing.assert_allclose(flat.decision_function(Xt) - xi, flat.tree_.predict_log_proba(Xt), atol=1e-4)
    assert not np.allclose(flat.decision_function(Xt) - xi, plain.tree_.predict_log_proba(Xt), atol=1e-2)
    assert not np.array_equal(dense(flat.coef_), dense(plain.coef_))
    # an explicit temperature, or a budget within BUDGET_EPOCHS, is kept
    monkeypatch.setattr(blend, "BUDGET_EPOCHS", 2)
    fixed = AdversarialSoftmaxClassifier(max_iter=4, tree_temperature=1.0, **params).fit(X, y)
    assert fixed.tree_.temperature_ == 1.0
    # with early stopping max_iter is a cap, not the budget: the tree stays as chosen
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 4 epochs: the accuracy may still rise
        stopped = AdversarialSoftmaxClassifier(max_iter=4, early_stopping=True, **params).fit(X, y)
    assert stopped.tree_.temperature_ == plain.tree_.temperature_
    short = AdversarialSoftmaxClassifier(max_iter=2, **params).fit(X, y)
    monkeypatch.setattr(blend, "BUDGET_EPOCHS", None)
    short_plain = AdversarialSoftmaxClassifier(max_iter=2, **params).fit(X, y)
    np.testing.assert_array_equal(dense(short.coef_), dense(short_plain.coef_))


# --- the centroid start's held-out loss from more draws (``skxc._start.START_DRAWS``) ------------------------


def test_weighted_negatives_estimate_the_loss_of_fewer():
    """Negatives that count 1/2 each, every column twice, give the loss and bias of the columns once."""
    from skxc._start import _losses_and_biases

    rng = np.random.default_rng(5)
    pos_s, neg_s = rng.normal(1.0, 1.0, 150), rng.normal(0.0, 1.0, (150, 2))
    pos_l, neg_l = -rng.gamma(2.0, 2.0, 150), -rng.gamma(2.0, 2.0, (150, 2))
    scales = np.array([0.0, 0.5, 2.0, 8.0])
    once = _losses_and_biases(scales, pos_s, neg_s, pos_l, neg_l, 3e-3)
    twice = _losses_and_biases(scales, pos_s, np.tile(neg_s, 2), pos_l, np.tile(neg_l, 2), 3e-3, neg_weight=0.5)
    np.testing.assert_allclose(twice[0], once[0], rtol=1e-12)
    np.testing.assert_allclose(twice[1], once[1], rtol=1e-9, atol=1e-12)
    heavier = _losses_and_biases(scales, pos_s, neg_s, pos_l, neg_l, 3e-3, neg_weight=2.0)
    assert np.all(heavier[0][1:] > once[0][1:])


def test_the_start_draws_start_draws_negatives_weighted_to_the_model_count(monkeypatch):
    import skxc._start as start

    X, Y, _, _ = multilabel_few_rows_data(seed=5, extra=0.0)
    y = Y.indices
    seen = []
    real = start.sample_classes

    def recording(Z, n_samples, *args):
        seen.append(n_samples)
        return real(Z, n_samples, *args)

    real_choose = start.choose_centroid_start
    weights = []

    def choose(*args, **kwargs):
        weights.append(args[-1] if len(args) == 8 else kwargs.get("neg_weight", 1.0))
        return real_choose(*args, **kwargs)

    monkeypatch.setattr(start, "sample_classes", recording)
    monkeypatch.setattr(start, "choose_centroid_start", choose)
    params = {"random_state": 0, "n_jobs": 1, "max_iter": 1, "centroid_blend": 0.0, "n_negatives": 2}
    monkeypatch.setattr(start, "START_DRAWS", 16)
    AdversarialSoftmaxClassifier(**params).fit(X, y)
    assert seen == [16] and weights == [2 / 16]
    monkeypatch.setattr(start, "START_DRAWS", None)
    AdversarialSoftmaxClassifier(**params).fit(X, y)
    assert seen == [16, 2] and weights == [2 / 16, 1.0]
    monkeypatch.setattr(start, "START_DRAWS", 16)
    AdversarialSoftmaxClassifier(**{**params, "n_negatives": 20}).fit(X, y)  # never fewer than the model's
    assert seen[-1] == 20 and weights[-1] == 1.0
