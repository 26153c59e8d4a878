"""The pure-Python pieces under the estimator: thread/seed helpers, the Adagrad state, the tree's public arrays."""

from __future__ import annotations

import inspect
import os
import threading

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skxc import AuxiliaryTree
from skxc._parallel import child_seed, fan_out, fan_out_pipelined, n_threads, seed_rng
from skxc._predict import dense_scores, float32_scores
from skxc._state import AdagradState
from skxc._tree import unconditional_tree


def test_n_threads():
    assert n_threads(None) == 1 and n_threads(1) == 1 and n_threads(3) == 3
    assert n_threads(-1) == joblib.cpu_count() and n_threads(-(10**6)) == 1
    with joblib.parallel_config(n_jobs=2):
        assert n_threads(None) == 2


def test_n_threads_from_a_context_stay_within_the_local_cores():
    """None and -1 follow a joblib context (e.g. the dask backend, which counts a whole cluster's threads) but
    never beyond this machine's cores; a positive n_jobs is kept as given."""
    with joblib.parallel_config(n_jobs=10**4):
        assert joblib.effective_n_jobs(None) == 10**4
        assert n_threads(None) == joblib.cpu_count()
        assert n_threads(-1) == joblib.cpu_count()
        assert n_threads(3) == 3


def test_fan_out_keeps_order_and_uses_threads():
    seen = set()

    def work(i):
        seen.add(threading.get_ident())
        return i * i

    assert fan_out(work, range(20), 1) == [i * i for i in range(20)] and seen == {threading.get_ident()}
    seen.clear()
    assert fan_out(work, range(20), 4) == [i * i for i in range(20)]
    assert threading.get_ident() not in seen  # ran on pool threads
    assert fan_out(work, [], 4) == []


def test_fan_out_reuses_its_threads_nests_and_raises_after_the_running_items():
    def ident(_):
        return threading.get_ident()

    seen = set().union(*(fan_out(ident, range(8), 2) for _ in range(5)))
    assert len(seen) <= 2 and threading.get_ident() not in seen  # the same two threads, not new ones per call
    # a call made on a pool thread fans out on that thread's own pool: no waiting for each other
    assert fan_out(lambda i: sum(fan_out(lambda j: i * j, range(4), 2)), range(4), 2) == [6 * i for i in range(4)]
    finished = []

    def work(i):
        if i == 0:
            raise ValueError("boom")
        threading.Event().wait(0.05)
        finished.append(i)
        return i

    with pytest.raises(ValueError, match="boom"):
        fan_out(work, range(2), 2)
    assert finished == [1]  # the other item ran to its end before the error propagated


def test_fan_out_pipelined_runs_each_items_then_after_its_first():
    events, lock = [], threading.Lock()

    def first(i):
        threading.Event().wait(0.02 * (i + 1))
        with lock:
            events.append(("first", i))
        return i * 10

    def then(i, value):
        with lock:
            events.append(("then", i))
        return value + i

    assert fan_out_pipelined(first, then, range(3), 1) == [0, 11, 22]  # serial: first, then, in turn
    assert events == [("first", 0), ("then", 0), ("first", 1), ("then", 1), ("first", 2), ("then", 2)]
    events.clear()
    assert fan_out_pipelined(first, then, range(3), 2) == [0, 11, 22]  # results in order, from pool threads
    assert sorted(events) == sorted([(step, i) for step in ("first", "then") for i in range(3)])
    assert all(events.index(("first", i)) < events.index(("then", i)) for i in range(3))

    def failing(i):
        if i == 1:
            raise ValueError("boom")
        return i

    with pytest.raises(ValueError, match="boom"):
        fan_out_pipelined(failing, then, range(3), 2)


def test_seed_derivation():
    a, b = seed_rng(5), seed_rng(5)
    assert a.integers(2**31) == b.integers(2**31)
    assert child_seed(seed_rng(5)) == child_seed(seed_rng(5)) != child_seed(seed_rng(6))
    assert 0 <= child_seed(seed_rng(None)) < 2**31
    rs = np.random.RandomState(3)
    assert seed_rng(rs).integers(10**9) == seed_rng(np.random.RandomState(3)).integers(10**9)


def test_adagrad_state_kinds():
    full = AdagradState.zeros("full", 3, 4)
    assert full.coef_sums.shape == (3, 4) and full.factor_sums.size == 0 and full.intercept_sums.shape == (3,)
    factored = AdagradState.zeros("factored", 3, 4)
    assert factored.coef_sums.size == 0 and factored.factor_sums.shape == (3 + 4 + 1,)
    with pytest.raises(ValueError, match="kind"):
        AdagradState("sparse", full.coef_sums, full.factor_sums, full.intercept_sums)
    # legacy attributes: the kind follows from which array is filled; no factors means full
    assert AdagradState.from_arrays(full.coef_sums, None, full.intercept_sums).kind == "full"
    assert (
        AdagradState.from_arrays(factored.coef_sums, factored.factor_sums, factored.intercept_sums).kind == "factored"
    )


@pytest.mark.parametrize("order", ["C", "F"])
def test_adagrad_state_conversion_round_trip(order):
    rng = np.random.default_rng(0)
    acc = np.asarray(rng.uniform(0, 2, size=(3, 5)), dtype=np.float32, order=order)
    coef = np.zeros((3, 5), dtype=np.float32, order=order)
    full = AdagradState("full", acc, np.zeros(0), np.ones(3, dtype=np.float32))
    assert full.converted("full", coef, "test") is full
    factored = full.converted("factored", coef, "test")
    assert factored.kind == "factored" and factored.coef_sums.size == 0
    assert_allclose(factored.factor_sums[:3], acc.sum(axis=1), rtol=1e-6)
    assert_allclose(factored.factor_sums[3:-1], acc.sum(axis=0), rtol=1e-6)
    assert_allclose(factored.factor_sums[-1], acc.sum(), rtol=1e-6)
    back = factored.converted("full", coef, "test")
    assert back.coef_sums.flags[f"{order}_CONTIGUOUS"]
    assert_allclose(back.coef_sums, np.outer(acc.sum(axis=1), acc.sum(axis=0)) / acc.sum(), rtol=1e-5)
    assert back.intercept_sums is full.intercept_sums


def test_adagrad_state_writeable_copies_only_read_only_arrays():
    state = AdagradState.zeros("factored", 2, 3)
    assert state.writeable().factor_sums is state.factor_sums
    state.factor_sums.setflags(write=False)
    copy = state.writeable()
    assert copy.factor_sums is not state.factor_sums and copy.factor_sums.flags.writeable
    assert copy.intercept_sums is state.intercept_sums


def test_tree_public_arrays_and_transform(fitted_tree, data):
    tree = fitted_tree()
    arrays = tree.arrays
    for a, b in zip(arrays, (tree.node_weight_, tree.node_bias_, tree.leaf_class_, tree.class_leaf_), strict=True):
        assert not a.flags.writeable and a.flags.c_contiguous and np.shares_memory(a, b)
        assert_array_equal(a, b)
    Z = tree.transform(data[2])
    assert Z.dtype == np.float32 and Z.shape == (data[2].shape[0], tree.n_components_) and Z.flags.c_contiguous
    assert_array_equal(tree.fit_transform(data[0], data[1]), tree.transform(data[0]))


def test_unconditional_tree_constructor():
    classes = np.array(["a", "b", "c"])
    tree = AuxiliaryTree.unconditional(classes, [1.0, 2.0, 1.0], n_features_in=4)
    assert tree.n_components_ == 0 and tree.n_features_in_ == 4 and tree.transform(np.ones((2, 4))).shape == (2, 0)
    assert_allclose(tree.predict_proba(np.ones((2, 4))), [[0.25, 0.5, 0.25]] * 2, rtol=1e-6)
    assert_array_equal(unconditional_tree(classes, [1.0, 2.0, 1.0], 4).node_bias_, tree.node_bias_)


def test_float32_overflow_fallback_written_once():
    X = np.full((2, 3), 1e30, dtype=np.float32)
    coef = np.full((4, 3), 1e10, dtype=np.float32)
    assert float32_scores(X, coef) is None  # 3e40 overflows float32
    S = dense_scores(X, coef)
    assert S.dtype == np.float64 and np.all(np.isfinite(S)) and S[0, 0] == pytest.approx(3e40, rel=1e-6)
    small = dense_scores(X / 1e30, coef / 1e10)
    assert_array_equal(small, np.full((2, 4), 3.0))


def test_no_module_uses_another_modules_private_names():
    """``obj._name`` on anything but ``self``/``cls`` stays inside its module (sklearn's helpers excepted)."""
    import re

    root = os.path.join(os.path.dirname(__file__), "..", "skxc")
    offenders = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(dirpath, name)) as f:
                    for n, line in enumerate(f, 1):
                        code = line.split("#")[0]
                        if code.lstrip().startswith(("from ", "import ")):
                            continue
                        for m in re.finditer(r"\b([A-Za-z_][A-Za-z0-9_]*)\._[a-z][A-Za-z0-9_]*", code):
                            # skxc: module paths in docstrings; in _tree.py, ``tree`` is the instance
                            # AuxiliaryTree.unconditional builds (its own class)
                            own = ("self", "cls", "skxc") + (("tree",) if name == "_tree.py" else ())
                            if m.group(1) not in own:
                                offenders.append(f"{name}:{n}: {m.group(0)}")
    assert offenders == []


def test_warnings_name_the_callers_line():
    # warn_user skips skxc's frames and scikit-learn's fit wrapper: the warning names this file
    from sklearn.exceptions import ConvergenceWarning

    from skxc import AdversarialSoftmaxClassifier
    from skxc.datasets import make_hierarchical_classification

    X, y = make_hierarchical_classification(n_samples=600, n_classes=8, random_state=0)
    clf = AdversarialSoftmaxClassifier(max_iter=2, tol=1e-9, centroid_blend=0.0, random_state=0)
    with pytest.warns(ConvergenceWarning) as record:
        clf.fit(X, y)
    assert [(w.filename, w.lineno) for w in record] == [(__file__, inspect.currentframe().f_lineno - 1)]
