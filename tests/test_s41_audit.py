"""Stop 41: what a fifth audit from a user's side found in the multi-label targets, the metrics and the
XMC reader: values that were read as numbers on older NumPy, repeated sparse entries that summed to 0 or 1,
a label matrix without columns, NumPy integers of small dtypes as ``k``, and the two-label top-2 / indicator
look-alike."""

from __future__ import annotations

import io
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from skxc import AdversarialSoftmaxClassifier
from skxc.datasets import load_xmc_file
from skxc.metrics import ndcg_at_k, precision_at_k, propensity

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def old_fromstring(real):
    """``np.fromstring`` as NumPy 1.26 and 2.2 have it for float64 and a separator: the valid prefix of a token
    that is not a number, a DeprecationWarning and the numbers read up to there (NumPy 2.4 raises)."""

    def fromstring(text, dtype=float, sep=""):
        if np.dtype(dtype) != np.float64 or not sep.strip() == "":
            return real(text, dtype=dtype, sep=sep)
        values = []
        for token in text.split():
            match = _NUMBER.match(token)
            if match is None or match.end() != len(token):
                if match is not None:
                    values.append(float(match.group()))
                warnings.warn("string or file could not be read to its end", DeprecationWarning, stacklevel=2)
                break
            values.append(float(token))
        return np.array(values, dtype=np.float64)

    return fromstring


@pytest.mark.parametrize("value", ["1.5abc", "1-2", "1,5", "2e3x", "1.5.3", "0x1A", "abc"])
@pytest.mark.parametrize("emulate_old_numpy", [False, True])
def test_xmc_value_not_a_number_on_every_numpy(monkeypatch, value, emulate_old_numpy):
    # NumPy 1.26 / 2.2 read "1.5abc" as 1.5 with only a DeprecationWarning: the reader must still refuse it
    if emulate_old_numpy:
        monkeypatch.setattr(np, "fromstring", old_fromstring(np.fromstring))
    text = f"2 3 2\n0 0:{value} 2:7\n1 1:0.5\n"
    with pytest.raises(ValueError, match=re.escape(f"Line 2: feature value '{value}' is not a number")):
        load_xmc_file(io.StringIO(text))


def test_xmc_valid_values_under_emulated_old_numpy(monkeypatch):
    monkeypatch.setattr(np, "fromstring", old_fromstring(np.fromstring))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X, Y = load_xmc_file(io.StringIO("3 3 2\r\n0,1 0:1.5 2:7 \r\n1\t1:-.5\n 2:+3E2\n"))
    np.testing.assert_array_equal(X.toarray(), [[1.5, 0, 7], [0, -0.5, 0], [0, 0, 300]])
    np.testing.assert_array_equal(Y.toarray(), [[1, 1], [0, 1], [0, 0]])


def test_old_fromstring_emulation_is_faithful_to_its_reference():
    # the emulation itself: a prefix, a warning, the numbers before
    fake = old_fromstring(np.fromstring)
    with pytest.warns(DeprecationWarning):
        np.testing.assert_array_equal(fake("3 1.5abc 4", dtype=np.float64, sep=" "), [3.0, 1.5])
    np.testing.assert_array_equal(fake("3 -1e2 .5", dtype=np.float64, sep=" "), [3.0, -100.0, 0.5])


def _coo_with_repeats(values):
    rows = [0] * len(values) + [1, 2, 3]
    cols = [1] * len(values) + [0, 1, 0]
    return sp.coo_matrix((np.array(list(values) + [1, 1, 1], dtype=float), (rows, cols)), shape=(4, 2))


@pytest.mark.parametrize("values", [(1.0, -1.0), (0.5, 0.5), (2.0, -1.0), (3.0, -3.0)])
def test_repeated_sparse_entries_that_are_not_0_1_are_rejected(values):
    # scipy sums repeated entries; entries that are no indicators must not pass by summing to 0 or 1
    Y = _coo_with_repeats(values)
    X = np.random.default_rng(0).normal(size=(4, 3))
    with pytest.raises(ValueError, match="values other than 0 and 1"):
        AdversarialSoftmaxClassifier(max_iter=1).fit(X, Y)
    with pytest.raises(ValueError, match="entries 0 or 1; found the value"):
        precision_at_k(Y, np.ones((4, 2)), k=1)
    with pytest.raises(ValueError, match="entries 0 or 1; found the value"):
        propensity(Y)


def test_repeated_ones_keep_their_own_message():
    Y = _coo_with_repeats((1.0, 1.0))
    X = np.random.default_rng(0).normal(size=(4, 3))
    with pytest.raises(ValueError, match="more than once"):
        AdversarialSoftmaxClassifier(max_iter=1).fit(X, Y)


@pytest.mark.parametrize("method", ["fit", "partial_fit", "fit_noise"])
@pytest.mark.parametrize("sparse", [False, True])
def test_label_matrix_without_columns_is_named(method, sparse):
    X = np.random.default_rng(0).normal(size=(40, 3))
    Y = sp.csr_matrix((40, 0)) if sparse else np.zeros((40, 0))
    with pytest.raises(ValueError, match="needs at least 2 labels.*got 0"):
        getattr(AdversarialSoftmaxClassifier(max_iter=1), method)(X, Y)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.int64])
def test_predict_top_k_takes_numpy_integers_of_any_width(dtype):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 4))
    y = rng.integers(0, 5, 2000)
    clf = AdversarialSoftmaxClassifier(max_iter=1, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow in the output guard's sizes
        top, proba = clf.predict_top_k(X, k=dtype(2), return_scores=True)
    ref_top, ref_proba = clf.predict_top_k(X, k=2, return_scores=True)
    np.testing.assert_array_equal(top, ref_top)
    np.testing.assert_array_equal(proba, ref_proba)


def test_two_label_top2_lookalike_warns_and_is_read_as_labels():
    Y = np.array([[0, 1], [1, 0], [0, 1], [1, 1]])
    pred = np.array([[0, 1], [1, 0], [0, 1], [1, 0]])  # an indicator with one label per row, or a top-2 list
    with pytest.warns(UserWarning, match="read as a top-2 label matrix"):
        value = precision_at_k(Y, pred, k=1)
    assert value == pytest.approx(1 / 4)  # as label lists, best first: only row 3's first label (1) is relevant
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scores and three labels: no warning
        assert precision_at_k(Y, pred.astype(float), k=1) == pytest.approx(1.0)
        ndcg_at_k(np.eye(3, dtype=int), np.array([[0, 1, 2], [1, 2, 0], [2, 0, 1]]), k=2)


def test_xmc_gzip_file_by_path_gets_a_hint(tmp_path):
    import gzip

    path = tmp_path / "train.txt.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("2 3 2\n0 0:1.5\n1 1:0.5\n")
    with pytest.raises(ValueError, match=r"not a UTF-8 text file.*gzip-compressed: pass gzip.open\(path, 'rt'\)"):
        load_xmc_file(path)
    with gzip.open(path, "rt") as handle:
        X, Y = load_xmc_file(handle)
    np.testing.assert_array_equal(X.toarray(), [[1.5, 0, 0], [0, 0.5, 0]])


def test_model_memory_error_is_public_and_both_kinds():
    import skxc
    from skxc._validation import ModelMemoryError

    assert skxc.ModelMemoryError is ModelMemoryError and "ModelMemoryError" in skxc.__all__
    assert issubclass(skxc.ModelMemoryError, ValueError) and issubclass(skxc.ModelMemoryError, MemoryError)
    with pytest.raises(skxc.ModelMemoryError, match="n_samples"):
        skxc.datasets.make_extreme_classification(n_samples=10**12, n_features=100, n_classes=1000)


# ---------------------------------------------------------------- single-label inputs and state (second audit)


def _frame_data(n=600, d=6, seed=0):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X[:, 0] > 0).astype(int) + 2 * (X[:, 1] > 0)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(d)]), y


def test_warm_start_refuses_reordered_or_renamed_columns():
    df, y = _frame_data()
    clf = AdversarialSoftmaxClassifier(warm_start=True, max_iter=2, random_state=0).fit(df, y)
    coef, names = np.array(clf.coef_), clf.feature_names_in_.copy()
    renamed = df.rename(columns={"f0": "g0"})
    for X in (df[df.columns[::-1]], renamed):
        with pytest.raises(ValueError, match="X's feature names differ from feature_names_in_"):
            clf.fit(X, y)
        np.testing.assert_array_equal(clf.coef_, coef)  # the model as it was
        np.testing.assert_array_equal(clf.feature_names_in_, names)
    clf.fit(df, y)  # the same columns continue
    clf.fit(df.to_numpy(), y)  # no names: positional, as scikit-learn's warm starts
    cold = AdversarialSoftmaxClassifier(max_iter=1, random_state=0).fit(df, y)
    cold.fit(df[df.columns[::-1]], y)  # a new fit may have other columns
    np.testing.assert_array_equal(cold.feature_names_in_, df.columns[::-1])


@pytest.mark.parametrize("classes", [[0.0, 1.0, 2.0, 3.0, np.nan], np.array([0, 1, 2, 3, None], dtype=object)])
def test_nan_or_none_in_classes_is_refused(classes):
    from skxc import AuxiliaryTree

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 5)), rng.integers(0, 4, 200).astype(float)
    with pytest.raises(ValueError, match="classes contains NaN or None"):
        AdversarialSoftmaxClassifier().fit_noise(X, y, classes=classes)
    with pytest.raises(ValueError, match="classes contains NaN or None"):
        AuxiliaryTree().fit(X, y, classes=classes)


@pytest.mark.parametrize("param", ["max_newton_iter", "max_split_iter"])
def test_tree_iteration_counts_are_bounded(param):
    from sklearn.utils._param_validation import InvalidParameterError

    from skxc import AuxiliaryTree

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(100, 4)), rng.integers(0, 4, 100)
    with pytest.raises(InvalidParameterError, match=param):
        AuxiliaryTree(**{param: 2**63}).fit(X, y)
    AuxiliaryTree(**{param: 2}).fit(X, y)


@pytest.mark.parametrize("n_classes", [2, 4, 5, 7])
def test_predict_top_k_default_k_is_at_most_n_classes(n_classes):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 4)), np.arange(300) % n_classes
    clf = AdversarialSoftmaxClassifier(max_iter=1, random_state=0).fit(X, y)
    top = clf.predict_top_k(X[:10])
    assert top.shape == (10, min(5, n_classes))
    np.testing.assert_array_equal(top, clf.predict_top_k(X[:10], k=min(5, n_classes)))
    with pytest.raises(ValueError, match=re.escape(f"k must be an integer in [1, n_classes={n_classes}]")):
        clf.predict_top_k(X[:10], k=n_classes + 1)  # an explicit k beyond the classes stays an error


def test_blend_warns_about_classes_without_rows():
    """A frozen tree's classes that y lacks have no centroid: the blended model gives them almost no
    probability (64 nats on their test rows in the audit's case); fit says so and how to avoid it."""
    from sklearn.frozen import FrozenEstimator

    from skxc import AuxiliaryTree
    from skxc.datasets import make_hierarchical_classification

    X, y = make_hierarchical_classification(n_samples=3000, n_features=16, n_classes=120, random_state=3)
    tree = AuxiliaryTree(random_state=0, n_components=8).fit(X, y)
    some = y < 100
    with pytest.warns(UserWarning, match="20 of the 120 classes have no training rows") as record:
        clf = AdversarialSoftmaxClassifier(noise=FrozenEstimator(tree), random_state=0, centroid_blend=64.0)
        clf.fit(X[some], y[some])
    assert record[0].filename == __file__  # points at the caller's fit
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        AdversarialSoftmaxClassifier(noise=FrozenEstimator(tree), random_state=0, centroid_blend=0.0).fit(
            X[some], y[some]
        )
        AdversarialSoftmaxClassifier(random_state=0, centroid_blend=64.0, max_iter=1).fit(X, y)  # every class


def test_early_stopping_holds_out_rows_uniformly_and_weighs_its_score():
    """Stop 41: early stopping held rows out with probabilities proportional to their weights, so heavy rows
    left training far more than their share (classes of weight 5: their predicted mass 0.226 / 0.168 at
    validation_fraction 0.1 / 0.3 against 0.248 / 0.255 with the rows repeated 5 times; scratch s41/qa7).
    Now the rows of positive weight are held out uniformly and the validation score weighs them."""
    from skxc._fit import holdout
    from skxc._start import held_out_rows

    weight = np.r_[np.zeros(200), np.ones(400), np.full(400, 3.0)]
    counts = np.zeros(weight.size)
    rng = np.random.default_rng(0)
    for _ in range(300):
        kept, held = held_out_rows(weight.size, 40, rng, weight, by_weight=False)
        counts[held] += 1
    assert counts[:200].sum() == 0  # weight 0: never
    light, heavy = counts[200:600].mean(), counts[600:].mean()
    assert light == pytest.approx(15.0, rel=0.06) and heavy == pytest.approx(15.0, rel=0.06)  # 40 / 800 x 300
    X = np.arange(1000, dtype=np.float64)[:, None]
    codes = np.arange(1000) % 4
    *_, (X_val, _, w_val) = holdout(X, codes, codes, weight, 0.1, np.random.default_rng(0), False)
    np.testing.assert_array_equal(w_val, weight[X_val[:, 0].astype(int)])
    # weighted as the same rows repeated
    from skxc.datasets import make_hierarchical_classification

    Xh, yh = make_hierarchical_classification(n_samples=6000, n_features=16, n_classes=20, random_state=0)
    heavy_rows = yh < 3
    w = np.where(heavy_rows, 5.0, 1.0)
    Xr, yr = np.vstack([Xh, np.repeat(Xh[heavy_rows], 4, axis=0)]), np.r_[yh, np.repeat(yh[heavy_rows], 4)]
    params = dict(early_stopping=True, validation_fraction=0.3, random_state=0, centroid_blend=0, max_iter=5)
    weighted = AdversarialSoftmaxClassifier(**params).fit(Xh, yh, sample_weight=w)
    repeated = AdversarialSoftmaxClassifier(**params).fit(Xr, yr)
    mass_w = weighted.predict_proba(Xh[:2000])[:, :3].sum(axis=1).mean()
    mass_r = repeated.predict_proba(Xh[:2000])[:, :3].sum(axis=1).mean()
    assert mass_w == pytest.approx(mass_r, abs=0.03)
