"""Slow, obviously-correct references for :mod:`skxc.metrics`: one Python loop per row, lists and sets.

Rankings: a dense score row is sorted by (-score, column); a sparse one the
same way over its stored entries only; a top-k label matrix is used as given
(``-1`` = no prediction). Each metric follows its docstring's formula.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp


def true_sets(y_true) -> list[set[int]]:
    Y = y_true.toarray() if sp.issparse(y_true) else np.asarray(y_true)
    return [{int(j) for j in np.flatnonzero(row)} for row in Y]


def rankings(y_pred, k: int) -> list[list[int]]:
    """Each row's first k predicted labels, best first (shorter when fewer are available)."""
    if sp.issparse(y_pred):
        S = sp.csr_matrix(y_pred)
        S.sum_duplicates()
        out = []
        for i in range(S.shape[0]):
            start, stop = S.indptr[i], S.indptr[i + 1]
            entries = sorted(zip(S.indices[start:stop], S.data[start:stop], strict=True), key=lambda e: (-e[1], e[0]))
            out.append([int(j) for j, _ in entries[:k]])
        return out
    y_pred = np.asarray(y_pred)
    if np.issubdtype(y_pred.dtype, np.integer):
        return [[int(j) for j in row[:k] if j >= 0] for row in y_pred]
    return [sorted(range(len(row)), key=lambda j: (-row[j], j))[:k] for row in y_pred]


def _disc(rank: int) -> float:  # rank is 1-based
    return 1.0 / math.log2(rank + 1)


def precision(y_true, y_pred, k):
    return float(
        np.mean([sum(j in t for j in r) / k for t, r in zip(true_sets(y_true), rankings(y_pred, k), strict=True)])
    )


def recall(y_true, y_pred, k):
    values = [
        sum(j in t for j in r) / len(t) if t else 0.0
        for t, r in zip(true_sets(y_true), rankings(y_pred, k), strict=True)
    ]
    return float(np.mean(values))


def ndcg(y_true, y_pred, k):
    values = []
    for t, r in zip(true_sets(y_true), rankings(y_pred, k), strict=True):
        if not t:
            values.append(0.0)
            continue
        dcg = sum(_disc(rank) for rank, j in enumerate(r, start=1) if j in t)
        ideal = sum(_disc(rank) for rank in range(1, min(k, len(t)) + 1))
        values.append(dcg / ideal)
    return float(np.mean(values))


def psp(y_true, y_pred, propensities, k, normalize=True):
    q = 1.0 / np.asarray(propensities, dtype=float)
    gain, best = 0.0, 0.0
    for t, r in zip(true_sets(y_true), rankings(y_pred, k), strict=True):
        gain += sum(q[j] for j in r if j in t) / k
        best += sum(sorted((q[j] for j in t), reverse=True)[:k]) / k
    n = len(true_sets(y_true))
    if not normalize:
        return gain / n
    return gain / best if best > 0 else 0.0


def psndcg(y_true, y_pred, propensities, k, normalize=True):
    q = 1.0 / np.asarray(propensities, dtype=float)
    gain, best = 0.0, 0.0
    sets = true_sets(y_true)
    for t, r in zip(sets, rankings(y_pred, k), strict=True):
        if not t:
            continue
        ideal = sum(_disc(rank) for rank in range(1, min(k, len(t)) + 1))
        gain += sum(q[j] * _disc(rank) for rank, j in enumerate(r, start=1) if j in t) / ideal
        ordered = sorted((q[j] for j in t), reverse=True)[:k]
        best += sum(w * _disc(rank) for rank, w in enumerate(ordered, start=1)) / ideal
    if not normalize:
        return gain / len(sets)
    return gain / best if best > 0 else 0.0


def propensity(y_true, A=0.55, B=1.5):
    sets = true_sets(y_true)
    n, n_labels = len(sets), np.shape(y_true)[1]
    C = (math.log(n) - 1) * (B + 1) ** A
    return np.array([1.0 / (1.0 + C * math.exp(-A * math.log(sum(j in t for t in sets) + B))) for j in range(n_labels)])
