"""Stop 51: a stream's first call warns when it misses far more classes than a random sample would."""

import warnings

import numpy as np
import pytest

import skxc._training as training
from skxc import AdversarialSoftmaxClassifier
from skxc.datasets import make_hierarchical_classification


@pytest.fixture(scope="module")
def data():
    return make_hierarchical_classification(n_samples=1200, n_classes=30, random_state=0)


def _unseen_warnings(record) -> list:
    return [w for w in record if issubclass(w.category, UserWarning) and "have no rows in" in str(w.message)]


@pytest.mark.parametrize("call", ["partial_fit", "fit_noise", "partial_fit_multilabel"])
def test_a_first_batch_grouped_by_class_warns(data, call):
    X, y = data
    first = np.flatnonzero(y < 5)  # the rows of 5 of the 30 classes, as a stream sorted by class starts
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        if call == "partial_fit":
            clf.partial_fit(X[first], y[first], classes=np.arange(30))
        elif call == "fit_noise":
            clf.fit_noise(X[first], y[first], classes=np.arange(30))
        else:
            Y = np.zeros((y.size, 30), dtype=np.int8)
            Y[np.arange(y.size), y] = 1
            clf.partial_fit(X[first], Y[first])
    found = _unseen_warnings(record)
    assert len(found) == 1
    assert str(found[0].message).startswith("25 of the 30 classes have no rows in ")
    assert found[0].filename == __file__  # points at the caller


def test_a_shuffled_first_batch_and_uniform_noise_do_not_warn(data):
    X, y = data
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for size in (60, 120, 400):  # random first batches, small ones missing many classes too
            rows = np.random.default_rng(size).permutation(y.size)[:size]
            AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).partial_fit(X[rows], y[rows], classes=np.arange(30))
        first = np.flatnonzero(y < 5)
        for noise in ("uniform", None):  # noise that does not learn from the first batch
            clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, noise=noise)
            clf.partial_fit(X[first], y[first], classes=np.arange(30))
        AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=1).fit(X[first], y[first])  # fit: no stream
    assert _unseen_warnings(record) == []


def test_the_estimate_of_missed_classes():
    """The rule by hand. 20 classes once, 5 twice, 10 absent of 35: Chao1 20 * 19 / (2 * 6) = 31.7 missed by a
    random sample, and 20 of 30 examples of classes held once: no warning. The same 25 classes seen 3 times
    each: 0 missed, none held once: a warning (noise "frequency" too; not without noise)."""
    once = np.concatenate([np.arange(20), np.repeat(np.arange(20, 25), 2)])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        training._warn_unseen_classes(once, 35, "adversarial", "partial_fit")
        assert _unseen_warnings(record) == []
        training._warn_unseen_classes(np.repeat(np.arange(25), 3), 35, "frequency", "partial_fit")
        training._warn_unseen_classes(np.repeat(np.arange(25), 3), 35, None, "partial_fit")
        training._warn_unseen_classes(np.zeros(0, dtype=np.int64), 35, "adversarial", "partial_fit")
    found = _unseen_warnings(record)
    assert len(found) == 1
    message = str(found[0].message)
    assert "10 of the 35 classes" in message and "noise='frequency'" in message and "shuffle the stream" in message


def test_coverage_keeps_small_random_batches_quiet():
    """Chao1 is far below the truth where a random batch is small next to the classes (100 rows of 2,000) or the
    classes are long-tailed: those batches hold most of their classes once (f1 / n near 1) and do not warn; a
    batch of 1 or 2 rows neither. A batch that holds every class it has 10 times and misses the rest warns."""
    rng = np.random.default_rng(0)
    zipf = 1.0 / np.arange(1, 10_001)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for seed in range(20):
            r = np.random.default_rng(seed)
            training._warn_unseen_classes(r.integers(0, 2000, 100), 2000, "adversarial", "partial_fit")
            training._warn_unseen_classes(r.choice(10_000, 1000, p=zipf / zipf.sum()), 10_000, "adversarial",
                                          "partial_fit")  # fmt: skip
        training._warn_unseen_classes(np.array([3]), 50, "adversarial", "partial_fit")
        training._warn_unseen_classes(np.array([3, 7]), 50, "adversarial", "partial_fit")
        assert _unseen_warnings(record) == []
        training._warn_unseen_classes(np.repeat(rng.permutation(2000)[:200], 10), 2000, "adversarial", "fit_noise")
    found = _unseen_warnings(record)
    assert len(found) == 1 and "1800 of the 2000 classes have no rows in fit_noise's sample" in str(found[0].message)
    assert "pass fit_noise a sample that shows every class" in str(found[0].message)


def test_a_small_shuffled_first_batch_of_many_classes_does_not_warn():
    X, y = make_hierarchical_classification(n_samples=3000, n_features=16, n_classes=500, random_state=0)
    rows = np.random.default_rng(0).permutation(y.size)[:100]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        AdversarialSoftmaxClassifier(random_state=0, n_jobs=1).partial_fit(X[rows], y[rows], classes=np.arange(500))
    assert _unseen_warnings(record) == []
