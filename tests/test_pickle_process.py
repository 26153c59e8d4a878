"""A model pickled in one process predicts bitwise identically in another whose numba cache
is cold; a clone refitted with the same random_state predicts identically too."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from skxc import AdversarialSoftmaxClassifier
from skxc.datasets import make_hierarchical_classification

#: (noise, sparse, string labels) of the models pickled; all load in one child process (one cold compile).
CASES = {
    "adversarial-dense": ("adversarial", False, False),
    "adversarial-csr": ("adversarial", True, True),
    "exact-dense": (None, False, True),
    "exact-csr": (None, True, False),
}

_CHILD = textwrap.dedent(
    """
    import pickle, sys
    import numpy as np

    with open(sys.argv[1], "rb") as f:
        cases = pickle.load(f)
    for name, (model, X) in cases.items():
        np.save(f"{sys.argv[2]}/{name}-predict.npy", model.predict(X))
        np.save(f"{sys.argv[2]}/{name}-proba.npy", model.predict_proba(X))
        np.save(f"{sys.argv[2]}/{name}-top.npy", model.predict_top_k(X, k=3))
    """
)


@pytest.fixture(scope="module")
def problem():
    X, y = make_hierarchical_classification(n_samples=240, n_features=10, n_classes=8, random_state=1)
    X[np.abs(X) < 0.4] = 0.0  # some sparsity
    names = np.array([f"class-{c}" for c in range(8)])
    return X[:200], y[:200], X[200:], names


def _model(case, problem):
    noise, sparse, strings = CASES[case]
    X, y, X_test, names = problem
    fmt = sp.csr_matrix if sparse else np.asarray
    clf = AdversarialSoftmaxClassifier(noise=noise, max_iter=3, n_components=4, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(fmt(X), names[y] if strings else y)
    return clf, fmt(X_test)


def _predictions(model, X):
    return model.predict(X), model.predict_proba(X), model.predict_top_k(X, k=3)


def test_pickled_model_predicts_identically_in_a_cold_process(problem, tmp_path):
    cases = {case: _model(case, problem) for case in CASES}
    expected = {case: _predictions(*cases[case]) for case in CASES}
    with open(tmp_path / "cases.pkl", "wb") as f:
        pickle.dump(cases, f)
    out = tmp_path / "out"
    out.mkdir()
    cache = tmp_path / "numba-cache"  # empty: the child compiles every kernel it calls
    cache.mkdir()
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path / "cases.pkl"), str(out)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    if env.get("SKXC_NUMBA_CACHE", "1") != "0" and os.environ.get("NUMBA_DISABLE_JIT", "0") in ("", "0"):
        assert any(cache.rglob("*.nbi")), "the child did not compile into its own (cold) numba cache"
    for case in CASES:
        pred, proba, top = expected[case]
        got_pred = np.load(out / f"{case}-predict.npy")
        assert got_pred.dtype == pred.dtype, case
        assert_array_equal(got_pred, pred, err_msg=case)
        assert_array_equal(np.load(out / f"{case}-proba.npy"), proba, err_msg=case)  # bitwise
        assert_array_equal(np.load(out / f"{case}-top.npy"), top, err_msg=case)


@pytest.mark.parametrize("case", list(CASES))
def test_clone_refit_predicts_identically(problem, case):
    clf, X_test = _model(case, problem)
    X, y, _, names = problem
    noise, sparse, strings = CASES[case]
    refit = clone(clf).fit(sp.csr_matrix(X) if sparse else X, names[y] if strings else y)
    assert_array_equal(refit.coef_, clf.coef_)
    assert_array_equal(refit.intercept_, clf.intercept_)
    for got, expected in zip(_predictions(refit, X_test), _predictions(clf, X_test), strict=True):
        assert_array_equal(got, expected)
    # and a pickle round trip of the refitted model changes nothing either
    again = pickle.loads(pickle.dumps(refit))
    for got, expected in zip(_predictions(again, X_test), _predictions(clf, X_test), strict=True):
        assert_array_equal(got, expected)
