"""Stop 56: the generated multi-label topic text (``mltext4k``, ``mltext30k``; ``benchmarks/_topic_text.py``) and
``benchmarks.multilabel``'s generated sets and per-system module constants."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from benchmarks import _topic_text, multilabel

SMALL = (2_000, 200, 600, 40, 0.8, 2.0, 4)  # documents, labels, vocabulary, words, mix, labels per doc, seed


def test_small_multilabel_topic_text_is_deterministic_and_shaped_as_documented():
    a = _topic_text.multilabel_topic_text(*SMALL)
    b = _topic_text.multilabel_topic_text(*SMALL)
    for u, v in zip(a, b, strict=True):
        if sp.issparse(u):
            assert (u != v).nnz == 0
        else:
            np.testing.assert_array_equal(u, v)
    X, Y, train, test = a
    assert X.shape == (2_000, 600) and X.dtype == np.float32 and Y.shape == (2_000, 200)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(2_000))
    assert train.size == 1_500
    np.testing.assert_allclose(sp.linalg.norm(X, axis=1), 1.0, rtol=1e-5)
    counts = np.diff(Y.indptr)
    assert counts.min() >= 1 and abs(counts.mean() - 2.0) < 0.1  # 1 + Poisson(1): mean 2
    assert all(np.all(np.diff(Y.indices[Y.indptr[i] : Y.indptr[i + 1]]) > 0) for i in range(100))  # sorted, distinct
    # labels of one group co-occur far more often than labels drawn independently by popularity
    per_label = np.asarray(Y.sum(axis=0)).ravel()
    assert per_label.max() > 5 * np.median(per_label[per_label > 0])  # Zipf: a long tail
    # a document's words come from its labels' topics: rows sharing a label share more words
    lab = int(np.argmax(per_label))
    has = np.flatnonzero(np.asarray(Y[:, lab].todense()).ravel())
    hasnt = np.setdiff1d(np.arange(2_000), has)[: has.size]
    binary = (X > 0).astype(np.float64)
    assert (binary[has[:40]] @ binary[has[40:80]].T).mean() > 1.5 * (binary[has[:40]] @ binary[hasnt[:40]].T).mean()


def test_named_multilabel_set_is_written_and_read_by_the_benchmark(tmp_path, monkeypatch):
    monkeypatch.setitem(_topic_text.MULTILABEL_TOPIC_TEXT_SETS, "mlsmall", SMALL)
    d = _topic_text.write_multilabel_topic_text(tmp_path, "mlsmall")
    X, Y, Xt, Yt = multilabel.load(d)
    assert (X.shape[0], Xt.shape[0]) == (1_500, 500) and Y.shape[1] == Yt.shape[1] == 200
    y = np.load(d / "y_train.npy")
    np.testing.assert_array_equal(y, Y.indices[Y.indptr[:-1]])  # each row's smallest label
    assert multilabel.generated(tmp_path / "nowhere", "mlsmall") and not multilabel.generated(tmp_path, "mlsmall")
    assert not multilabel.generated(tmp_path / "nowhere", "bibtex")
    assert "mlsmall" in _topic_text.describe_multilabel_topic_text("mlsmall")


def test_skxc_systems_set_module_constants_for_their_fits_only(monkeypatch):
    import skxc._blend as blend

    seen = []
    real = multilabel.timed_fit_top5
    monkeypatch.setattr(
        multilabel, "timed_fit_top5", lambda *a, **k: seen.append(blend.MULTILABEL_FASTER) or real(*a, **k)
    )
    X, Y, _, _ = _topic_text.multilabel_topic_text(600, 30, 200, 20, 0.5, 2.0, 0)
    params = multilabel.skxc_system("skxc:skxc._blend.MULTILABEL_FASTER=1:max_iter=1")
    assert params == {"skxc._blend.MULTILABEL_FASTER": 1, "max_iter": 1}
    top, _, _ = multilabel.run_skxc(X, Y, X[:5], 0, **params)
    assert seen == [1] and blend.MULTILABEL_FASTER == 16.0 and top.shape == (5, 5)
    assert "module constant `skxc._blend.MULTILABEL_FASTER = 1`" in multilabel.describe(
        "skxc:skxc._blend.MULTILABEL_FASTER=1", 0
    )


def test_the_benchmark_runs_on_a_generated_set_first(tmp_path, monkeypatch, capsys):
    """A generated set may come first (the kernels' warm-up reads it) and need no directory under --data-root."""
    import json

    monkeypatch.setitem(_topic_text.MULTILABEL_TOPIC_TEXT_SETS, "mlsmall", (800, 40, 300, 20, 0.8, 2.0, 1))
    multilabel.main(
        ["--data-root", str(tmp_path / "nowhere"), "--datasets", "mlsmall", "mlsmall", "--systems", "skxc:max_iter=1",
         "--out", str(tmp_path), "--name", "t"]
    )  # fmt: skip
    result = json.loads((tmp_path / "multilabel_t.json").read_text())
    assert [r["dataset"] for r in result["records"]] == ["mlsmall", "mlsmall"]
    assert all(0.0 <= r["P@1"] <= 1.0 for r in result["records"])
    assert len(result["generated"]) == 1 and "mlsmall" in (tmp_path / "multilabel_t.md").read_text()
