"""Stop 50: the model's large training buffers on small pages (``skxc._memory``)."""

import mmap
import pickle
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from _smaps import mapping_fields

import skxc._memory as memory
from skxc import AdversarialSoftmaxClassifier
from skxc._state import touched_zeros
from skxc._weights import HashedWeights

LINUX_ADVICE = sys.platform.startswith("linux") and hasattr(mmap, "MADV_NOHUGEPAGE")


def _vm_flags(a: np.ndarray) -> list[str] | None:
    """The VmFlags of the mapping that holds ``a``'s first byte (/proc/self/smaps), or None if not found."""
    fields = mapping_fields(a)
    return None if fields is None else fields.get("VmFlags")


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float32, np.uint8, np.int64])
def test_zeros_is_numpy_zeros(order, dtype, monkeypatch):
    monkeypatch.setattr(memory, "LARGE_BYTES", 64)  # the memory map from 64 bytes on
    for shape in [(3, 50), (7,), 200]:
        a = memory.zeros(shape, dtype, order)
        b = np.zeros(shape, dtype=dtype, order=order)
        assert a.shape == b.shape and a.dtype == b.dtype and a.strides == b.strides
        assert a.flags.writeable and not a.any()
        a[...] = 3
        assert np.all(a == 3)
        c = pickle.loads(pickle.dumps(a))  # an ordinary array again
        assert np.array_equal(c, a) and not isinstance(c.base, mmap.mmap)


def test_small_arrays_and_switch_use_numpy(monkeypatch):
    a = memory.zeros((10, 10), np.float32)
    assert not isinstance(a.base, mmap.mmap)  # below LARGE_BYTES
    monkeypatch.setattr(memory, "LARGE_BYTES", 64)
    monkeypatch.setattr(memory, "SMALL_PAGES", False)
    assert not isinstance(memory.zeros((10, 10), np.float32).base, mmap.mmap)


@pytest.mark.skipif(not LINUX_ADVICE, reason="MADV_NOHUGEPAGE is Linux's")
def test_large_buffers_are_advised_small_pages():
    big = memory.zeros((1 << 22,), np.float32)  # 16 MiB: LARGE_BYTES
    assert isinstance(big.base, mmap.mmap)
    flags = _vm_flags(big)
    assert flags is not None and "nh" in flags  # VM_NOHUGEPAGE
    coef = touched_zeros((256, 1 << 14), "F", 1)[0]  # the dense weights of fit
    assert coef.flags.f_contiguous and "nh" in _vm_flags(coef)
    table = HashedWeights((1000, 1000), 1 << 21, full=False)  # 24 MiB of slots
    assert "nh" in _vm_flags(table.buffer)
    assert np.all(table.keys == -1) and not table.vals.any()


def test_same_model_with_and_without_small_pages(monkeypatch):
    """The buffers' pages change nothing in the model: dense and sparse weights, one thread."""
    rng = np.random.default_rng(0)
    X = sp.random(1500, 400, density=0.05, format="csr", random_state=1, dtype=np.float64)
    y = rng.integers(0, 40, size=1500)
    monkeypatch.setattr(memory, "LARGE_BYTES", 1 << 10)  # the weights and tables of this fit take the map
    fits = {}
    for small in (True, False):
        monkeypatch.setattr(memory, "SMALL_PAGES", small)
        for weights in ("dense", "sparse"):
            m = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=3, weights=weights).fit(X, y)
            fits[small, weights] = (m.coef_.toarray() if sp.issparse(m.coef_) else m.coef_, m.predict_proba(X[:50]))
    for weights in ("dense", "sparse"):
        for a, b in zip(fits[True, weights], fits[False, weights], strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(not LINUX_ADVICE, reason="MADV_NOHUGEPAGE is Linux's")
def test_the_map_is_private_and_out_of_memory_is_memory_error(monkeypatch):
    big = memory.zeros((1 << 22,), np.float32)
    address = big.__array_interface__["data"][0]
    with open("/proc/self/maps") as maps:
        perms = [line.split()[1] for line in maps if _inside(line, address)]
    assert perms == ["rw-p"]  # private: a forked child's writes stay its own

    def no_memory(*args, **kwargs):
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(memory.mmap, "mmap", no_memory)
    a = memory.zeros((1 << 22,), np.float32)  # NumPy's allocator instead (its MemoryError if that fails too)
    assert a.base is None and not a.any()
    monkeypatch.setattr(memory.np, "zeros", lambda *a, **k: (_ for _ in ()).throw(MemoryError("numpy")))
    with pytest.raises(MemoryError):
        memory.zeros((1 << 22,), np.float32)


def _inside(line: str, address: int) -> bool:
    lo, hi = (int(part, 16) for part in line.split()[0].split("-"))
    return lo <= address < hi
