"""The estimator's helper modules on their own: ``skxc._model`` (where coef_ lives) and the
array/parameter functions of ``skxc._fit``."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from skxc._fit import adagrad_kind, holdout, sparse_layout, stored_weights_bound, top1_score
from skxc._model import (
    drop_coef,
    has_sparse_weights,
    intact_on_error,
    loaded_state,
    pickled_state,
    read_coef,
    training_model,
    write_coef,
)
from skxc._state import AdagradState


def test_coef_read_write_drop():
    d = {}
    with pytest.raises(AttributeError, match="'Owner' object has no attribute 'coef_'"):
        read_coef(d, "Owner")
    coef = np.zeros((2, 3), dtype=np.float32)
    d["_table"] = None
    write_coef(d, coef)
    assert read_coef(d, "Owner") is coef and "_table" not in d and not has_sparse_weights(d)
    write_coef(d, sp.csr_matrix(coef))
    assert has_sparse_weights(d)
    drop_coef(d)
    assert d == {}


def test_sparse_coef_trains_in_a_table_that_becomes_csr_again():
    coef = sp.csr_matrix(np.array([[0, 1.5, 0], [2.0, 0, 0]], dtype=np.float32))
    d = {"_coef": coef, "_adagrad_state": AdagradState.zeros_sparse("full", 2, 3, coef.nnz)}
    asked = []
    table = training_model(d, room=lambda c: asked.append(c) or 4)
    assert d["_table"] is table and d["_coef"] is None
    assert asked == [coef] and table.free() >= 4  # the room is asked of the CSR weights and made
    assert training_model(d, room=lambda c: 4) is table  # a kept table is reused
    state = pickled_state(dict(d), d, "Owner")  # coef_ as CSR in the pickle; d keeps its table
    assert "_table" not in state and d["_table"] is table
    np.testing.assert_array_equal(state["_coef"].toarray(), coef.toarray())
    assert read_coef(d, "Owner") is state["_coef"]


def test_dense_coef_is_made_writeable():
    coef = np.ones((2, 3), dtype=np.float32)
    coef.setflags(write=False)
    d = {"_coef": coef, "_adagrad_state": AdagradState.zeros("factored", 2, 3)}
    out = training_model(d, room=lambda c: 0)
    assert out is d["_coef"] and out.flags.writeable and "_table" not in d
    np.testing.assert_array_equal(out, coef)


def test_loaded_state_upgrades_old_layouts():
    coef = np.zeros((2, 3), dtype=np.float32)
    acc = np.zeros((2, 3), dtype=np.float32)
    old = {"coef_": coef, "_acc_coef": acc, "_acc_intercept": np.zeros(2, dtype=np.float32)}
    new = loaded_state(old)
    assert new["_coef"] is coef and new["_adagrad_state"].kind == "full" and "coef_" in old
    assert set(new) == {"_coef", "_adagrad_state"}
    # fitted before stop 64 (no centroid_metric_): the cosine rule; a model that has one keeps it
    assert loaded_state({"centroid_blend_": 4.0})["centroid_metric_"] == "cosine"
    assert loaded_state({"centroid_blend_": 4.0, "centroid_metric_": "euclidean"})["centroid_metric_"] == "euclidean"


def test_intact_on_error_restores_the_attributes():
    d = {"a": 1}
    with pytest.raises(KeyError), intact_on_error(d):
        d["a"], d["b"] = 2, 3
        raise KeyError
    assert d == {"a": 1}


def test_layout_and_adagrad_choices():
    X = sp.random(10, 1000, density=0.01, format="csr", random_state=0)
    assert adagrad_kind("auto", None) == "full" and adagrad_kind("auto", "uniform") == "factored"
    assert adagrad_kind("full", "uniform") == "full"
    assert sparse_layout("auto", "adversarial", X, 100, 100 * 1000 * 4)
    assert not sparse_layout("auto", "adversarial", X, 100, 100 * 1000 * 4 + 1)
    assert not sparse_layout("auto", None, X, 100, 1) and not sparse_layout("dense", "uniform", X, 100, 1)
    with pytest.raises(ValueError, match="needs negative sampling"):
        sparse_layout("sparse", None, X, 100, 1)
    with pytest.raises(ValueError, match="needs sparse X"):
        sparse_layout("sparse", "uniform", X.toarray(), 100, 1)
    assert stored_weights_bound(X, 10, 2) == int(X.nnz + 10 * 3 * X.nnz / 10)


def test_holdout_and_top1_score():
    X = np.arange(40, dtype=np.float64).reshape(20, 2)
    codes = np.arange(20) % 3
    w = np.ones(20)
    Xt, y, ct, wt, (Xv, cv, wv) = holdout(X, None, codes, w, 0.25, np.random.default_rng(0), False)
    assert Xt.shape[0] == 15 and Xv.shape[0] == 5 and ct.shape == wt.shape == (15,) and y is None and wv is None
    assert sorted(np.r_[Xt[:, 0], Xv[:, 0]].tolist()) == X[:, 0].tolist()
    np.testing.assert_array_equal(cv, codes[(Xv[:, 0] // 2).astype(int)])
    with pytest.raises(ValueError, match="leaves no training rows"):
        holdout(X, None, codes, w, 0.99, np.random.default_rng(0), False)
    assert top1_score(np.array([0, 1, 2, 0]), np.array([0, 1, 0, 0])) == 0.75
    Y = sp.csr_matrix(np.array([[1, 1, 0], [0, 0, 1]]))
    assert top1_score(np.array([1, 0]), Y) == 0.5
    assert top1_score(np.array([0, 1, 2, 0]), np.array([0, 1, 0, 0]), np.array([1.0, 1.0, 6.0, 2.0])) == 0.4
    assert top1_score(np.array([1, 0]), Y, np.array([3.0, 1.0])) == 0.75
