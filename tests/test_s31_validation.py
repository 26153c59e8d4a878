"""Input validation fixed after an audit (stop 31): metrics' k and normalize, bools and bounds of the
estimators' numeric parameters, n_jobs=0, mixed label types, the data sets' overflowing parameters."""

from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.sparse as sp
from _reference_metrics import ndcg, precision, psndcg, psp, recall
from sklearn.datasets import make_blobs
from sklearn.utils._param_validation import InvalidParameterError

from skxc import AdversarialSoftmaxClassifier, AuxiliaryTree
from skxc.datasets import make_extreme_classification, make_hierarchical_classification
from skxc.metrics import ndcg_at_k, precision_at_k, psndcg_at_k, psp_at_k, recall_at_k

# -- metrics: k beyond the number of labels --------------------------------------------------

REFERENCES = {
    precision_at_k: precision,
    recall_at_k: recall,
    ndcg_at_k: ndcg,
    psp_at_k: psp,
    psndcg_at_k: psndcg,
}


def _problem(seed=0, n=12, n_labels=6):
    rng = np.random.default_rng(seed)
    Y = (rng.random((n, n_labels)) < 0.4).astype(int)
    Y[0] = 0  # an empty row
    S = rng.normal(size=(n, n_labels))
    p = rng.uniform(0.1, 1.0, n_labels)
    return Y, S, p


def _score(metric, Y, pred, k, p, **kwargs):
    if metric in (psp_at_k, psndcg_at_k):
        return metric(Y, pred, propensities=p, k=k, **kwargs)
    return metric(Y, pred, k=k)


@pytest.mark.parametrize("metric", list(REFERENCES))
@pytest.mark.parametrize("sparse", [False, True])
def test_metrics_with_k_beyond_the_labels_keep_their_definition(metric, sparse):
    """k = 10**12 with 6 labels allocated 36 TiB; now the output is sized min(k, n_labels), and the value is
    the reference's (P@k still divides by k)."""
    Y, S, p = _problem()
    pred = sp.csr_matrix(np.where(S > -0.3, S, 0.0)) if sparse else S
    for k in (Y.shape[1] + 3, 10**12):
        args = (Y, pred, p, k) if metric in (psp_at_k, psndcg_at_k) else (Y, pred, k)
        expected = REFERENCES[metric](*args)
        assert _score(metric, Y, pred, k, p) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    if metric is precision_at_k:
        k = Y.shape[1] + 3
        assert _score(metric, Y, pred, 10**12, p) == pytest.approx(_score(metric, Y, pred, k, p) * k / 10**12)


def test_psp_without_normalisation_divides_by_the_large_k():
    Y, S, p = _problem(1)
    k = Y.shape[1] + 3
    small = psp_at_k(Y, S, propensities=p, k=k, normalize=False)
    assert psp_at_k(Y, S, propensities=p, k=10**12, normalize=False) == pytest.approx(small * k / 10**12)
    assert psndcg_at_k(Y, S, propensities=p, k=10**12, normalize=False) == pytest.approx(
        psndcg_at_k(Y, S, propensities=p, k=k, normalize=False), rel=1e-12
    )


@pytest.mark.parametrize("metric", list(REFERENCES))
def test_metrics_with_k_up_to_the_labels_are_unchanged(metric):
    """k <= n_labels takes the same code path as before: the reference's value (bitwise checks: by hand)."""
    Y, S, p = _problem(2)
    for k in range(1, Y.shape[1] + 1):
        args = (Y, S, p, k) if metric in (psp_at_k, psndcg_at_k) else (Y, S, k)
        assert _score(metric, Y, S, k, p) == pytest.approx(REFERENCES[metric](*args), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("metric", [psp_at_k, psndcg_at_k])
@pytest.mark.parametrize("normalize", ["x", 1, None, np.array([True])])
def test_normalize_must_be_a_bool(metric, normalize):
    Y, S, p = _problem()
    with pytest.raises(TypeError, match="normalize must be a bool"):
        metric(Y, S, propensities=p, k=2, normalize=normalize)
    assert metric(Y, S, propensities=p, k=2, normalize=np.True_) == metric(Y, S, propensities=p, k=2)


# -- estimator parameters --------------------------------------------------------------------

FLOAT_PARAMETERS = [
    "learning_rate",
    "alpha",
    "l2",
    "tol",
    "validation_fraction",
    "tree_alpha",
    "tree_temperature",
    "centroid_blend",
    "weight_threshold",
]


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(60, centers=3, random_state=0)


@pytest.mark.parametrize("name", FLOAT_PARAMETERS)
@pytest.mark.parametrize("value", [True, False])
def test_float_parameters_reject_bools(blobs, name, value):
    """learning_rate=True trained at 1.0; a bool out of a parameter's range keeps the range message."""
    with pytest.raises(
        InvalidParameterError,
        match=rf"'{name}' parameter of AdversarialSoftmaxClassifier .*(not a bool|Got {value} instead)",
    ):
        AdversarialSoftmaxClassifier(**{name: value}).fit(*blobs)


def test_every_numeric_parameter_rejects_bools(blobs):
    """All parameters that take numbers (not verbose, which takes True, nor random_state)."""
    numeric = set(FLOAT_PARAMETERS) | {"n_negatives", "max_iter", "n_iter_no_change", "n_components", "n_jobs"}
    assert set(AdversarialSoftmaxClassifier().get_params()) - numeric == {
        "noise",
        "learning_rate_schedule",
        "adagrad",
        "early_stopping",
        "shuffle",
        "tree_projection",
        "init",
        "random_state",
        "verbose",
        "warm_start",
        "weights",
        "label_weighting",
        "calibration",
    }
    for name in numeric:
        with pytest.raises(InvalidParameterError, match=rf"'{name}' parameter .*(not a bool|Got True instead)"):
            AdversarialSoftmaxClassifier(**{name: True}).fit(*blobs)


@pytest.mark.parametrize("name", ["n_components", "alpha", "max_samples", "max_newton_iter", "max_split_iter"])
def test_tree_numeric_parameters_reject_bools(blobs, name):
    with pytest.raises(InvalidParameterError, match=rf"'{name}' parameter of AuxiliaryTree .*not a bool"):
        AuxiliaryTree(**{name: True}).fit(*blobs)


@pytest.mark.parametrize("estimator", [AdversarialSoftmaxClassifier, AuxiliaryTree])
def test_n_jobs_zero_is_rejected_at_validation(blobs, estimator):
    with pytest.raises(InvalidParameterError, match=r"'n_jobs' parameter .*Got 0 instead"):
        estimator(n_jobs=0).fit(*blobs)


@pytest.mark.parametrize("name", ["alpha", "l2", "learning_rate"])
@pytest.mark.parametrize("value", [1e6 * (1 + 1e-15), 1e38, 1e300])
def test_step_parameters_are_bounded(blobs, name, value):
    with pytest.raises(InvalidParameterError, match=rf"'{name}' parameter .*1000000\.0\]"):
        AdversarialSoftmaxClassifier(**{name: value}).fit(*blobs)


def test_bounds_are_checked_by_a_later_partial_fit_too(blobs):
    """scikit-learn validates only a first partial_fit; set_params(alpha=1e300) then diverged in training and
    left NaN weights. Now it fails validation and the model stays as it was."""
    X, y = blobs
    clf = AdversarialSoftmaxClassifier(random_state=0, max_iter=2).fit(X, y)
    proba = clf.predict_proba(X)
    for params in ({"alpha": 1e300}, {"l2": 1e300}, {"learning_rate": 1e38}, {"n_jobs": 0}):
        with pytest.raises(InvalidParameterError, match=f"'{next(iter(params))}' parameter"):
            clf.set_params(**params).partial_fit(X, y)
        clf.set_params(alpha=3e-3, l2=0.0, learning_rate="auto", n_jobs=None)
    np.testing.assert_array_equal(clf.predict_proba(X), proba)


def test_bounds_allow_their_largest_values(blobs):
    X, y = blobs
    clf = AdversarialSoftmaxClassifier(alpha=1e6, l2=0.0, learning_rate=1e-3, max_iter=1, random_state=0)
    assert np.isfinite(clf.fit(X, y).predict_proba(X)).all()


# -- labels ----------------------------------------------------------------------------------


@pytest.mark.parametrize("estimator", [AdversarialSoftmaxClassifier, AuxiliaryTree])
def test_mixed_labels_starting_with_an_int_are_named(blobs, estimator):
    """scikit-learn said "Unknown label type: unknown" when an object y's first label is not a string."""
    X, y = blobs
    mixed = np.array([str(v) if i % 2 else v for i, v in enumerate(y)], dtype=object)
    with pytest.raises(
        TypeError, match=re.escape("y mixes label types that cannot be sorted together: ['int64', 'str']")
    ):
        estimator().fit(X, mixed)


def test_other_unknown_label_types_keep_scikit_learns_error(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="Unknown label type"):
        AdversarialSoftmaxClassifier().fit(X, y.astype(object))  # sortable, but not strings
    with pytest.raises(ValueError, match="Unknown label type"):
        AdversarialSoftmaxClassifier().fit(X, np.linspace(0, 1, len(y)))


# -- data sets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"class_sep": 1e308, "decay": 10.0},
        {"class_sep": 1.0, "decay": 1e200},  # decay**level overflows Python's float power
        {"noise": 1e308},
    ],
)
def test_hierarchical_data_that_would_overflow_is_an_error(params):
    with pytest.raises(ValueError, match=r"class_sep=.*decay=.*noise=.*beyond the float64 range"):
        make_hierarchical_classification(n_samples=50, n_classes=8, random_state=0, **params)


def test_hierarchical_data_with_a_zero_scale_and_huge_decay_is_fine():
    X, _ = make_hierarchical_classification(n_samples=50, n_classes=8, class_sep=0.0, decay=1e200, random_state=0)
    assert np.isfinite(X).all()


@pytest.mark.parametrize(
    "params, name",
    [
        ({"n_features": 10**13}, "n_features"),
        ({"n_features": 2**31}, "n_features"),
        ({"n_groups": 2**31}, "n_groups"),
        ({"n_samples": True}, "n_samples"),
        ({"signature_size": True}, "signature_size"),
    ],
)
def test_extreme_data_integer_parameters_are_bounded(params, name):
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        make_extreme_classification(**({"n_samples": 10, "n_classes": 10} | params))


@pytest.mark.parametrize("estimator", [AdversarialSoftmaxClassifier, AuxiliaryTree])
def test_n_components_is_bounded_before_the_projection_allocates(estimator):
    """n_components=50,000 on wide sparse X asked the randomized SVD for gigabytes (a numpy MemoryError that
    named nothing); it is now a parameter error."""
    X = np.random.default_rng(0).random((60, 5))
    y = np.arange(60) % 3
    with pytest.raises(ValueError, match=r"'n_components' parameter .* range \[0, 1024\]"):
        estimator(n_components=50_000).fit(X, y)
    assert estimator(n_components=1024, random_state=0).fit(X, y) is not None


def test_multilabel_fit_with_only_zero_weight_labels_is_an_error():
    """Every labelled row at weight 0 (audit): a fit that trained nothing passed silently with coef_ 0."""
    X = np.random.default_rng(0).random((40, 5))
    Y = np.zeros((40, 6), dtype=int)
    Y[:20, :3] = 1
    weight = np.r_[np.zeros(20), np.ones(20)]
    with pytest.raises(ValueError, match="no labels of positive weight"):
        AdversarialSoftmaxClassifier(random_state=0).fit(X, Y, sample_weight=weight)


def test_multilabel_warm_start_error_does_not_offer_partial_fit():
    """partial_fit rejects other label columns too: the warm start's error offers it only to single-label models."""
    X = np.random.default_rng(0).random((60, 5))
    Y = (np.random.default_rng(1).random((60, 6)) < 0.4).astype(int)
    Y[:, 0] = 1
    clf = AdversarialSoftmaxClassifier(random_state=0, warm_start=True, max_iter=1).fit(X, Y)
    with pytest.raises(ValueError, match="label columns") as error:
        clf.fit(X, Y[:, :5])
    assert "partial_fit" not in str(error.value)
