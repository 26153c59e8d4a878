"""``benchmarks.epoch_curves --seeds``: the paired difference and its standard error over test rows, and a tiny run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.epoch_curves import main, paired_difference  # noqa: E402


def test_paired_difference_by_hand():
    """3 seeds x 5 test rows. Per-seed differences (first - other) in hits: [1, 0, 0, -1, 0] (top-1 tied),
    [1, 0, 0, 0, 1] (+0.4), [0, -1, 0, 0, 0] (-0.2). Per-row means over the seeds: [2, -1, 0, -1, 1] / 3, mean
    1/15; their sample variance (ddof=1) is 6.8 / 4 / 9 = 1.7 / 9, so the SE is sqrt(1.7) / 3 / sqrt(5)."""
    first = np.array([[1, 1, 0, 0, 1], [1, 0, 1, 0, 1], [0, 0, 0, 0, 1]], dtype=bool)
    other = np.array([[0, 1, 0, 1, 1], [0, 0, 1, 0, 0], [0, 1, 0, 0, 1]], dtype=bool)
    d = paired_difference(first, other)
    assert d["mean"] == pytest.approx(1 / 15)
    assert d["se"] == pytest.approx(np.sqrt(1.7) / 3 / np.sqrt(5))  # 0.1944
    assert (d["above"], d["below"]) == (1, 1)
    assert paired_difference(other, first)["mean"] == pytest.approx(-1 / 15)
    same = paired_difference(first, first)
    assert same == {"mean": 0.0, "se": 0.0, "above": 0, "below": 0}


def _small_set(directory: Path, C=20, K=200, per=12, seed=0):
    """Sparse rows, ``per`` per class (a quarter of them test rows): a class prototype plus sparse noise."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat(np.arange(C), per))
    proto = sp.random(C, K, density=0.05, random_state=seed + 1, format="csr")
    X = sp.csr_matrix(sp.random(y.size, K, density=0.03, random_state=seed + 2, format="csr") + proto[y])
    n_test = y.size // 4
    directory.mkdir()
    sp.save_npz(directory / "X_train.npz", X[n_test:])
    sp.save_npz(directory / "X_test.npz", X[:n_test])
    np.save(directory / "y_train.npy", y[n_test:])
    np.save(directory / "y_test.npy", y[:n_test])


def test_two_seeds_end_to_end(tmp_path):
    """Each cell is the mean of its seeds' values, kept per seed; the difference column's mean is the mean of
    the per-seed top-1 differences; one seed writes today's layout (no ``seeds``, ``per_seed``, difference)."""
    data = tmp_path / "small"
    _small_set(data)
    out = tmp_path / "out"
    main([str(data), "--budgets", "1", "2", "--threads", "1", "--seed", "3", "--seeds", "2", "--out", str(out),
          "--name", "t"])  # fmt: skip
    result = json.loads((out / "epoch_curves_t.json").read_text())
    assert result["seeds"] == [3, 4]
    runs = result["data_sets"]["small"]
    assert list(runs) == ["adversarial", "uniform"] and runs["uniform"]["n_test"] == 60
    for col, run in runs.items():
        assert [r["epoch"] for r in run["curve"]] == [1, 2]
        for r in run["curve"]:
            assert [s["seed"] for s in r["per_seed"]] == [3, 4]
            for key in ("top1", "top5", "train_seconds"):
                assert r[key] == pytest.approx(np.mean([s[key] for s in r["per_seed"]]))
            assert ("difference" in r) == (col == "uniform")
    for adv, uni in zip(runs["adversarial"]["curve"], runs["uniform"]["curve"], strict=True):
        d = uni["difference"]
        per_seed = [a["top1"] - u["top1"] for a, u in zip(adv["per_seed"], uni["per_seed"], strict=True)]
        assert d["mean"] == pytest.approx(np.mean(per_seed))
        assert (d["above"], d["below"]) == (sum(x > 0 for x in per_seed), sum(x < 0 for x in per_seed))
        assert d["se"] >= 0
    table = (out / "epoch_curves_t.md").read_text()
    assert "| epochs | adversarial top-1 (s) | uniform top-1 (s) | adversarial - uniform |" in table
    assert "Seeds 3-4 (2 fits per cell)" in table and " ± " in table
    main([str(data), "--budgets", "1", "--threads", "1", "--out", str(out), "--name", "one"])
    result = json.loads((out / "epoch_curves_one.json").read_text())
    assert "seeds" not in result
    assert set(result["data_sets"]["small"]["uniform"]["curve"][0]) == {"epoch", "train_seconds", "top1", "top5"}
    assert "adversarial - uniform" not in (out / "epoch_curves_one.md").read_text()


def test_module_constants_in_a_variant_hold_for_its_fits_only(tmp_path, monkeypatch):
    """A variant's ``"skxc.<module>.<NAME>"`` keys are set while its fits run and restored after; the others'
    fits see the module's own value."""
    import skxc._blend as blend
    from benchmarks import epoch_curves

    data = tmp_path / "small"
    _small_set(data, C=40, per=40)  # 1,200 training rows of 30 per class: the blend's pilots run
    X, y = epoch_curves.load_split(data, "train")
    Xt, yt = epoch_curves.load_split(data, "test")
    seen = []
    real = blend.pilot_epochs

    def spy(n_epochs):
        seen.append(blend.PILOT_FRACTION)
        return real(n_epochs)

    monkeypatch.setattr(blend, "pilot_epochs", spy)
    own = blend.PILOT_FRACTION
    epoch_curves.curve(X, y, Xt, yt, {"skxc._blend.PILOT_FRACTION": 0.5, "tol": None}, [1], 1, 0)
    assert seen and set(seen) == {0.5} and blend.PILOT_FRACTION == own
    seen.clear()
    epoch_curves.curve(X, y, Xt, yt, {}, [1], 1, 0)
    assert seen and set(seen) == {own}
    with pytest.raises(ValueError, match="has no NOPE"):
        epoch_curves.curve(X, y, Xt, yt, {"skxc._blend.NOPE": 1}, [1], 1, 0)
