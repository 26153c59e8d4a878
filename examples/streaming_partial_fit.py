"""Out-of-core learning: a stream of text, HashingVectorizer and partial_fit.

Documents arrive in mini-batches and are never all in memory. Each batch goes
through a stateless ``HashingVectorizer`` (2**18 sparse features), then
``AdversarialSoftmaxClassifier.partial_fit``, which keeps sparse weights for
such wide sparse rows. Until stop 48 a random projection to 256 dense features
(``SparseRandomProjection``) came between the two: on this stream it ended at
0.52 held-out accuracy against 0.80 without it, and took longer.

The first ``partial_fit`` call must list every class of the stream
(``classes=``); it also fits the auxiliary tree on that batch, and the tree then
stays fixed, so make the first batch large enough to show every class a few
times. Every later call is one pass over its batch with fresh negatives. The
script prints held-out accuracy as the stream goes by.

The stream is synthetic (no download): 256 classes that are the leaves of a
hidden hierarchy of topic vocabularies, as in ``pipeline_grid_search.py`` (with
its own mix of words).

Run with ``python examples/streaming_partial_fit.py``.
"""

import time

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer

from skxc import AdversarialSoftmaxClassifier

BRANCHING = (8, 8, 4)  # 8 topics x 8 sub-topics x 4 classes = 256 classes
WORDS_PER_NODE = (400, 30, 15, 8)  # generic words, then words per topic / sub-topic / class
MIX = (0.5, 0.2, 0.2, 0.1)  # probability that a token comes from each level
N_CLASSES = int(np.prod(BRANCHING))


def make_vocabularies(random_state=0):
    """Made-up words for every node of the hierarchy: a list of (n_nodes, n_words) arrays."""
    rng = np.random.default_rng(random_state)
    n_nodes = [int(np.prod(BRANCHING[:level])) for level in range(len(BRANCHING) + 1)]
    sizes = np.multiply(n_nodes, WORDS_PER_NODE)
    syllables = np.array([c + v for c in "bdfgklmnprstvz" for v in "aeiou"])
    words = set()
    while len(words) < sizes.sum():
        parts = rng.choice(syllables, size=(sizes.sum(), 3))
        words.update("".join(p[: rng.integers(2, 4)]) for p in parts)
    words = rng.permutation(sorted(words))[: sizes.sum()]
    bounds = np.cumsum(sizes)[:-1]
    return [part.reshape(n, -1) for part, n in zip(np.split(words, bounds), n_nodes, strict=True)]


def class_name(c):
    per_topic = N_CLASSES // BRANCHING[0]
    return f"t{c // per_topic}/s{c % per_topic // BRANCHING[2]}/c{c % BRANCHING[2]}"


def document_stream(vocabularies, batch_sizes, random_state):
    """Yield one ``(docs, labels)`` batch per entry of ``batch_sizes``, drawn only when asked for."""
    rng = np.random.default_rng(random_state)
    for batch_size in batch_sizes:
        y = rng.integers(N_CLASSES, size=batch_size)
        lengths = rng.integers(20, 60, size=batch_size)
        doc_of_token = np.repeat(np.arange(batch_size), lengths)
        level = rng.choice(len(MIX), size=doc_of_token.size, p=MIX)
        tokens = np.empty(doc_of_token.size, dtype=object)
        for lv, vocab in enumerate(vocabularies):
            at = level == lv
            node = y[doc_of_token[at]] // (N_CLASSES // vocab.shape[0])
            zipf = 1.0 / np.arange(1, vocab.shape[1] + 1)
            tokens[at] = vocab[node, rng.choice(vocab.shape[1], size=at.sum(), p=zipf / zipf.sum())]
        docs = [" ".join(doc) for doc in np.split(tokens, np.cumsum(lengths)[:-1])]
        yield docs, np.array([class_name(c) for c in y])


vocabularies = make_vocabularies(random_state=0)
all_classes = np.array([class_name(c) for c in range(N_CLASSES)])  # known before the stream starts

vectorizer = HashingVectorizer(n_features=2**18, alternate_sign=False)  # stateless: no fit needed
clf = AdversarialSoftmaxClassifier(learning_rate=1.0, random_state=0)

# A held-out set from the same source.
held_out_docs, y_held_out = next(document_stream(vocabularies, [2000], random_state=1))
X_held_out = vectorizer.transform(held_out_docs)

# The first batch is 3x larger: the auxiliary tree is fitted on it alone.
stream = document_stream(vocabularies, batch_sizes=[3000] + [1000] * 25, random_state=2)

t_start, n_seen, t_train = time.perf_counter(), 0, 0.0
# time s: hashing and partial_fit so far
print(f"{'batch':>5} {'docs seen':>9} {'held-out accuracy':>17} {'time s':>7}")
for i, (docs, y) in enumerate(stream):
    t0 = time.perf_counter()
    X = vectorizer.transform(docs)
    if i == 0:
        clf.partial_fit(X, y, classes=all_classes)
    else:
        clf.partial_fit(X, y)
    t_train += time.perf_counter() - t0
    n_seen += len(docs)
    if i % 5 == 0:
        print(f"{i:>5} {n_seen:>9} {clf.score(X_held_out, y_held_out):>17.3f} {t_train:>7.1f}", flush=True)

print(
    f"streamed {n_seen} documents in {time.perf_counter() - t_start:.1f} s "
    f"({clf.t_} examples seen by the model, {clf.n_iter_} partial_fit calls)"
)
print(f"final held-out accuracy: {clf.score(X_held_out, y_held_out):.3f}")
