"""Stop 42 (audit): fits running at once in several threads (joblib's threading backend, a dask worker's
threads) left the whole process's BLAS on one thread after they had all returned: each fit saved and
restored the process-wide limit on its own, and overlapping blocks restored the wrong value."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_info

from skxc._parallel import one_blas_thread


def _blas_threads() -> set[int]:
    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}


@pytest.fixture
def two_blas_threads():
    """The process's BLAS on two threads or more (as found: setting it here would hide the leak)."""
    found = _blas_threads()
    if not found or min(found) < 2:
        pytest.skip("no BLAS on two threads or more that threadpoolctl controls")
    return found


def test_nested_block_keeps_one_thread_until_the_outer_ends(two_blas_threads):
    with one_blas_thread():
        with one_blas_thread():
            assert _blas_threads() == {1}
        assert _blas_threads() == {1}
    assert _blas_threads() == two_blas_threads


def test_concurrent_fits_leave_blas_as_they_found_it(two_blas_threads):
    from joblib import parallel_backend
    from sklearn.model_selection import GridSearchCV

    from skxc import AdversarialSoftmaxClassifier
    from skxc.datasets import make_hierarchical_classification

    X, y = make_hierarchical_classification(n_samples=3000, n_features=64, n_classes=150, random_state=0)
    AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=1).fit(X, y)
    assert _blas_threads() == two_blas_threads
    search = GridSearchCV(
        AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=1), {"alpha": [1e-3, 1e-2, 1e-1, 1.0]}, cv=3,
        n_jobs=2,
    )  # fmt: skip
    with parallel_backend("threading"):
        search.fit(X, y)
    assert _blas_threads() == two_blas_threads
