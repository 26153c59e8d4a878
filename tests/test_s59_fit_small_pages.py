"""Stop 59: NumPy's huge-page advice off while a fit runs (``skxc._memory.small_pages``)."""

import sys
import threading

import numpy as np
import pytest
import scipy.sparse as sp
from _smaps import mapping_fields

import skxc._memory as memory
import skxc._training as training
from skxc import AdversarialSoftmaxClassifier, AuxiliaryTree

SWITCH = memory._set_madvise_hugepage is not None
pytestmark = pytest.mark.skipif(not SWITCH, reason="this NumPy has no huge-page switch")


def advice_now() -> bool:
    """NumPy's huge-page advice at this moment (read through its switch, which returns the old value)."""
    before = memory._set_madvise_hugepage(False)
    memory._set_madvise_hugepage(before)
    return bool(before)


@pytest.fixture(params=[True, False], ids=["numpy-advises", "numpy-does-not"])
def numpy_setting(request):
    """Each test under both of NumPy's settings, restored afterwards."""
    before = memory._set_madvise_hugepage(request.param)
    yield request.param
    memory._set_madvise_hugepage(before)


def _data(n=600, n_features=60, n_classes=12, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n, n_features, density=0.1, format="csr", random_state=seed, dtype=np.float64)
    return X, rng.integers(0, n_classes, size=n)


def test_block_turns_the_advice_off_and_restores_it(numpy_setting):
    with memory.small_pages():
        assert advice_now() is False
        with memory.small_pages():  # nested: still off, and the outer block's exit restores
            assert advice_now() is False
        assert advice_now() is False
    assert advice_now() is numpy_setting
    with pytest.raises(RuntimeError, match="boom"), memory.small_pages():
        raise RuntimeError("boom")
    assert advice_now() is numpy_setting


def test_switched_off_keeps_numpy_setting(numpy_setting, monkeypatch):
    for name in ("FIT_SMALL_PAGES", "SMALL_PAGES"):
        with monkeypatch.context() as m:
            m.setattr(memory, name, False)
            with memory.small_pages():
                assert advice_now() is numpy_setting


def test_overlapping_blocks_in_threads_restore_the_first_setting(numpy_setting):
    """Blocks in two threads that overlap (A enters, B enters, A leaves, B leaves): off until the last one
    leaves, then NumPy's setting again, not the off that B found when it entered."""
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def a():
        with memory.small_pages():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b():
        a_in.wait(5)
        with memory.small_pages():
            b_in.set()
            a_out.wait(5)
            seen["after a left"] = advice_now()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"after a left": False}
    assert advice_now() is numpy_setting


@pytest.mark.parametrize("call", ["fit", "fit_noise", "partial_fit", "tree"])
def test_fits_run_with_the_advice_off(call, numpy_setting, monkeypatch):
    """fit, fit_noise, partial_fit and the tree's fit run with the advice off, and restore NumPy's setting,
    also when they raise."""
    X, y = _data()
    seen = []
    if call == "tree":
        original = AuxiliaryTree.fit_encoded

        def spy(self, *args, **kwargs):
            seen.append(advice_now())
            return original(self, *args, **kwargs)

        monkeypatch.setattr(AuxiliaryTree, "fit_encoded", spy)
        AuxiliaryTree(random_state=0).fit(X, y)
        with pytest.raises(ValueError):
            AuxiliaryTree(random_state=0).fit(X, y[:10])
    else:
        name = {"fit": "_fit_model", "fit_noise": "_fit_noise", "partial_fit": "_partial_fit"}[call]
        original = getattr(training.TrainingMixin, name)

        def spy(self, *args, **kwargs):
            seen.append(advice_now())
            return original(self, *args, **kwargs)

        monkeypatch.setattr(training.TrainingMixin, name, spy)
        clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=2)
        args = (X, y, np.unique(y)) if call == "partial_fit" else (X, y)
        getattr(clf, call)(*args)
        assert advice_now() is numpy_setting
        with pytest.raises(ValueError):
            getattr(clf, call)(X, y[:10])  # inconsistent lengths
    assert seen and not any(seen)
    assert advice_now() is numpy_setting


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmFlags are Linux's")
def test_numpy_arrays_inside_are_not_advised():
    """The effect itself: a 32 MiB NumPy array made inside a block has no VM_HUGEPAGE flag ("hg"), one made
    outside with NumPy advising has it (where the kernel reports it). NumPy advises from the first page
    boundary on, so the flags are those of the mapping that holds the array's middle."""
    before = memory._set_madvise_hugepage(True)
    try:
        outside = np.ones(1 << 22)
        fields = mapping_fields(outside[1 << 21 :])
        if fields is None or "hg" not in fields.get("VmFlags", []):
            pytest.skip("this kernel does not report NumPy's huge-page advice")
        with memory.small_pages():
            inside = np.ones(1 << 22)
        assert "hg" not in mapping_fields(inside[1 << 21 :]).get("VmFlags", [])
    finally:
        memory._set_madvise_hugepage(before)


def test_same_model_with_and_without(monkeypatch):
    """The pages change nothing in the model (dense and sparse weights, one thread)."""
    X, y = _data(1500, 400, 40, seed=1)
    fits = {}
    for small in (True, False):
        monkeypatch.setattr(memory, "FIT_SMALL_PAGES", small)
        for weights in ("dense", "sparse"):
            m = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=3, weights=weights).fit(X, y)
            coef = m.coef_.toarray() if sp.issparse(m.coef_) else m.coef_
            fits[small, weights] = (coef, m.intercept_, m.predict_proba(X[:50]))
    for weights in ("dense", "sparse"):
        for a, b in zip(fits[True, weights], fits[False, weights], strict=True):
            np.testing.assert_array_equal(a, b)
