"""Shared fixtures: tiny data sets and session-scoped fitted models.

Fitted models are cached per parameter set for the whole session; tests must
not modify them (copy them with ``copy.deepcopy`` first).
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext
from unittest import mock

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from skxc import AdversarialSoftmaxClassifier, AuxiliaryTree
from skxc.datasets import make_hierarchical_classification

NOISES = ("uniform", "frequency", "adversarial")


def to_dense(X):
    return np.asarray(X.toarray() if sp.issparse(X) else X)


def to_csr(X):
    return sp.csr_matrix(X)


CONTAINERS = [pytest.param(to_dense, id="dense"), pytest.param(to_csr, id="csr")]


@pytest.fixture(params=CONTAINERS)
def container(request):
    """Turns a dense array into the input format under test (dense or CSR)."""
    return request.param


def _sparsify(X, rng, fraction):
    X = X.copy()
    X[rng.random(X.shape) < fraction] = 0.0
    return X


@pytest.fixture(scope="session")
def data():
    """(X_train, y_train, X_test, y_test): 10 hierarchical classes, 12 features, ~40 % zeros."""
    X, y = make_hierarchical_classification(n_samples=400, n_features=12, n_classes=10, imbalance=0.5, random_state=0)
    X = _sparsify(X, np.random.default_rng(0), 0.4)
    return X[:300], y[:300], X[300:], y[300:]


@pytest.fixture(scope="session")
def fitted(data):
    """Factory ``fitted(noise="uniform", sparse=False, **params)`` of cached fitted classifiers.

    Trained on the ``data`` fixture's training rows with ``random_state=0``,
    ``max_iter=5``, ``tol=None``, ``n_components=4`` unless overridden. Do not
    modify the result.
    """
    X, y = data[0], data[1]
    cache = {}

    def get(noise="uniform", sparse=False, **params):
        key = (noise, sparse, tuple(sorted(params.items())))
        if key not in cache:
            kwargs = dict(noise=noise, random_state=0, max_iter=5, tol=None, n_components=4)
            kwargs.update(params)
            # sparse: the CSR paths, although these rows store most entries (else they train as an array)
            with csr_training() if sparse else nullcontext(), warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                cache[key] = AdversarialSoftmaxClassifier(**kwargs).fit(to_csr(X) if sparse else X, y)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def fitted_tree(data):
    """Factory ``fitted_tree(sparse=False)`` of cached AuxiliaryTrees (k=4) fitted on ``data``."""
    X, y = data[0], data[1]
    cache = {}

    def get(sparse=False):
        if sparse not in cache:
            cache[sparse] = AuxiliaryTree(n_components=4, random_state=0).fit(to_csr(X) if sparse else X, y)
        return cache[sparse]

    return get


@pytest.fixture
def sigint_after_first_kernel_call(monkeypatch):
    """The SGD kernel sends SIGINT to the process after its first call returns (as a user's Ctrl-C
    would), with several pieces per epoch; the fixture's value is the list of kernel calls made."""
    import signal

    import skxc._solver as solver

    real = solver.negative_sampling_epoch
    calls = []

    def kernel(*args):
        real(*args)
        calls.append(1)
        if len(calls) == 1:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(solver, "negative_sampling_epoch", kernel)
    monkeypatch.setattr(solver, "PROGRESS_ROWS", 500)
    return calls


@pytest.fixture(autouse=True)
def _ctrl_c_as_in_a_terminal():
    """Python's own SIGINT handler (KeyboardInterrupt) for every test, as in a terminal session.

    A pytest started with SIGINT ignored (``nohup``, ``cmd &`` in a non-interactive shell, some CI runners)
    inherits ``SIG_IGN``, which training deliberately keeps (a Ctrl-C the caller ignores changes nothing),
    so the tests that send SIGINT would see no interrupt. Restored after the test."""
    import signal

    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def csr_training():
    """Context in which CSR training X takes the sparse paths even where it stores most entries (which would
    otherwise train as arrays: ``skxc._validation.TRAIN_DENSE_DENSITY``)."""
    import skxc._validation as validation

    return mock.patch.object(validation, "TRAIN_DENSE_DENSITY", None)


@pytest.fixture
def sparse_paths():
    """:func:`csr_training` for a whole test: tests of the sparse paths on rows that are mostly dense."""
    with csr_training():
        yield


@pytest.fixture(scope="module")
def text_like():
    """Sparse text-like rows (2,000 training, 400 test) of 40 classes over 600 features: a class's rows share
    a sparse prototype; about 50 rows per class, so sparse fits use the negatives' insert mask."""
    rng = np.random.default_rng(0)
    n, K, C = 2400, 600, 40
    y = rng.integers(0, C, n)
    proto = sp.random(C, K, density=0.02, random_state=1, format="csr")
    X = sp.csr_matrix(sp.random(n, K, density=0.01, random_state=2, format="csr") + proto[y] * 0.5)
    return X[:2000], y[:2000], X[2000:], y[2000:]
