"""Stop 49: the generated topic text (``text300``, ``text1200``, ``text1200b``) is built by the benchmarks
themselves (``benchmarks/_topic_text.py``), no longer by a scratch script outside the repository."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from benchmarks import _topic_text, calibration, epoch_curves, longtail, streaming
from benchmarks._common import missing_data_dirs


def test_draws_are_those_of_choice_with_probabilities():
    # the generator's documented distribution: rng.choice(n, size, p=p), with the cumulative sums computed once
    p = np.random.default_rng(1).dirichlet(np.full(50, 0.3))
    cdf = p.cumsum()
    cdf /= cdf[-1]
    for n in (0, 1, 37):
        expected = np.random.default_rng(7).choice(50, size=n, p=p)
        np.testing.assert_array_equal(_topic_text._draw(cdf, np.random.default_rng(7), n), expected)


def test_small_topic_text_is_deterministic_tf_idf_with_a_topic_per_class():
    a = _topic_text.topic_text(2_000, 20, 400, 30, 0.5, 3)
    b = _topic_text.topic_text(2_000, 20, 400, 30, 0.5, 3)
    for u, v in zip(a, b, strict=True):
        if sp.issparse(u):
            assert (u != v).nnz == 0
        else:
            np.testing.assert_array_equal(u, v)
    X, y, train, test = a
    assert X.shape == (2_000, 400) and X.dtype == np.float32
    assert train.size == 1_500 and test.size == 500
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(2_000))
    np.testing.assert_allclose(sp.linalg.norm(X, axis=1), 1.0, rtol=1e-5)  # tf-idf rows, L2-normalised
    # Zipf classes: the first class is the most frequent
    counts = np.bincount(y, minlength=20)
    assert counts[0] == counts.max() and counts[0] > 3 * counts[-1]
    # half the words come from the class's topic: rows of one class share far more words than rows of two
    binary = (X > 0).astype(np.float64)
    same = (binary[y == 0][:50] @ binary[y == 0][50:100].T).mean()
    other = (binary[y == 0][:50] @ binary[y == 1][:50].T).mean()
    assert same > 2 * other


@pytest.mark.parametrize("name, shape", [("text300", (11_250, 3_750, 5_000))])
def test_named_set_is_written_in_the_shared_format(tmp_path, name, shape):
    d, label = longtail.materialise(name, tmp_path)
    assert label == name
    X, Xt = sp.load_npz(d / "X_train.npz"), sp.load_npz(d / "X_test.npz")
    y, yt = np.load(d / "y_train.npy"), np.load(d / "y_test.npy")
    assert (X.shape[0], Xt.shape[0], X.shape[1]) == shape == (y.size, yt.size, Xt.shape[1])
    assert y.dtype == np.int64 and np.unique(y).size <= 300
    # the set of docs/benchmarks.rst's tables (made by a scratch script until stop 49): its first rows' classes
    np.testing.assert_array_equal(y[:8], [0, 14, 61, 166, 95, 105, 36, 93])


def test_names_are_generated_sets_for_every_benchmark():
    for name in _topic_text.TOPIC_TEXT_SETS:
        assert name in longtail.GENERATED_NAMES
        assert missing_data_dirs([name], longtail.GENERATED_NAMES) == []
    for module in (calibration, epoch_curves, streaming):
        assert module.GENERATED_NAMES is longtail.GENERATED_NAMES


def test_report_names_the_generator():
    line = _topic_text.describe_topic_text("text1200")
    assert "33,000 documents of 40 words" in line and "20,000-word" in line and "seed 1" in line
