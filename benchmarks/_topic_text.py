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


def tfidf_rows(cols: list, words: int, n_docs: int, vocabulary: int) -> sp.csr_matrix:
    """The CSR float32 sublinear tf-idf rows of ``n_docs`` documents of ``words`` words each, ``cols`` their
    words' ids (a list of arrays, document after document)."""
    from sklearn.feature_extraction.text import TfidfTransformer

    cols = np.concatenate(cols)
    rows = np.repeat(np.arange(n_docs), words)
    counts = sp.csr_matrix((np.ones(cols.size), (rows, cols)), shape=(n_docs, vocabulary))
    counts.sum_duplicates()
    return TfidfTransformer(sublinear_tf=True).fit_transform(counts).astype(np.float32).tocsr()


def topic_text(n_docs: int, n_classes: int, vocabulary: int, words: int, mix: float, seed: int):
    """``(X, y, train, test)``: CSR float32 tf-idf rows (n_docs, vocabulary), int64 class ids, and the
    row indices of the training and test split (module docstring)."""
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
    X = tfidf_rows(cols, words, n_docs, vocabulary)
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


#: Multi-label topic text, stand-ins for tf-idf text with thousands to tens of thousands of tags (the shape of
#: the Extreme Classification Repository's EURLex-4K and Wiki10-31K), which no shared set has: name ->
#: (documents, labels, vocabulary, words per document, topic share ``mix``, mean labels per document, seed).
MULTILABEL_TOPIC_TEXT_SETS = {
    "mltext4k": (20_000, 4_000, 20_000, 100, 0.2, 5.0, 0),
    "mltext30k": (18_000, 30_000, 50_000, 150, 0.25, 15.0, 1),
}
#: Labels per group (labels of a group share half their topic and co-occur), the share of a document's labels
#: drawn from its group, and the labels' Zipf exponent.
GROUP_SIZE = 20
IN_GROUP = 0.6
LABEL_ZIPF_EXPONENT = 0.9


def multilabel_topic_text(
    n_docs: int, n_labels: int, vocabulary: int, words: int, mix: float, per_doc: float, seed: int
):
    """``(X, Y, train, test)``: CSR float32 tf-idf rows (n_docs, vocabulary), a CSR float32 label indicator
    (n_docs, n_labels), and the row indices of the training and test split.

    Labels fall in groups of ``GROUP_SIZE``; a label's topic is the mean of its group's topic and its own
    (Dirichlet(0.02) each). Label popularity follows a Zipf law (``LABEL_ZIPF_EXPONENT``, shuffled over the
    labels). A document has 1 + Poisson(``per_doc`` - 1) labels: a group drawn by popularity, a binomial
    ``IN_GROUP`` share of them from it (without replacement, by popularity), the rest by popularity from all.
    Of its ``words`` draws a binomial ``mix`` share comes from its labels' topics (a label drawn uniformly
    per word), the rest from the background (Dirichlet(0.05)). Sublinear tf-idf; random 75 / 25 % split."""
    rng = np.random.default_rng(seed)
    background_cdf = _cdf(rng.dirichlet(np.full(vocabulary, BACKGROUND_ALPHA)))
    n_groups = -(-n_labels // GROUP_SIZE)  # the last one smaller where GROUP_SIZE does not divide n_labels
    group_topics = rng.dirichlet(np.full(vocabulary, TOPIC_ALPHA), size=n_groups)
    own = rng.dirichlet(np.full(vocabulary, TOPIC_ALPHA), size=n_labels)
    group = rng.permutation(np.repeat(np.arange(n_groups), GROUP_SIZE)[:n_labels])
    popularity = 1.0 / np.arange(1, n_labels + 1) ** LABEL_ZIPF_EXPONENT
    popularity = popularity[rng.permutation(n_labels)]
    popularity /= popularity.sum()
    members = [np.flatnonzero(group == g) for g in range(n_groups)]
    group_cdf = _cdf(np.array([popularity[m].sum() for m in members]))
    label_cdf = _cdf(popularity)
    topic_cdf = {}  # each label's, once a document draws a word from it
    cols, label_cols, n_doc_labels = [], [], np.empty(n_docs, np.int64)
    for d in range(n_docs):
        k = 1 + rng.poisson(per_doc - 1.0)
        m = members[_draw(group_cdf, rng, 1)[0]]
        n_in = min(len(m), rng.binomial(k, IN_GROUP))
        labels = set(rng.choice(m, size=n_in, replace=False, p=popularity[m] / popularity[m].sum()).tolist())
        while len(labels) < k:
            labels.add(int(_draw(label_cdf, rng, 1)[0]))
        labels = np.array(sorted(labels))
        label_cols.append(labels)
        n_doc_labels[d] = labels.size
        n_topic = rng.binomial(words, mix)
        cols.append(_draw(background_cdf, rng, words - n_topic))
        which, counts = np.unique(rng.choice(labels, size=n_topic), return_counts=True)
        for label, count in zip(which, counts, strict=True):
            if label not in topic_cdf:
                topic_cdf[label] = _cdf(0.5 * group_topics[group[label]] + 0.5 * own[label])
            cols.append(_draw(topic_cdf[label], rng, count))
    X = tfidf_rows(cols, words, n_docs, vocabulary)
    label_cols = np.concatenate(label_cols)
    Y = sp.csr_matrix(
        (np.ones(label_cols.size, np.float32), label_cols, np.concatenate([[0], np.cumsum(n_doc_labels)])),
        shape=(n_docs, n_labels),
    )
    order = rng.permutation(n_docs)
    cut = int(TRAIN_SHARE * n_docs)
    return X, Y, order[:cut], order[cut:]


def write_multilabel_topic_text(out_dir, name: str) -> Path:
    """The multi-label topic-text set ``name`` (a key of ``MULTILABEL_TOPIC_TEXT_SETS``) in the shared format
    (``X_*.npz``, ``Y_*.npz``, and ``y_*.npy``, each row's smallest label) in ``out_dir/name``."""
    X, Y, train, test = multilabel_topic_text(*MULTILABEL_TOPIC_TEXT_SETS[name])
    d = Path(out_dir) / name
    d.mkdir(parents=True, exist_ok=True)
    for split, rows in (("train", train), ("test", test)):
        Ys = sp.csr_matrix(Y[rows])
        sp.save_npz(d / f"X_{split}.npz", sp.csr_matrix(X[rows]))
        sp.save_npz(d / f"Y_{split}.npz", Ys)
        np.save(d / f"y_{split}.npy", Ys.indices[Ys.indptr[:-1]].astype(np.int32))  # every row has a label
    return d


def describe_multilabel_topic_text(name: str) -> str:
    """One line naming the multi-label generator's parameters, for the benchmark's report."""
    n_docs, n_labels, vocabulary, words, mix, per_doc, seed = MULTILABEL_TOPIC_TEXT_SETS[name]
    return (
        f"- {name}: generated multi-label topic text (`benchmarks/_topic_text.py`): {n_docs:,} documents of "
        f"{words} words from a {vocabulary:,}-word vocabulary, {n_labels:,} Zipf-distributed labels in groups of "
        f"{GROUP_SIZE}, {per_doc:g} labels per document on average, topic share {mix}, seed {seed}, sublinear "
        "tf-idf, random 75 / 25 % split"
    )
