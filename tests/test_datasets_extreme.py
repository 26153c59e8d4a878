"""skxc.datasets.make_extreme_classification: form of the output, its laws (Zipf classes, non-zeros per row,
tf-idf), reproducibility, the class signal, and parameter errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfTransformer

from skxc.datasets import make_extreme_classification

SMALL = dict(n_samples=3000, n_features=4000, n_classes=200, nnz_per_row=30)


@pytest.fixture(scope="module")
def small():
    return make_extreme_classification(**SMALL, random_state=0)


def test_shapes_dtypes_and_canonical_csr(small):
    X, y = small
    assert sp.issparse(X) and X.format == "csr"
    assert X.shape == (3000, 4000) and X.dtype == np.float32 and X.indices.dtype == np.int32
    assert y.shape == (3000,) and y.dtype == np.int64 and y.min() >= 0 and y.max() < 200
    assert X.has_sorted_indices and X.has_canonical_format
    for i in range(X.shape[0]):  # strictly increasing column indices in every row: sorted, no duplicates
        assert np.all(np.diff(X.indices[X.indptr[i] : X.indptr[i + 1]]) > 0)
    assert np.all(X.data > 0) and np.all(np.isfinite(X.data))
    assert np.all(np.diff(X.indptr) >= 1)  # no empty row
    np.testing.assert_allclose(sp.linalg.norm(X, axis=1), 1.0, rtol=1e-5)


def test_mean_nnz_per_row_is_the_requested_one(small):
    X, _ = small
    assert X.nnz / X.shape[0] == pytest.approx(30, rel=0.03)
    X, _ = make_extreme_classification(2000, 1000, 50, nnz_per_row=5, background_exponent=0.0, random_state=1)
    assert X.nnz / X.shape[0] == pytest.approx(5, rel=0.05)


def test_values_are_sklearns_sublinear_tfidf_of_the_counts():
    kw = dict(SMALL, n_samples=500, random_state=3)
    counts, y_counts = make_extreme_classification(**kw, tfidf=False)
    X, y = make_extreme_classification(**kw)
    np.testing.assert_array_equal(y, y_counts)
    assert counts.dtype == np.float32 and np.all(counts.data == np.round(counts.data)) and counts.data.min() >= 1
    assert counts.data.max() > 1  # repeated words merge into counts
    expected = TfidfTransformer(sublinear_tf=True).fit_transform(counts.astype(np.float64))
    np.testing.assert_array_equal(X.indptr, counts.indptr)
    np.testing.assert_array_equal(X.indices, counts.indices)
    np.testing.assert_allclose(X.toarray(), expected.toarray(), rtol=1e-5, atol=1e-7)


def test_same_seed_same_data_other_seed_other_data(small):
    X, y = small
    X2, y2 = make_extreme_classification(**SMALL, random_state=0)
    np.testing.assert_array_equal(y, y2)
    assert (X != X2).nnz == 0
    X3, y3 = make_extreme_classification(**SMALL, random_state=1)
    assert not np.array_equal(y, y3)
    assert X.nnz != X3.nnz or not np.array_equal(X.indices, X3.indices)
    rs = np.random.RandomState(0)  # a RandomState instance is advanced: two calls differ
    assert not np.array_equal(
        make_extreme_classification(**SMALL, random_state=rs)[1],
        make_extreme_classification(**SMALL, random_state=rs)[1],
    )


@pytest.mark.parametrize("n_samples", [200, 201, 1000])
def test_every_class_present_when_rows_suffice(n_samples):
    _, y = make_extreme_classification(n_samples, 500, 200, nnz_per_row=5, class_imbalance=2.0, random_state=0)
    assert np.unique(y).size == 200


def test_fewer_rows_than_classes():
    X, y = make_extreme_classification(50, 500, 200, nnz_per_row=5, random_state=0)
    assert X.shape == (50, 500) and y.max() < 200 and np.unique(y).size < 200


def test_class_frequencies_follow_zipf():
    _, y = make_extreme_classification(20_000, 300, 100, nnz_per_row=3, class_imbalance=1.0, random_state=0)
    freq = np.sort(np.bincount(y, minlength=100))[::-1]
    assert freq[0] > 10 * np.median(freq)
    ranks = np.arange(1, 21)  # the head, where the one guaranteed row per class does not matter
    slope = np.polyfit(np.log(ranks), np.log(freq[:20]), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.15)
    _, y = make_extreme_classification(20_000, 300, 100, nnz_per_row=3, class_imbalance=0.0, random_state=0)
    counts = np.bincount(y, minlength=100)
    assert counts.std() / counts.mean() < 0.15  # balanced: binomial spread only (about 0.07)


def cosine_nearest_centroid_accuracy(X, y, n_train, n_classes):
    """Top-1 of the cosine nearest class mean, fitted on the first n_train rows, on the others."""
    X_train, y_train, X_test, y_test = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
    indicator = sp.csr_matrix((np.ones(n_train), (y_train, np.arange(n_train))), shape=(n_classes, n_train))
    centroids = (indicator @ X_train).toarray()
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    return float(np.mean(np.asarray(X_test @ centroids.T).argmax(axis=1) == y_test))


def test_nearest_centroid_finds_the_class_signal(small):
    X, y = small
    majority = np.bincount(y[:2000]).max() / 2000
    accuracy = cosine_nearest_centroid_accuracy(X, y, 2000, 200)
    assert accuracy > 0.6 and accuracy > 4 * majority
    # without a class signature only the group (about sqrt(200) = 14 classes each) is left: much lower
    X, y = make_extreme_classification(**dict(SMALL, class_signal=0.0, group_signal=0.3), random_state=0)
    assert cosine_nearest_centroid_accuracy(X, y, 2000, 200) < 0.5 * accuracy


def test_edge_parameters():
    kw = dict(n_samples=300, n_features=50, n_classes=10, nnz_per_row=4, random_state=0)
    for extra in (
        dict(class_signal=1.0, group_signal=0.0, signature_size=50),  # no background, signature = all features
        dict(class_signal=0.0, group_signal=0.0, background_exponent=0.0),  # background only, uniform
        dict(n_groups=1),
        dict(n_groups=10, group_signature_size=30),
    ):
        X, y = make_extreme_classification(**kw, **extra)
        assert X.shape == (300, 50) and np.unique(y).size == 10
        np.testing.assert_allclose(sp.linalg.norm(X, axis=1), 1.0, rtol=1e-5)
    X, _ = make_extreme_classification(**dict(kw, nnz_per_row=1), class_signal=1.0, group_signal=0.0, signature_size=1)
    assert np.all(np.diff(X.indptr) == 1)  # one feature per class: one non-zero per row


@pytest.mark.parametrize(
    ("params", "name"),
    [
        (dict(n_samples=0), "n_samples"),
        (dict(n_features=1), "n_features"),
        (dict(n_classes=1), "n_classes"),
        (dict(n_classes=2.5), "n_classes"),
        (dict(nnz_per_row=0.5), "nnz_per_row"),
        (dict(class_imbalance=-1.0), "class_imbalance"),
        (dict(n_groups=0), "n_groups"),
        (dict(n_groups=51), "n_groups"),
        (dict(signature_size=0), "signature_size"),
        (dict(signature_size=101), "signature_size"),
        (dict(group_signature_size=101), "group_signature_size"),
        (dict(class_signal=1.5), "class_signal"),
        (dict(group_signal=-0.1), "group_signal"),
        (dict(class_signal=0.6, group_signal=0.6), "class_signal \\+ group_signal"),
        (dict(background_exponent=-0.5), "background_exponent"),
        (dict(tfidf="yes"), "tfidf"),
        (dict(random_state="seed"), "random_state"),
        (dict(nnz_per_row=90, background_exponent=3.0), "nnz_per_row=90"),
    ],
)
def test_parameter_errors_name_the_parameter(params, name):
    kw = dict(n_samples=20, n_features=100, n_classes=50, nnz_per_row=5)
    with pytest.raises(ValueError, match=name):
        make_extreme_classification(**{**kw, **params})
