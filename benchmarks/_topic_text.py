"""Generated topic text: tf-idf documents with a dozen to twenty rows per class (``benchmarks.longtail``).

A public stand-in for issue 13's first held-out set (tf-idf text, about 1,200 classes, about 21 rows per
class), which no shared set has. Each document is ``words`` draws from a vocabulary: each draw is from the
class's topic (a Dirichlet(0.02) distribution over the vocabulary) with probability ``mix`` (the number of
topic words is binomial), else from a background distribution common to all classes (Dirichlet(0.05)).
Classes follow a Zipf law of exponent 0.8; the counts become sublinear tf-idf (float32) and the rows are
split at random 75 / 25 % into training and test rows. Deterministic for a seed: ``text300``, ``text1200``
and ``text1200b`` are the sets of docs/benchmarks.rst ("Stop 42: generated topic text" and later), made
by a scratch script until stop 49 and now here, with the same bits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

#: name -> (documents, classes, vocabulary, words per document, topic share ``mix``, seed)
TOPIC_TEXT_SETS = {
    "text300": (15_000, 300, 5_000, 30, 0.08, 0),
    "text1200": (33_000, 1_200, 20_000, 40, 0.1, 1),
    "text1200b": (33_500, 1_200, 57_000, 80, 0.1, 2),
}
#: Dirichlet concentrations of the background and of each class's topic, the classes' Zipf exponent,
#: and the training share of the rows.
BACKGROUND_ALPHA = 0.05
TOPIC_ALPHA = 0.02
ZIPF_EXPONENT = 0.8
TRAIN_SHARE = 0.75


def _cdf(p: np.ndarray) -> np.ndarray:
    """The cumulative sums of ``p``, normalised to end at 1 (as ``Generator.choice`` computes them)."""
    cdf = p.cumsum()
    cdf /= cdf[-1]
    return cdf


def _draw(cdf: np.ndarray, rng, n: int) -> np.ndarray:
    """``n`` draws from the distribution of cumulative ``cdf`` (normalised to end at 1): what
    ``rng.choice(len(cdf), n, p=...)`` returns, with the cumulative sums computed once per distribution."""
    return cdf.searchsorted(rng.random(n), side="right")


def topic_text(n_docs: int, n_classes: int, vocabulary: int, words: int, mix: float, seed: int):
    """``(X, y, train, test)``: CSR float32 tf-idf rows (n_docs, vocabulary), int64 class ids, and the
    row indices of the training and test split (module docstring)."""
    from sklearn.feature_extraction.text import TfidfTransformer

    rng = np.random.default_rng(seed)
    background = rng.dirichlet(np.full(vocabulary, BACKGROUND_ALPHA))
    topics = rng.dirichlet(np.full(vocabulary, TOPIC_ALPHA), size=n_classes)
    p = 1.0 / np.arange(1, n_classes + 1) ** ZIPF_EXPONENT
    y = rng.choice(n_classes, size=n_docs, p=p / p.sum())
    background_cdf = _cdf(background)
    topic_cdf = {}  # each class's, once it has a document
    cols = []
    for c in y:
        k = rng.binomial(words, mix)
        cols.append(_draw(background_cdf, rng, words - k))
        if c not in topic_cdf:
            topic_cdf[c] = _cdf(topics[c])
        cols.append(_draw(topic_cdf[c], rng, k))
    cols = np.concatenate(cols)
    rows = np.repeat(np.arange(n_docs), words)
    counts = sp.csr_matrix((np.ones(cols.size), (rows, cols)), shape=(n_docs, vocabulary))
    counts.sum_duplicates()
    X = TfidfTransformer(sublinear_tf=True).fit_transform(counts).astype(np.float32).tocsr()
    order = rng.permutation(n_docs)
    cut = int(TRAIN_SHARE * n_docs)
    return X, y.astype(np.int64, copy=False), order[:cut], order[cut:]


def write_topic_text(out_dir, name: str) -> Path:
    """The topic-text set ``name`` (a key of ``TOPIC_TEXT_SETS``) in the shared format in ``out_dir/name``."""
    X, y, train, test = topic_text(*TOPIC_TEXT_SETS[name])
    d = Path(out_dir) / name
    d.mkdir(parents=True, exist_ok=True)
    for split, rows in (("train", train), ("test", test)):
        sp.save_npz(d / f"X_{split}.npz", sp.csr_matrix(X[rows]))
        np.save(d / f"y_{split}.npy", y[rows])
    return d


def describe_topic_text(name: str) -> str:
    """One line naming the generator's parameters, for the benchmark's report."""
    n_docs, n_classes, vocabulary, words, mix, seed = TOPIC_TEXT_SETS[name]
    return (
        f"- {name}: generated topic text (`benchmarks/_topic_text.py`): {n_docs:,} documents of {words} words "
        f"from a {vocabulary:,}-word vocabulary, {n_classes:,} Zipf-distributed classes, topic share {mix}, "
        f"seed {seed}, sublinear tf-idf, random 75 / 25 % split"
    )
