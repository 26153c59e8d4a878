"""Plain-Python epoch driver shared by ``fit`` and ``partial_fit``.

One kernel call per epoch and thread; the loop, shuffling, early stopping and
progress output stay in Python (umap style).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ._kernels.rng import seed_states
from ._kernels.sgd import negative_sampling_epoch, softmax_epoch
from ._validation import check_model_memory


@dataclass
class Rows:
    """Training rows in kernel format plus everything per row the kernel needs."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    n_dense_features: int
    y: np.ndarray  # int32 class codes
    sample_weight: np.ndarray  # float32
    Z: np.ndarray  # float32 (n, k) projected features for the tree
    log_noise: np.ndarray  # float64 (n,) log p_n(y|x) of each row's own class

    @property
    def n_samples(self) -> int:
        return self.y.shape[0]


@dataclass
class EpochStats:
    loss: float  # mean weighted loss (Eq. 6) over the epoch
    hardness: float  # mean sigmoid(xi) of the negatives (raw scores, before bias removal)
    n_examples: int
    seconds: float


def flat_view(a: np.ndarray):
    """Flat buffer and (stride_c, stride_j) in elements of a 2-D C- or F-ordered array."""
    flat = a.ravel(order="K")
    if not np.shares_memory(flat, a):  # pragma: no cover - guarded by allocation
        raise RuntimeError("coef_ must be C- or F-contiguous")
    item = a.itemsize
    return flat, a.strides[0] // item, a.strides[1] // item


#: Rows per kernel call within an epoch (progress granularity; fixed so results do not depend on verbose).
PROGRESS_ROWS = 2**20


def sgd_epoch(
    model, rows: Rows, order: np.ndarray, rng: np.random.Generator, n_threads: int, verbose: int = 0
) -> EpochStats:
    """One pass of negative-sampling Adagrad over ``rows`` in ``order``.

    ``model`` is the estimator: its ``coef_``, ``intercept_`` and Adagrad state are
    updated in place. With ``n_threads > 1`` the order is cut into contiguous
    chunks trained concurrently without locks (Hogwild): fast, not bitwise
    reproducible. ``rng`` supplies fresh xorshift seeds per thread and piece.
    """
    t0 = time.perf_counter()
    for name in ("coef_", "_acc_coef", "_acc_factors", "intercept_", "_acc_intercept"):
        state = getattr(model, name)
        if not state.flags.writeable:  # e.g. joblib.load(..., mmap_mode="r"): train on a copy
            setattr(model, name, np.array(state, order="K"))
    coef_flat, stride_c, stride_j = flat_view(model.coef_)
    acc_flat = model._acc_coef.ravel(order="K")  # empty for the factored state
    factors = model._acc_factors  # R, S and T for the factored state, else empty
    acc_factors = factors[:-1]
    tree = model.tree_
    n_threads = max(1, min(n_threads, order.shape[0]))
    stats = np.zeros((n_threads, 4), dtype=np.float64)
    # The factored state's total T: in place with one thread (bitwise reproducible);
    # with several, each thread keeps its own running total for a piece of the
    # epoch and the increments are added together after it.
    if n_threads == 1:
        totals = factors[-1:] if factors.size else np.zeros(1, dtype=np.float64)
    else:
        totals = np.zeros((n_threads, 1), dtype=np.float64)
    states = None

    def run(t, chunk):
        acc_total = totals if n_threads == 1 else totals[t]
        if model.noise is None:  # exact softmax: the reference mode, every class row updated
            softmax_epoch(
                rows.indptr, rows.indices, rows.data, rows.n_dense_features, rows.y, rows.sample_weight,
                chunk, coef_flat, acc_flat, acc_factors, acc_total, stride_c, stride_j, model.intercept_,
                model._acc_intercept, float(model.learning_rate_), float(model.alpha), float(model.l2), stats[t],
            )
            return
        negative_sampling_epoch(
            rows.indptr, rows.indices, rows.data, rows.n_dense_features, rows.y, rows.sample_weight,
            chunk, rows.Z, rows.log_noise, coef_flat, acc_flat, acc_factors, acc_total, stride_c, stride_j,
            model.intercept_, model._acc_intercept, tree.node_weight_, tree.node_bias_, tree.leaf_class_,
            model.n_negatives, float(model.learning_rate_), float(model.alpha), float(model.l2), states[t], stats[t],
        )

    # The epoch runs in fixed-size pieces (the same whatever ``verbose`` is, so
    # output never changes results); each piece draws fresh seeds and, with
    # verbose >= 2, reports progress.
    pool = ThreadPoolExecutor(n_threads) if n_threads > 1 else None
    try:
        for start in range(0, order.shape[0], PROGRESS_ROWS):
            piece = order[start : start + PROGRESS_ROWS]
            states = seed_states(rng, n_threads)
            if pool is None:
                run(0, piece)
            else:
                if factors.size:
                    totals[:] = factors[-1]
                list(pool.map(run, range(n_threads), np.array_split(piece, n_threads)))
                if factors.size:
                    factors[-1] += float(np.sum(totals - factors[-1]))
            if verbose >= 2 and order.shape[0] > PROGRESS_ROWS:
                done = min(start + PROGRESS_ROWS, order.shape[0])
                total = stats.sum(axis=0)
                print(
                    f"   {done:,}/{order.shape[0]:,} rows, loss {total[0] / max(total[1], 1e-300):.5f}, "
                    f"{done / (time.perf_counter() - t0):,.0f} ex/s",
                    flush=True,
                )
    finally:
        if pool is not None:
            pool.shutdown()
    total = stats.sum(axis=0)
    return EpochStats(
        loss=total[0] / max(total[1], 1e-300),
        hardness=total[2] / total[3] if total[3] > 0 else float("nan"),
        n_examples=int(order.shape[0]),
        seconds=time.perf_counter() - t0,
    )


def adagrad_state(kind: str, n_classes: int, n_features: int, full=()):
    """``(_acc_coef, _acc_factors)`` of a fresh Adagrad state of ``kind`` "full" or "factored".

    "full": ``_acc_coef`` is the (n_classes, n_features) float32 array passed in
    ``full`` (allocated by the caller, in coef_'s memory order) and
    ``_acc_factors`` is empty. "factored": ``_acc_coef`` is empty and
    ``_acc_factors`` float64 holds R (n_classes), S (n_features) and T (1).
    """
    if kind == "full":
        return full[0], np.zeros(0, dtype=np.float64)
    return np.zeros((0, 0), dtype=np.float32), np.zeros(n_classes + n_features + 1, dtype=np.float64)


def convert_adagrad_state(model) -> None:
    """Convert ``model``'s Adagrad state to the kind ``model.adagrad`` asks for if it is stored the other way.

    Full to factored sums the accumulators (exactly); factored to full sets each
    weight's accumulator to the estimate R_c S_j / T (after checking that it fits
    in memory, before anything changes).
    """
    n_classes, n_features = model.coef_.shape
    if not hasattr(model, "_acc_factors"):  # a model pickled before the factored state existed: full state
        model._acc_factors = np.zeros(0, dtype=np.float64)
    kind = model._adagrad_kind()
    if kind == "factored" and model._acc_factors.size == 0:
        acc = model._acc_coef
        factors = np.empty(n_classes + n_features + 1, dtype=np.float64)
        factors[:n_classes] = acc.sum(axis=1, dtype=np.float64)
        factors[n_classes:-1] = acc.sum(axis=0, dtype=np.float64)
        factors[-1] = factors[:n_classes].sum()
        model._acc_coef, model._acc_factors = np.zeros((0, 0), dtype=np.float32), factors
    elif kind == "full" and model._acc_factors.size > 0:
        check_model_memory(n_classes, n_features, type(model).__name__, full_adagrad=True)
        factors = model._acc_factors
        row, col, total = factors[:n_classes], factors[n_classes:-1], factors[-1]
        acc = np.zeros(model.coef_.shape, dtype=np.float32, order="F" if model.coef_.flags.f_contiguous else "C")
        if total > 0:
            np.multiply.outer((row / total).astype(np.float32), col.astype(np.float32), out=acc)
        model._acc_coef, model._acc_factors = adagrad_state("full", n_classes, n_features, (acc,))


def auto_learning_rate(X, sample_weight) -> float:
    """``learning_rate="auto"``: 1 / sqrt(1 + weighted mean squared row norm of X), in float64.

    Adagrad moves each weight by about the learning rate per step, so a step
    moves a score xi = w @ x + b by about lr * ||(x, 1)||; this makes that about
    1 for an average row (the intercept counts as a feature equal to 1). Rows
    weigh as in the loss, so a zero-weight row counts as a removed one.
    """
    w = np.asarray(sample_weight, dtype=np.float64)
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        sq = np.bincount(rows, weights=np.square(X.data, dtype=np.float64), minlength=X.shape[0])
    else:
        sq = np.einsum("ij,ij->i", X, X, dtype=np.float64)
    total = w.sum()
    mean_sq = float(w @ sq) / total if total > 0 else 0.0
    return 1.0 / np.sqrt(1.0 + mean_sq)


def epoch_order(n_samples: int, shuffle: bool, rng: np.random.Generator) -> np.ndarray:
    """Visiting order of one epoch: a fresh permutation, or 0..n-1 without shuffling."""
    if shuffle:
        return rng.permutation(n_samples).astype(np.int64)
    return np.arange(n_samples, dtype=np.int64)
