"""Stop 51: the large buffers that are written at once get their pages up front (``skxc._memory.POPULATE``)."""

import mmap
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from _smaps import mapping_fields

import skxc._memory as memory
from skxc import AdversarialSoftmaxClassifier

LINUX = sys.platform.startswith("linux") and hasattr(mmap, "MADV_NOHUGEPAGE")


def _rss_kib(a: np.ndarray) -> int | None:
    """The resident KiB of the mapping that holds ``a``'s first byte (/proc/self/smaps), or None if not found."""
    fields = mapping_fields(a)
    return None if fields is None else int(fields["Rss"][0])


def _populate_works() -> bool:
    """Whether this kernel knows MADV_POPULATE_WRITE (Linux 5.14 and later)."""
    probe = mmap.mmap(-1, mmap.PAGESIZE, flags=mmap.MAP_PRIVATE)
    try:
        probe.madvise(memory.MADV_POPULATE_WRITE)
        return True
    except OSError:
        return False
    finally:
        probe.close()


@pytest.mark.skipif(not LINUX, reason="the memory map and its advice are Linux's")
@pytest.mark.parametrize("populate", [True, False])
def test_populate_allocates_the_pages_up_front(populate, monkeypatch):
    if populate and not _populate_works():
        pytest.skip("MADV_POPULATE_WRITE needs Linux 5.14")
    n = 1 << 22  # 16 MiB of float32: LARGE_BYTES
    a = memory.zeros((n,), np.float32, populate=populate)
    assert isinstance(a.base, mmap.mmap) and a.flags.writeable
    rss = _rss_kib(a)
    if populate:
        assert rss >= 0.99 * n * 4 / 1024  # every page resident before any touch
    else:
        assert rss < 0.01 * n * 4 / 1024  # on first touch only
    assert not a.any()  # zeros either way
    a[::1024] = 2.0
    assert a.sum() == 2.0 * (n // 1024)


@pytest.mark.skipif(not LINUX, reason="the memory map and its advice are Linux's")
def test_a_kernel_without_populate_falls_back_to_first_touch(monkeypatch):
    monkeypatch.setattr(memory, "MADV_POPULATE_WRITE", 1 << 20)  # no such advice: EINVAL, ignored
    a = memory.zeros((1 << 22,), np.float32, populate=True)
    assert isinstance(a.base, mmap.mmap) and not a.any()
    monkeypatch.setattr(memory, "MADV_POPULATE_WRITE", None)  # not Linux's value known
    b = memory.zeros((1 << 22,), np.float32, populate=True)
    assert not b.any()


def test_same_model_with_and_without_populate(monkeypatch):
    """Allocating the pages up front changes nothing in the model: dense weights, sparse weights in their
    table and in the dense buffer, one thread."""
    rng = np.random.default_rng(0)
    X = sp.random(1500, 400, density=0.05, format="csr", random_state=1, dtype=np.float64)
    y = rng.integers(0, 40, size=1500)
    monkeypatch.setattr(memory, "LARGE_BYTES", 1 << 10)  # the weights, tables and buffers of this fit take the map
    fits = {}
    for populate in (True, False):
        monkeypatch.setattr(memory, "POPULATE", populate)
        for weights in ("dense", "sparse", "auto"):
            m = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=3, weights=weights).fit(X, y)
            fits[populate, weights] = (m.coef_.toarray() if sp.issparse(m.coef_) else m.coef_, m.predict_proba(X[:50]))
    for weights in ("dense", "sparse", "auto"):
        for a, b in zip(fits[True, weights], fits[False, weights], strict=True):
            np.testing.assert_array_equal(a, b)
