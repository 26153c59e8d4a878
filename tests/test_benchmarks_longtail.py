"""``benchmarks.longtail``'s frequent-class subsets (``DIR@min_rows=K``, ``DIR@top=K[,rows=N]``) and timing."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.longtail import materialise, write_frequent  # noqa: E402


def _toy(tmp_path):
    """A toy set in the shared format: its directory and (X, y, Xt, yt). Classes 0 (3 rows), 1 (1 row), 2 (2
    rows); feature 4 occurs only in the row of class 1, feature 5 nowhere."""
    src = tmp_path / "toy"
    src.mkdir()
    X = sp.csr_matrix(
        np.array([[1, 0, 0, 0, 0, 0], [0, 2, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 7, 0],
                  [0, 0, 3, 0, 0, 0], [0, 0, 0, 4, 0, 0]], dtype=np.float32)
    )  # fmt: skip
    y = np.array([0, 0, 0, 1, 2, 2])
    Xt = sp.csr_matrix(np.array([[1, 0, 0, 0, 1, 0], [0, 0, 0, 0, 5, 0], [0, 0, 1, 1, 0, 1]], dtype=np.float32))
    yt = np.array([0, 1, 2])
    for name, value in (("X_train", X), ("X_test", Xt)):
        sp.save_npz(src / f"{name}.npz", value)
    np.save(src / "y_train.npy", y)
    np.save(src / "y_test.npy", yt)
    return src, (X, y, Xt, yt)


def test_write_frequent_keeps_classes_with_enough_rows_and_their_features(tmp_path):
    src, (X, y, Xt, yt) = _toy(tmp_path)
    out = write_frequent(src, 2, tmp_path / "out")
    assert out.name == "toy@min_rows=2"
    X2, Xt2 = sp.load_npz(out / "X_train.npz"), sp.load_npz(out / "X_test.npz")
    np.testing.assert_array_equal(np.load(out / "y_train.npy"), [0, 0, 0, 2, 2])
    np.testing.assert_array_equal(np.load(out / "y_test.npy"), [0, 2])
    kept = [0, 1, 2, 3]  # the features of the kept training rows
    np.testing.assert_array_equal(X2.toarray(), X.toarray()[np.ix_([0, 1, 2, 4, 5], kept)])
    np.testing.assert_array_equal(Xt2.toarray(), Xt.toarray()[np.ix_([0, 2], kept)])


def test_top_classes_and_first_rows(tmp_path):
    """``DIR@top=K,rows=N``: the K most frequent classes (ties by label), then the first N of their rows."""
    src, (X, y, Xt, yt) = _toy(tmp_path)
    out, name = materialise(f"{src}@top=2,rows=4", tmp_path / "out")
    assert name == out.name == "toy@top=2,rows=4"
    np.testing.assert_array_equal(np.load(out / "y_train.npy"), [0, 0, 0, 2])  # classes 0 (3 rows) and 2 (2)
    np.testing.assert_array_equal(np.load(out / "y_test.npy"), [0, 2])
    np.testing.assert_array_equal(
        sp.load_npz(out / "X_train.npz").toarray(), X.toarray()[np.ix_([0, 1, 2, 4], [0, 1, 2])]
    )
    np.testing.assert_array_equal(sp.load_npz(out / "X_test.npz").toarray(), Xt.toarray()[np.ix_([0, 2], [0, 1, 2])])
    out, _ = materialise(f"{src}@min_rows=2", tmp_path / "out2")  # the same as write_frequent(src, 2)
    np.testing.assert_array_equal(np.load(out / "y_train.npy"), [0, 0, 0, 2, 2])
    for bad in ("@min_rows=2,top=1", "@rows=3"):
        with pytest.raises(ValueError, match="expected DIR@min_rows=K or DIR@top=K"):
            materialise(f"{src}{bad}", tmp_path / "out3")
    with pytest.raises(ValueError, match="unknown option 'minrows'"):
        materialise(f"{src}@minrows=2", tmp_path / "out3")


def test_bag_of_earlier_words_for_a_next_word_set(tmp_path):
    """``DIR@bag=K``: each row keeps its three one-hot blocks and gets BAG_VALUE at the words 4 .. K+3 back
    in the text (the previous word of rows t-3 .. t-K-2), summed when a word repeats; not for other layouts."""
    from benchmarks.longtail import BAG_VALUE

    words = np.array([5, 1, 2, 5, 3, 0, 4, 5, 1, 2, 3, 4])  # the text; row t predicts words[t + 3]
    V, n = 6, words.size - 3
    src = tmp_path / "text"
    src.mkdir()
    for split in ("train", "test"):
        cols = np.column_stack([words[2 : n + 2], V + words[1 : n + 1], 2 * V + words[:n]])  # t-1, t-2, t-3
        X = sp.csr_matrix((np.ones(3 * n, np.float32), (np.repeat(np.arange(n), 3), cols.ravel())), shape=(n, 3 * V))
        sp.save_npz(src / f"X_{split}.npz", X)
        np.save(src / f"y_{split}.npy", words[3:].astype(np.int32))
    out, name = materialise(f"{src}@bag=2", tmp_path / "out")
    assert name == "text@bag=2"
    X2 = sp.load_npz(out / "X_train.npz").toarray()
    assert X2.shape == (n, 4 * V) and X2.dtype == np.float32
    np.testing.assert_array_equal(X2[:, : 3 * V], X.toarray())
    expect = np.zeros((n, V), np.float32)
    for t in range(n):
        for back in (4, 5):  # the words 4 and 5 before the target: row t - back + 1's previous word
            if t - back + 1 >= 0:
                expect[t, words[t + 3 - back]] += BAG_VALUE
    np.testing.assert_allclose(X2[:, 3 * V :], expect)
    assert expect[4].sum() == 2 * BAG_VALUE and expect[0].sum() == 0
    np.testing.assert_array_equal(np.load(out / "y_test.npy"), words[3:])
    toy, _ = _toy(tmp_path)
    with pytest.raises(ValueError, match="three one-hot blocks"):
        materialise(f"{toy}@bag=2", tmp_path / "out4")
    # with top / rows: the bag of the rows in text order first, then the frequent classes' first rows
    out5, name5 = materialise(f"{src}@bag=2,top=2,rows=3", tmp_path / "out5")
    frequent = np.array([3, 4])  # words[3:] = [5, 3, 0, 4, 5, 1, 2, 3, 4]: 3, 4 and 5 twice, ties stable by label
    keep = np.isin(words[3:], frequent)
    assert name5 == "text@bag=2@top=2,rows=3"
    np.testing.assert_array_equal(np.load(out5 / "y_train.npy"), words[3:][keep][:3])
    X5 = sp.load_npz(out5 / "X_train.npz").toarray()
    columns = np.flatnonzero(X2[keep][:3].any(axis=0))  # the features of the kept training rows
    np.testing.assert_array_equal(X5, X2[keep][:3][:, columns])


def test_lsa_embeddings_are_unit_rows_of_the_training_rows_svd(tmp_path):
    """``DIR@lsa=K``: dense unit rows, the projection of TruncatedSVD(K) fitted on the training rows (so the
    test rows' embeddings come from the same directions); after ``min_rows`` when both are given."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    from benchmarks.longtail import LSA_ITERATIONS

    src, (X, y, Xt, yt) = _toy(tmp_path)
    out, name = materialise(f"{src}@lsa=5", tmp_path / "out")  # the training rows span 5 directions
    assert name == out.name == "toy@lsa=5"
    Z, Zt = sp.load_npz(out / "X_train.npz").toarray(), sp.load_npz(out / "X_test.npz").toarray()
    assert Z.shape == (6, 5) and Zt.shape == (3, 5) and Z.dtype == np.float32
    svd = TruncatedSVD(5, n_iter=LSA_ITERATIONS, random_state=0).fit(X)
    np.testing.assert_allclose(Z, normalize(svd.transform(X)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(Zt, normalize(svd.transform(Xt)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(np.load(out / "y_train.npy"), y)
    out, name = materialise(f"{src}@min_rows=2,lsa=2", tmp_path / "out2")
    assert name == out.name == "toy@min_rows=2,lsa=2"
    np.testing.assert_array_equal(np.load(out / "y_train.npy"), [0, 0, 0, 2, 2])
    assert sp.load_npz(out / "X_test.npz").shape == (2, 2)


class _Counting:
    """A model whose fits take the seconds given, in turn; predict_top_k returns which fit it is."""

    def __init__(self, seconds):
        self.seconds, self.n_fits = list(seconds), 0
        self.classes_ = np.arange(10)

    def fit(self, X, y):
        import time

        time.sleep(self.seconds[self.n_fits])
        self.n_fits += 1
        return self

    def predict_top_k(self, Xt, k):
        return np.full((len(Xt), k), self.n_fits)


def test_timed_fit_top5_repeats_and_reports_the_median(monkeypatch):
    import benchmarks._peers as peers

    model, runs = _Counting([0.05, 0.0, 0.01]), []
    fit_s, _, top = peers.timed_fit_top5(model, (None, None), [0, 1], repeats=3, runs=runs)
    assert model.n_fits == 3 and len(runs) == 3
    assert fit_s == np.median(runs) and 0.005 < fit_s < 0.05  # the middle one of 0.05, 0 and 0.01 s
    assert (top == 3).all()  # the predictions of the last fit
    monkeypatch.setattr(peers, "REPEAT_SECONDS", 0.02)  # the first fit alone is over the cap
    model, runs = _Counting([0.05, 0.0, 0.0]), []
    peers.timed_fit_top5(model, (None, None), [0], repeats=3, runs=runs)
    assert model.n_fits == 1 and len(runs) == 1


def test_timed_fit_top5_records_the_fresh_pages_of_each_fit():
    import benchmarks._peers as peers

    class Touching(_Counting):
        def fit(self, X, y):
            super().fit(X, y)
            import skxc._memory as memory

            with memory.small_pages():  # faults count pages (a huge page would count once)
                block = np.ones(64 * 2**20 // 8)  # 64 MiB written: fresh pages (numpy maps a block this large)
            self.total = float(block.sum())
            return self

    model, runs, faults = Touching([0.0, 0.0]), [], []
    peers.timed_fit_top5(model, (None, None), [0], repeats=2, runs=runs, faults=faults)
    assert len(faults) == 2 == len(runs)
    if peers.minor_faults_mib() is not None and sys.platform.startswith("linux"):
        assert all(60 <= f < 1000 for f in faults)


def test_rotate_runs_the_systems_in_a_rotated_order_and_the_table_keeps_theirs(monkeypatch, tmp_path):
    import benchmarks._common as common
    import benchmarks.longtail as longtail

    ran = []

    def fake_child(module, child, system, spec, tmp, threads, timeout=None):
        ran.append((Path(spec["data_dir"]).name, system))
        return {"system": system, "top1": 0.5, "top5": 0.6, "fit_seconds": 1.0, "predict_seconds": 0.1,
                "peak_memory_mib": 10.0, "n_iter": 1, "fit_fault_mib_runs": [12.0]}  # fmt: skip

    monkeypatch.setattr(common, "run_child", fake_child)
    info = {"n_train": 1, "n_test": 1, "n_features": 1, "n_classes": 2, "median_rows_per_class": 1.0,
            "test_share_class_le5_train_rows": 0.0, "test_share_unseen_class": 0.0}  # fmt: skip
    monkeypatch.setattr(longtail, "describe", lambda path, *a: info)
    monkeypatch.setattr(longtail, "materialise", lambda d, tmp: (Path(tmp) / Path(d).name, Path(d).name))
    monkeypatch.setattr(longtail, "missing_data_dirs", lambda *a: [])
    monkeypatch.setattr(longtail, "check_specs", lambda *a: None)
    monkeypatch.setattr(longtail, "_machine", lambda: {"platform": "p", "cpus": 2, "memory_gib": 1.0,
                                                       "python": "3", "versions": {}})  # fmt: skip
    argv = ["a", "b", "c", "--systems", "skxc", "napkinxc-plt", "skxc-uniform", "--rotate", "--name", "r"]
    longtail.main(argv + ["--out", str(tmp_path)])
    assert [s for d, s in ran if d == "a"] == ["skxc", "napkinxc-plt", "skxc-uniform"]
    assert [s for d, s in ran if d == "b"] == ["napkinxc-plt", "skxc-uniform", "skxc"]
    assert [s for d, s in ran if d == "c"] == ["skxc-uniform", "skxc", "napkinxc-plt"]
    table = (tmp_path / "longtail_r.md").read_text()
    rows = [line.split(" | ")[3] for line in table.splitlines() if line.startswith("| b |")]
    assert rows == ["skxc", "napkinxc-plt", "skxc-uniform"] and "rotated by one per data set" in table
    assert "fresh pages in fit 12 MiB" in table
