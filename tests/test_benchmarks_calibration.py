"""``benchmarks.calibration``: top-label ECE, the log-likelihood and the test-chosen factor against hand-worked
values, and a tiny end-to-end run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import skxc._blend as blend  # noqa: E402
from benchmarks.calibration import best_factor, log_likelihood, main, rescaled, top_label_calibration  # noqa: E402


def test_top_label_calibration_by_hand():
    # top probabilities 0.5 (right), 0.5 (wrong), 0.9 (right), 1.0 (right): 3 bins of width 1/3
    P = np.array([[0.5, 0.3, 0.2], [0.5, 0.4, 0.1], [0.9, 0.05, 0.05], [1.0, 0.0, 0.0]])
    with np.errstate(divide="ignore"):
        L = np.log(P)
    r = top_label_calibration(L, np.array([0, 1, 0, 0]), bins=3)
    assert r["top1"] == pytest.approx(0.75)
    assert r["mean_top_proba"] == pytest.approx((0.5 + 0.5 + 0.9 + 1.0) / 4)
    # bin 1 (0.5, 0.5): accuracy 0.5, mean 0.5 -> 0; bin 2 (0.9, 1.0, the last bin holds 1.0): 1 vs 0.95
    assert r["ece"] == pytest.approx(0.5 * 0.05)


def test_rescaled_is_the_softmax_at_another_temperature_and_best_factor_finds_it():
    rng = np.random.default_rng(0)
    s = rng.normal(size=(400, 6)) * 3
    truth = np.array([rng.choice(6, p=np.exp(row) / np.exp(row).sum()) for row in s])  # drawn from softmax(s)
    L2 = s / 2.0 - np.log(np.exp(s / 2.0).sum(axis=1, keepdims=True))  # temperature 2: too flat by 2x
    np.testing.assert_allclose(rescaled(L2, 2.0), s - np.log(np.exp(s).sum(axis=1, keepdims=True)), atol=1e-12)
    np.testing.assert_allclose(np.exp(rescaled(L2, 0.7)).sum(axis=1), 1.0)
    factor, ll = best_factor(L2, truth)
    assert 1.6 < factor < 2.5  # the data's own scale, found again
    assert ll == pytest.approx(log_likelihood(rescaled(L2, factor), truth))
    assert ll > log_likelihood(L2, truth)


def test_a_tiny_run_writes_its_tables(tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(12, 8)) * 3
    y, yt = rng.integers(0, 12, 1300), rng.integers(0, 12, 60)
    yt[0] = 99  # a class the model has not seen: left out and counted
    src = tmp_path / "tiny"
    src.mkdir()
    X = centres[y] + rng.normal(size=(1300, 8))
    Xt = centres[yt % 12] + rng.normal(size=(60, 8))
    sp.save_npz(src / "X_train.npz", sp.csr_matrix(X.astype(np.float32)))
    sp.save_npz(src / "X_test.npz", sp.csr_matrix(Xt.astype(np.float32)))
    np.save(src / "y_train.npy", y)
    np.save(src / "y_test.npy", yt)
    raw = 'raw={"skxc._blend.TOP_LABEL": false}'  # a module constant, set for its column only
    main([str(src), "--out", str(tmp_path), "--name", "t", "--variant", 'z={"centroid_blend": 0}', "--variant", raw])
    assert blend.TOP_LABEL is True
    result = json.loads((tmp_path / "calibration_t.json").read_text())
    runs = result["data_sets"]["tiny"]
    assert set(runs) == {"defaults", "z", "raw"}
    assert runs["raw"]["top_label_map"] == [1.0, 0.0]
    for r in runs.values():
        assert r["n_scored"] == 59 and r["n_unseen"] == 1
        assert 0.0 <= r["ece"] <= 1.0 and r["log_likelihood"] < 0.0
        assert r["test_best_log_likelihood"] >= r["log_likelihood"] - 1e-12  # the grid holds factor 1
    assert runs["z"]["beta"] == 0.0
    assert "| tiny | defaults |" in (tmp_path / "calibration_t.md").read_text()
