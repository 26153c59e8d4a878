"""``benchmarks.streaming``: its table on a small long-tailed set in the shared format, and its variants."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import skxc._training as training  # noqa: E402
from benchmarks.streaming import main  # noqa: E402


def _long_tail_set(directory: Path, C=1500, K=3000, per=3, seed=0):
    """Sparse rows, ``per`` per class (one of them a test row): half a class prototype plus sparse noise."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat(np.arange(C), per))
    proto = sp.random(C, K, density=0.006, random_state=seed + 1, format="csr")
    X = sp.csr_matrix(sp.random(y.size, K, density=0.01, random_state=seed + 2, format="csr") + 0.5 * proto[y])
    test = np.unique(y, return_index=True)[1]
    train = np.setdiff1d(np.arange(y.size), test)
    directory.mkdir()
    sp.save_npz(directory / "X_train.npz", X[train])
    sp.save_npz(directory / "X_test.npz", X[test])
    np.save(directory / "y_train.npy", y[train])
    np.save(directory / "y_test.npy", y[test])


def test_streaming_table_and_variant(tmp_path):
    """One row per column; a module-constant variant applies to its column only (without the start following the rows
    the stream from a sample scores lower here) and is restored afterwards."""
    data = tmp_path / "tail"
    _long_tail_set(data)
    out = tmp_path / "out"
    argv = [str(data), "--batches", "4", "--passes", "1", "2", "--sample", "0.34", "--threads", "1", "--out", str(out),
            "--name", "t", "--variant", 'before={"skxc._training.STREAM_START_FOLLOWS": false}']  # fmt: skip
    main(argv)
    assert training.STREAM_START_FOLLOWS is True
    result = json.loads((out / "streaming_t.json").read_text())
    runs = result["data_sets"]["tail"]
    assert set(runs["columns"]) == {"skxc", "before"} and 0 < runs["fit"]["top1"] <= 1
    for column in runs["columns"].values():
        for start in ("first", "sample"):
            assert set(column[start]["top1"]) == {"1", "2"}
            assert all(0 <= v <= 1 for v in column[start]["top1"].values())
    sample = {name: run["sample"] for name, run in runs["columns"].items()}
    assert sample["skxc"]["init_scale"] > 0  # 1,020 rows of fit_noise: a start; 44 % of the classes start late
    assert sample["skxc"]["top1"]["2"] > sample["before"]["top1"]["2"] + 0.1
    table = (out / "streaming_t.md").read_text()
    assert "| tail | skxc |" in table and "| tail | before |" in table


def test_streaming_in_batches_of_given_rows(tmp_path):
    """``--batch-rows``: batches of about that many rows (3,000 rows: 6 of 500); none can hold out rows for the
    start at once, so the stream starts late, and without the late start its weights stay at the zero start."""
    data = tmp_path / "tail"
    _long_tail_set(data)
    out = tmp_path / "out"
    argv = [str(data), "--batch-rows", "500", "--passes", "1", "--sample", "0.1", "--threads", "1", "--out", str(out),
            "--name", "b", "--variant", 'before={"skxc._training.LATE_START": false}']  # fmt: skip
    main(argv)
    assert training.LATE_START is True
    result = json.loads((out / "streaming_b.json").read_text())
    assert result["batch_rows"] == 500
    columns = result["data_sets"]["tail"]["columns"]
    for start in ("first", "sample"):
        assert columns["skxc"][start]["init_scale"] > 0 and columns["before"][start]["init_scale"] == 0
        assert columns["skxc"][start]["top1"]["1"] > columns["before"][start]["top1"]["1"] + 0.1
    assert "batches of about 500 rows" in (out / "streaming_b.md").read_text()
