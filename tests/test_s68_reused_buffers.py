"""Stop 68: less fresh memory in a fit: its large buffers reused (``skxc._memory.reused_buffers``) and the
rows' sum of squares without a float64 copy of X (``skxc._start.sum_of_squares``)."""

import mmap
import os
import sys
import threading

import numpy as np
import pytest
import scipy.sparse as sp

import skxc._memory as memory
import skxc._start as start
import skxc._validation as validation
from skxc import AdversarialSoftmaxClassifier
from skxc.datasets import make_hierarchical_classification

LINUX = sys.platform.startswith("linux") and hasattr(mmap, "MADV_NOHUGEPAGE")
linux_only = pytest.mark.skipif(not LINUX, reason="the memory maps are Linux's")


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


@linux_only
def test_a_released_map_is_reused_zeroed_and_the_pool_empties_after_the_block():
    n = memory.LARGE_BYTES // 4
    with memory.reused_buffers():
        a = memory.zeros((n,), np.float32, populate=True)
        a[:] = 1.0
        where = _address(a)
        del a
        assert memory.pooled_bytes() == 4 * n
        b = memory.zeros((n // 2, 2), np.float32, order="F", populate=True)  # the same bytes, another shape
        assert _address(b) == where and memory.pooled_bytes() == 0
        assert b.shape == (n // 2, 2) and b.flags.f_contiguous and not b.any()
        b[:] = 2.0
        del b
        c = memory.zeros((3 * n,), np.float32, populate=True)  # larger: the kept map grown (mremap)
        assert c.shape == (3 * n,) and not c.any() and memory.pooled_bytes() == 0
        c[:] = 3.0
        del c
        d = memory.zeros((n,), np.float64, populate=True)  # smaller: shrunk to the bytes asked for
        assert not d.any() and len(d.base) == 8 * n and memory.pooled_bytes() == 0
        del d
        assert memory.pooled_bytes() == 8 * n
    assert memory.pooled_bytes() == 0  # freed with the block
    e = memory.zeros((n,), np.float32, populate=True)  # outside a fit: nothing kept
    del e
    assert memory.pooled_bytes() == 0


@linux_only
def test_a_map_is_not_reused_while_a_view_of_its_array_lives():
    n = memory.LARGE_BYTES // 4
    with memory.reused_buffers():
        a = memory.zeros((n,), np.float32, populate=True)
        a[:] = 5.0
        view = a[10:20]
        del a
        assert memory.pooled_bytes() == 0  # the view keeps the array, and its map, in use
        b = memory.zeros((n,), np.float32, populate=True)
        assert not b.any() and np.all(view == 5.0)  # a fresh map: the view's values untouched
        del view
        assert memory.pooled_bytes() == 4 * n


@linux_only
def test_a_request_no_kept_map_covers_grows_the_largest_and_frees_the_others():
    n = memory.LARGE_BYTES // 4
    with memory.reused_buffers():
        small, large = memory.zeros((n,), np.float32, populate=True), memory.zeros((2 * n,), np.float32, populate=True)
        del small, large
        assert memory.pooled_bytes() == 12 * n
        c = memory.zeros((4 * n,), np.float32, populate=True)
        assert memory.pooled_bytes() == 0  # the pool never holds more than the fit held before
        assert not c.any()


@linux_only
def test_overlapping_blocks_share_one_pool_until_the_last_ends():
    n = memory.LARGE_BYTES // 4
    outer = memory.reused_buffers()
    outer.__enter__()
    try:
        with memory.reused_buffers():  # a pilot's fit, nested
            a = memory.zeros((n,), np.float32, populate=True)
            del a
        assert memory.pooled_bytes() == 4 * n  # still kept: the outer fit runs
    finally:
        outer.__exit__(None, None, None)
    assert memory.pooled_bytes() == 0


@linux_only
def test_threads_taking_and_releasing_maps_always_get_zeros():
    n = memory.LARGE_BYTES // 4
    bad = []

    def work(seed):
        rng = np.random.default_rng(seed)
        for _ in range(6):
            size = int(n * rng.uniform(1.0, 2.5))
            a = memory.zeros((size,), np.float32, populate=True)
            if a.shape != (size,) or a[::4096].any() or a[-1] != 0:
                bad.append(size)
            a[::1024] = 7.0
            del a

    with memory.reused_buffers():
        threads = [threading.Thread(target=work, args=(seed,)) for seed in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert bad == [] and memory.pooled_bytes() == 0


@linux_only
def test_the_memory_guard_counts_kept_maps_as_available(monkeypatch):
    monkeypatch.setattr(validation, "_os_available", lambda: 10**9)
    monkeypatch.setattr(validation, "_cgroup_available", lambda: None)
    monkeypatch.setattr(validation, "_address_space_available", lambda: None)
    n = memory.LARGE_BYTES // 4
    with memory.reused_buffers():
        a = memory.zeros((n,), np.float32, populate=True)
        del a
        assert validation.available_memory_bytes() == 10**9 + 4 * n
    assert validation.available_memory_bytes() == 10**9


@pytest.mark.parametrize("sparse_X", [True, False])
@linux_only
def test_fits_with_and_without_reuse_give_the_same_model(monkeypatch, sparse_X):
    # every buffer through the pool (LARGE_BYTES tiny): the pilots' and the model's weights and Adagrad sums
    rng = np.random.default_rng(0)
    n, n_classes = 3000, 300
    if sparse_X:
        X = sp.random(n, 500, density=0.02, format="csr", random_state=0, dtype=np.float64)
        y = rng.integers(0, n_classes, size=n)
    else:
        X, y = make_hierarchical_classification(n_samples=n, n_features=64, n_classes=n_classes, random_state=0)
    monkeypatch.setattr(memory, "LARGE_BYTES", 1 << 12)
    taken = []
    take = memory._POOL.take
    monkeypatch.setattr(memory._POOL, "take", lambda nbytes: taken.append(take(nbytes)) or taken[-1])
    models = []
    for reuse in (False, True):
        monkeypatch.setattr(memory, "REUSE", reuse)
        clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=3).fit(X, y)
        models.append(clf)
    assert sum(kept is not None for kept in taken) >= 2  # pilots' arrays were reused
    coef = [m.coef_.toarray() if sp.issparse(m.coef_) else m.coef_ for m in models]
    np.testing.assert_array_equal(coef[0], coef[1])
    np.testing.assert_array_equal(models[0].intercept_, models[1].intercept_)
    np.testing.assert_array_equal(models[0].predict_proba(X[:50]), models[1].predict_proba(X[:50]))
    assert memory.pooled_bytes() == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7,), (5, 3), (3001, 384), (1 << 20,), ((1 << 20) + 9,), (70_001, 61)])
@pytest.mark.parametrize("order", ["C", "F"])
def test_sum_of_squares_has_the_bits_of_numpys_sum_of_float64_squares(monkeypatch, dtype, shape, order):
    rng = np.random.default_rng(len(shape) + shape[0])
    scale = rng.uniform(0, 1e3, size=shape[0]).reshape((-1,) + (1,) * (len(shape) - 1))
    a = np.asarray(rng.standard_normal(shape) * scale, dtype=dtype, order=order)
    monkeypatch.setattr(start, "SQUARES_BLOCK", 1 << 12)  # many levels of halves even on small arrays
    expected = float(np.square(a, dtype=np.float64).sum())
    assert start.sum_of_squares(a) == expected
    if a.ndim == 2:  # not contiguous: NumPy's expression itself
        assert start.sum_of_squares(a[::2]) == float(np.square(a[::2], dtype=np.float64).sum())
    X = sp.csr_matrix(a.reshape(a.shape[0], -1))
    r = np.sqrt(float(np.square(X.data, dtype=np.float64).sum()) / X.shape[0])
    assert start.rms_row_norm(X) == r and start.rms_row_norm(a.reshape(a.shape[0], -1)) == np.sqrt(
        expected / a.shape[0]
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 5), (37, 11), (500, 64), (3, 1000)])
def test_dense_row_norms_have_the_bits_of_numpys_norm(monkeypatch, dtype, shape):
    rng = np.random.default_rng(shape[0])
    a = (rng.standard_normal(shape) * rng.uniform(0, 50, size=(shape[0], 1))).astype(dtype)
    a[::3] = 0.0  # zero rows
    monkeypatch.setattr(start, "ROW_BLOCK_ENTRIES", 7)  # several rows' blocks, some of one row
    expected = np.linalg.norm(a, axis=1)
    got = start.dense_row_norms(a)
    assert got.dtype == expected.dtype and np.array_equal(got, expected)
    f = np.asfortranarray(a)  # other layouts: NumPy's norm itself
    assert np.array_equal(start.dense_row_norms(f), np.linalg.norm(f, axis=1))
    unit = start._unit_rows(a.astype(np.float64))
    b = a.astype(np.float64)
    assert start._unit_rows(b, in_place=True) is b and np.array_equal(b, unit)


@pytest.mark.parametrize("order", ["C", "F"])
def test_dense_centroid_starts_in_blocks_give_the_same_model(monkeypatch, order):
    X, y = make_hierarchical_classification(n_samples=3000, n_features=64, n_classes=300, random_state=1)
    X = np.asarray(X, order=order)
    models = []
    for entries in (10**12, 64):  # all rows at once (stop 67), or blocks of one row
        monkeypatch.setattr(start, "ROW_BLOCK_ENTRIES", entries)
        models.append(AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2).fit(X, y))
    assert models[0].init_scale_ > 0  # the centroid start was written
    np.testing.assert_array_equal(models[0].coef_, models[1].coef_)
    np.testing.assert_array_equal(models[0].intercept_, models[1].intercept_)
    coef = np.zeros((20, 64), dtype=np.float32, order=order)
    mu = np.random.default_rng(0).standard_normal((20, 64))
    expected = coef + (3.0 * mu).astype(np.float32) - (3.0 * mu.mean(axis=0)).astype(np.float32)[None, :]
    intercept = np.zeros(20, dtype=np.float32)
    start.add_centred(coef, intercept, (mu, None), 3.0)
    np.testing.assert_array_equal(coef, expected)


@linux_only
def test_arrays_written_sparsely_are_not_kept(monkeypatch):
    n = memory.LARGE_BYTES // 4
    with memory.reused_buffers():
        a = memory.zeros((n,), np.float32)  # populate=False: its pages come on first touch, and go with it
        del a
        assert memory.pooled_bytes() == 0


@linux_only
@pytest.mark.parametrize("how", ["frombuffer", "ndarray"])
def test_a_map_that_other_code_still_uses_is_never_reused_nor_closed(how):
    # an array on a.base does not keep a alive; the map must stay as it is for it (the audit's alias and crash)
    n = memory.LARGE_BYTES // 4
    with memory.reused_buffers():
        a = memory.zeros((n,), np.float32, populate=True)
        a[:] = 1.0
        derived = np.frombuffer(a.base, np.float32) if how == "frombuffer" else np.ndarray((n,), np.float32, a.base)
        del a
        b = memory.zeros((n,), np.float32, populate=True)
        b[:] = 7.0
        assert not np.shares_memory(b, derived) and np.all(derived == 1.0)
    assert float(derived.sum()) == n  # still mapped after the fit: the pool dropped it, nobody closed it


@linux_only
def test_give_takes_no_lock_so_a_collection_inside_the_pool_cannot_deadlock():
    n = memory.LARGE_BYTES // 4
    with memory.reused_buffers():
        a = memory.zeros((n,), np.float32, populate=True)
        done = threading.Event()

        def release():  # a finalizer run while the pool's lock is held (a GC pass inside take or nbytes)
            nonlocal a
            del a
            done.set()

        with memory._POOL._lock:
            t = threading.Thread(target=release)
            t.start()
            t.join(timeout=10)
        assert done.is_set()
        assert memory.pooled_bytes() == 4 * n


@linux_only
def test_arrays_of_an_earlier_fit_released_during_a_later_one_are_freed_not_kept():
    n = memory.LARGE_BYTES // 4
    with memory.reused_buffers():
        model_array = memory.zeros((n,), np.float32, populate=True)  # kept by a fitted model
    with memory.reused_buffers():  # another fit, during which the old model is deleted
        del model_array
        assert memory.pooled_bytes() == 0


@linux_only
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_during_a_fit_starts_with_no_pool():
    n = memory.LARGE_BYTES // 4
    read, write = os.pipe()
    with memory.reused_buffers():
        a = memory.zeros((n,), np.float32, populate=True)
        del a
        pid = os.fork()
        if pid == 0:  # the child: its own fit keeps and then frees its buffers
            try:
                with memory.reused_buffers():
                    b = memory.zeros((n,), np.float32, populate=True)
                    del b
                    inside = memory.pooled_bytes()
                after = memory.pooled_bytes()
                os.write(write, f"{inside} {after} {memory._POOL.active()}".encode())
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
    assert os.read(read, 100).decode() == f"{4 * n} 0 False"
    os.close(read)
    os.close(write)


def test_sum_of_squares_never_cuts_below_numpys_unrolled_sum(monkeypatch):
    a = np.random.default_rng(3).standard_normal(100_003).astype(np.float32)
    expected = float(np.square(a, dtype=np.float64).sum())
    for block in (0, 1, 15, 127, 128, 129, 1000):
        monkeypatch.setattr(start, "SQUARES_BLOCK", block)
        assert start.sum_of_squares(a) == expected
