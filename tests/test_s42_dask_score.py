"""``score`` of a dask X checks X's feature names and y's labels as in-memory ``score`` does (stop 42 audit).

Before, a dask dataframe reached ``predict`` as bare numpy blocks (``to_dask_array``): reordered or renamed
columns were scored silently (0.358 for in-memory's 0.857, whose ``score`` raises scikit-learn's "The feature
names should match those that were passed during fit"), and correctly named columns warned "X does not have
valid feature names" once per block. y's labels went through ``searchsorted`` unchecked: strings against an
int-labelled model scored 0.0, NaN labels counted as misses, a sparse column vector raised "y must be a 1-D
array ... got shape ()"; in memory, scikit-learn's label checks raise.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from skxc import AdversarialSoftmaxClassifier
from skxc.datasets import make_hierarchical_classification

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
pd = pytest.importorskip("pandas")
dd = pytest.importorskip("dask.dataframe")

COLUMNS = [f"f{i}" for i in range(6)]


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


@pytest.fixture(scope="module")
def data():
    X, y = make_hierarchical_classification(n_samples=900, n_features=6, n_classes=10, random_state=0)
    return X, y


def _clf():
    return AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2)


@pytest.fixture(scope="module")
def named(data):
    X, y = data
    return _clf().fit(pd.DataFrame(X, columns=COLUMNS), y)


@pytest.fixture(scope="module")
def unnamed(data):
    X, y = data
    return _clf().fit(X, y)


def _error(score, *args):
    """The exception ``score(*args)`` raises (type and message), or None."""
    try:
        score(*args)
    except Exception as e:  # compared whole: type and message
        return type(e), str(e)
    return None


def _warnings(score, *args):
    """``score(*args)`` and the messages of the warnings it emits."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = score(*args)
    return result, [str(w.message) for w in caught]


@pytest.mark.parametrize("change", ["reordered", "renamed", "missing", "extra"])
def test_dask_dataframe_with_other_columns_raises_the_in_memory_error(data, named, change):
    X, y = data
    frame = pd.DataFrame(X, columns=COLUMNS)
    frame = {
        "reordered": lambda: frame[COLUMNS[::-1]],
        "renamed": lambda: frame.set_axis(COLUMNS[:5] + ["g5"], axis=1),
        "missing": lambda: frame[COLUMNS[:5]],
        "extra": lambda: frame.assign(extra=0.0),
    }[change]()
    expected = _error(named.score, frame, y)
    assert expected is not None and expected[0] is ValueError
    assert expected[1].startswith("The feature names should match those that were passed during fit.")
    dy = dd.from_pandas(pd.Series(y), npartitions=3)
    for y_ in (y, dy):
        assert _error(named.score, dd.from_pandas(frame, npartitions=3), y_) == expected


def test_dask_dataframe_with_the_fit_columns_scores_as_in_memory_without_warnings(data, named):
    X, y = data
    frame = pd.DataFrame(X, columns=COLUMNS)
    expected = named.score(frame, y)
    weight = np.linspace(0.5, 1.5, y.shape[0])
    dframe = dd.from_pandas(frame, npartitions=3)
    score, caught = _warnings(named.score, dframe, y)
    assert score == expected and caught == []
    score, caught = _warnings(named.score, dframe, dd.from_pandas(pd.Series(y), npartitions=3), weight)
    # weighted: the partitions' sums add up in another order than one sum over all rows (a few ulp)
    assert score == pytest.approx(named.score(frame, y, sample_weight=weight), rel=1e-12) and caught == []


def test_dask_dataframe_warns_as_in_memory_once(data, named, unnamed):
    """A model fitted without names warns once "X has feature names"; a dataframe of integer column names
    (no valid feature names) once "X does not have valid feature names"; as the pandas frame does."""
    X, y = data
    for model, frame in (
        (unnamed, pd.DataFrame(X, columns=COLUMNS)),
        (named, pd.DataFrame(X)),
    ):
        expected, expected_warnings = _warnings(model.score, frame, y)
        assert len(expected_warnings) == 1
        score, caught = _warnings(model.score, dd.from_pandas(frame, npartitions=3), y)
        assert score == expected and caught == expected_warnings


def test_multilabel_dask_dataframe_checks_feature_names(data):
    X, y = data
    Y = np.eye(10, dtype=np.int64)[y]
    Y[::3, (y[::3] + 1) % 10] = 1
    frame = pd.DataFrame(X, columns=COLUMNS)
    model = _clf().fit(frame, Y)
    assert model.score(dd.from_pandas(frame, npartitions=3), Y) == model.score(frame, Y)
    reordered = frame[COLUMNS[::-1]]
    expected = _error(model.score, reordered, Y)
    assert expected is not None and expected[0] is ValueError
    assert _error(model.score, dd.from_pandas(reordered, npartitions=3), Y) == expected


def _labels_cases(y):
    n = y.shape[0]
    return {
        "strings": y.astype(str),
        "nan": np.where(np.arange(n) < 5, np.nan, y),
        "nan-late": np.where(np.arange(n) == n - 1, np.nan, y),  # in the last block only
        "continuous": y + 0.5,
        "sparse-column": sp.csr_matrix(y.reshape(-1, 1)),
        "sparse-array-column": sp.csr_array(y.reshape(-1, 1)),
    }


@pytest.mark.parametrize("case", list(_labels_cases(np.arange(3))))
def test_dask_score_rejects_labels_as_in_memory(data, unnamed, case):
    X, y = data
    yy = _labels_cases(y)[case]
    expected = _error(unnamed.score, X, yy)
    assert expected is not None
    dX = da.from_array(X, chunks=(300, X.shape[1]))
    ys = [yy] if sp.issparse(yy) else [yy, da.from_array(yy, chunks=200)]
    for y_ in ys:
        got = _error(unnamed.score, dX, y_)
        assert got is not None and got[0] is expected[0]
        if case == "strings":  # scikit-learn lists the labels it saw: those of one block
            assert got[1].startswith("Mix of label input types (string and number); Got [")
            assert expected[1].startswith("Mix of label input types (string and number); Got [")
        elif case == "continuous":  # it names the predictions' type: binary or multiclass, in one block
            assert got[1].startswith("Classification metrics can't handle a mix of continuous and ")
            assert expected[1].startswith("Classification metrics can't handle a mix of continuous and ")
        else:
            assert got[1] == expected[1]


def test_dask_score_of_string_labels_equals_in_memory(data):
    """Valid labels of another dtype still score as in memory, bit for bit (numpy, dask, pandas y)."""
    X, y = data
    labels = np.array([f"class {i:02d}" for i in range(10)], dtype=object)[y]
    model = _clf().fit(X, labels)
    dX = da.from_array(X, chunks=(300, X.shape[1]))
    expected = model.score(X, labels)
    unseen = labels.copy()
    unseen[::7] = "never seen"  # a miss, as in memory
    assert model.score(dX, unseen) == model.score(X, unseen) < expected
    for y_ in (labels, da.from_array(labels, chunks=200), dd.from_pandas(pd.Series(labels), npartitions=3)):
        assert model.score(dX, y_) == expected


def test_dask_score_with_an_empty_block_scores_the_other_rows():
    """A dask X whose row chunks include an empty one (an empty partition) scored with an error from predict
    ("Found array with 0 sample(s)"); its rows are none, the others score as in memory."""
    import dask.array as da

    X, y = make_hierarchical_classification(n_samples=600, n_features=8, n_classes=30, random_state=0)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2).fit(X, y)
    dX = da.from_array(X, chunks=((200, 0, 400), (8,)))
    dy = da.from_array(y, chunks=((200, 0, 400),))
    with dask.config.set(scheduler="synchronous"):
        assert clf.score(dX, dy) == clf.score(X, y)


def test_token_of_a_sparse_weight_stream_is_that_of_its_weights():
    """The token of a model whose weights train in a kept table changed when ``coef_`` was read, and after a
    pickle round trip (the registered normaliser hashed the table and coef_'s cache); the model's own
    ``__dask_tokenize__`` tokenises the weights as ``coef_``. Tokenising does not change the stream."""
    import pickle

    from dask.base import tokenize

    from skxc.datasets import make_extreme_classification

    X, y = make_extreme_classification(n_samples=1500, n_features=2000, n_classes=100, nnz_per_row=10, random_state=0)
    classes = np.unique(y)
    model = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, weights="sparse").partial_fit(X, y, classes=classes)
    token = tokenize(model)
    _ = model.coef_
    assert tokenize(model) == token
    assert tokenize(pickle.loads(pickle.dumps(model))) == token
    plain = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, weights="sparse").partial_fit(X, y, classes=classes)
    model.partial_fit(X, y)
    plain.partial_fit(X, y)
    assert (model.coef_ != plain.coef_).nnz == 0
    np.testing.assert_array_equal(model.intercept_, plain.intercept_)
