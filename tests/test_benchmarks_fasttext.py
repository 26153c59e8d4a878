"""fastText input of ``benchmarks/multilabel.py`` and ``benchmarks/compare.py`` (``benchmarks._peers``):
the text lines of a tiny CSR matrix with single, multiple and no labels, and the input-vector file."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import _peers  # noqa: E402
from benchmarks.multilabel import (  # noqa: E402
    FASTTEXT_PARAMS,
    describe,
    display_name,
    fasttext_system,
    row_weights,
    skxc_system,
)


def _data():
    # 4 rows x 5 binary features (row 3 has none); column order within a row is scrambled on purpose
    X = sp.csr_matrix(
        (np.ones(6, dtype=np.float32), np.array([3, 0, 1, 4, 1, 4]), np.array([0, 2, 4, 6, 6])), shape=(4, 5)
    )
    X.sort_indices()
    names = ["alpha", "two words", "__label__x", "</s>", "alpha"]
    tokens = np.array(_peers.fasttext_tokens(names), dtype=object)
    # labels: {2, 0}, {1}, none (an explicit zero in column 1), {0, 1, 2}
    Y = sp.csr_matrix(
        (np.array([1, 1, 1, 0, 1, 1, 1], dtype=np.int8), np.array([2, 0, 1, 1, 0, 1, 2]), np.array([0, 2, 3, 4, 7])),
        shape=(4, 3),
    )
    return X, Y, tokens


def test_tokens_are_safe_and_distinct():
    _, _, tokens = _data()
    assert list(tokens) == ["alpha#0", "two_words", "___label__x", "_</s>", "alpha#4"]


def test_multilabel_lines_have_one_label_word_per_label_then_one_word_per_nonzero_feature():
    X, Y, tokens = _data()
    assert _peers.fasttext_lines(X, Y, tokens) == [
        "__label__0 __label__2 alpha#0 _</s>",
        "__label__1 two_words alpha#4",
        "two_words alpha#4",
        "__label__0 __label__1 __label__2 ",
    ]
    # text to predict: the same words, no labels
    assert _peers.fasttext_lines(X, None, tokens) == ["alpha#0 _</s>", "two_words alpha#4", "two_words alpha#4", ""]
    # single-label lines keep the format benchmarks.compare has always written
    assert _peers.fasttext_lines(X[:2], np.array([7, 3]), tokens) == [
        "__label__7 alpha#0 _</s>",
        "__label__3 two_words alpha#4",
    ]


def test_written_file_and_input_vectors(tmp_path):
    X, Y, tokens = _data()
    _peers.write_fasttext_file(tmp_path / "train.txt", X, Y, tokens)
    assert (tmp_path / "train.txt").read_text() == "\n".join(_peers.fasttext_lines(X, Y, tokens)) + "\n"
    words = _peers.fasttext_train_words(X, tokens)
    assert words == ["</s>", "alpha#0", "two_words", "_</s>", "alpha#4"]  # column 2 never occurs
    _peers.write_fasttext_init(tmp_path / "init.vec", words, dim=4, seed=3)
    lines = (tmp_path / "init.vec").read_text().splitlines()
    assert lines[0] == "5 4"
    assert [line.split()[0] for line in lines[1:]] == words
    V = np.array([[float(v) for v in line.split()[1:]] for line in lines[1:]])
    assert V.shape == (5, 4) and np.all(np.abs(V) <= 0.25) and np.unique(V).size == 20
    _peers.write_fasttext_init(tmp_path / "again.vec", words, dim=4, seed=3)
    assert (tmp_path / "again.vec").read_text() == (tmp_path / "init.vec").read_text()


def test_fasttext_starts_from_the_vector_file(tmp_path):
    """At thread=1 fastText itself initialises only a tenth of its input matrix; from the file, every row."""
    fasttext = pytest.importorskip("fasttext")
    rng = np.random.default_rng(0)
    X = sp.random(60, 40, density=0.2, format="csr", random_state=rng, dtype=np.float32)
    X.data[:] = 1
    Y = sp.random(60, 6, density=0.3, format="csr", random_state=rng, dtype=np.float32)
    tokens = np.array([f"f{j}" for j in range(40)], dtype=object)
    _peers.write_fasttext_file(tmp_path / "train.txt", X, Y, tokens)
    words = _peers.fasttext_train_words(X, tokens)
    _peers.write_fasttext_init(tmp_path / "init.vec", words, dim=10, seed=0)
    model = fasttext.train_supervised(
        input=str(tmp_path / "train.txt"),
        pretrainedVectors=str(tmp_path / "init.vec"),
        dim=10,
        lr=0.0,
        epoch=1,
        thread=1,
        verbose=0,
    )
    assert sorted(model.get_words()) == sorted(words)  # no word added or lost
    W = model.get_input_matrix()
    V = np.array(
        [[float(v) for v in line.split()[1:]] for line in (tmp_path / "init.vec").read_text().splitlines()[1:]]
    )
    np.testing.assert_allclose(W[[model.get_word_id(w) for w in words]], V, rtol=1e-6)
    assert sorted(model.get_labels()) == sorted(f"__label__{c}" for c in np.unique(Y.indices))


def test_fasttext_system_overrides():
    assert fasttext_system("fasttext-ova") == ("ova", FASTTEXT_PARAMS["ova"])
    loss, params = fasttext_system("fasttext-softmax:lr=0.25:epoch=30")
    assert loss == "softmax" and params == dict(FASTTEXT_PARAMS["softmax"], lr=0.25, epoch=30)
    assert isinstance(params["epoch"], int) and isinstance(params["lr"], float)


def test_skxc_system_overrides():
    assert skxc_system("skxc") == {}
    params = skxc_system("skxc:centroid_blend=0:max_iter=10:noise=uniform:alpha=1e-3")
    assert params == {"centroid_blend": 0, "max_iter": 10, "noise": "uniform", "alpha": 1e-3}
    assert display_name("skxc:centroid_blend=0") == "skxc (centroid_blend=0)"
    assert skxc_system("skxc:noise=None:warm_start=True:shuffle=False") == {
        "noise": None,
        "warm_start": True,
        "shuffle": False,
    }
    with pytest.raises(ValueError):
        fasttext_system("fasttext-ova:lr=fast")


def test_row_weights_are_inverse_label_counts_scaled_to_mean_one_over_rows_with_labels():
    _, Y, _ = _data()  # 2, 1, 0 (a stored zero only) and 3 labels
    w = row_weights(Y, 1)
    raw = np.array([1 / 2, 1.0, 1.0, 1 / 3])
    np.testing.assert_allclose(w, raw / raw[[0, 1, 3]].mean())
    np.testing.assert_allclose(row_weights(Y, 0), np.ones(4))
    assert "sample_weight=row_weights(Y, 1)" in describe("skxc:row_weight_power=1", 0)
    assert "row_weight_power" not in describe("skxc:row_weight_power=1", 0).split("`")[1]  # not a parameter
