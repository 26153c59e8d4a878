"""Plain-Python epoch driver shared by ``fit`` and ``partial_fit``.

One kernel call per epoch and thread; the loop, shuffling, early stopping,
divergence checks and progress output stay in Python (umap style). Everything
here is a function of arrays and plain parameters: the estimator passes its
weights, its :class:`~skxc._state.AdagradState`, the rows in kernel format and
the tree's arrays.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from ._config import FLOAT
from ._kernels.hashed import move_to_block, negative_sampling_epoch_hashed
from ._kernels.rng import seed_states
from ._kernels.sgd import negative_sampling_epoch, sampling_scratch, softmax_epoch
from ._memory import zeros
from ._parallel import StopRequest, fan_out
from ._predict import TreeArrays, flat_view
from ._start import squared_row_norms
from ._state import AdagradState
from ._validation import warn_user
from ._weights import HashedWeights, check_growth_memory

__all__ = [
    "Rows",
    "EpochStats",
    "SGDParams",
    "Schedule",
    "TrainingInterruptedWarning",
    "sgd_epoch",
    "run_epochs",
    "flat_view",
]


@dataclass
class Rows:
    """Training examples in kernel format plus everything per example the kernel needs.

    Single-label: one example per row. Multi-label (pick-all-labels): one
    example per (row, label) pair; ``example_row`` maps it to its row of X and
    Z, and ``label_indptr``/``label_indices`` (CSR of Y) hold each row's labels,
    which the kernel never draws as negatives.
    """

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    n_dense_features: int
    codes: np.ndarray  # int32 (e,) class codes (indices into classes_) of the examples
    sample_weight: np.ndarray  # float32 (e,)
    Z: np.ndarray  # float32 (n, k) projected features of the rows for the tree
    log_noise: np.ndarray  # float64 (e,) log p_n(y|x) of each example's own class
    example_row: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # int64 (e,) or empty
    label_indptr: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # int64 (n+1,) or empty
    label_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))  # int32 (nnz(Y),)
    # float64 (n,) a fixed term of every class's score of each row (sparse weights: skxc/_weights.py), or empty
    row_offset: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    # uint8 (n_features,): sparse weights, the features on which a negative's update may add a weight to the
    # table (skxc._weights.negative_insert_mask); empty: every feature
    negative_inserts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint8))

    @property
    def n_samples(self) -> int:
        """Number of examples (rows, or (row, label) pairs for multi-label data)."""
        return self.codes.shape[0]


@dataclass
class EpochStats:
    loss: float  # mean weighted loss (Eq. 6) over the epoch; NaN for an epoch without examples (weight)
    hardness: float  # mean sigmoid(xi) of the negatives (raw scores, before bias removal)
    n_examples: int  # rows trained on (fewer than the epoch's when interrupted)
    seconds: float
    interrupted: bool = False  # stopped at a piece boundary by a stop request (Ctrl-C)
    empty: bool = False  # no example of positive weight was trained on (loss NaN)


class TrainingInterruptedWarning(UserWarning):
    """Training stopped early at a piece boundary because of Ctrl-C; the model is consistent and usable."""


@dataclass(frozen=True)
class SGDParams:
    """The step's parameters: ``exact`` (softmax over all classes, no sampling), negatives per positive,
    Adagrad step size, the regulariser of Eq. 6 and the L2 penalty on touched weights."""

    exact: bool
    n_negatives: int
    learning_rate: float
    alpha: float
    l2: float


@dataclass(frozen=True)
class Schedule:
    """How many epochs, in which order, when to stop and what to print."""

    n_epochs: int
    shuffle: bool
    n_threads: int
    tol: float | None = None
    n_iter_no_change: int = 3
    check_convergence: bool = True
    max_iter: int = 1  # named in the ConvergenceWarning
    verbose: int = 0
    #: "linear": the step size falls linearly from ``learning_rate`` to 0 over ``n_epochs``
    #: epochs (by the position in each epoch); "constant": it stays at ``learning_rate``.
    learning_rate_schedule: str = "constant"
    #: The first ``early_epochs`` epochs draw ``early_negatives`` negatives per example instead of
    #: ``SGDParams.n_negatives`` (``skxc._fit.resolve_early_negatives``).
    early_epochs: int = 0
    early_negatives: int = 0

    def epoch_params(self, params: SGDParams, epoch: int) -> SGDParams:
        """``params`` for epoch ``epoch`` (0-based): with the early negatives in the first ``early_epochs``."""
        if epoch < self.early_epochs and self.early_negatives > 0 and not params.exact:
            return replace(params, n_negatives=self.early_negatives)
        return params

    def most_negatives(self, params: SGDParams) -> SGDParams:
        """``params`` with the most negatives per example of any epoch (bounds on the weights)."""
        most = self.epoch_params(params, 0)
        return most if most.n_negatives > params.n_negatives else params

    def step_sizes(self, learning_rate: float, epoch: int) -> tuple[float, float]:
        """Step size at the start and at the end of epoch ``epoch`` (0-based)."""
        if self.learning_rate_schedule == "constant":
            return learning_rate, learning_rate
        return learning_rate * (1.0 - epoch / self.n_epochs), learning_rate * (1.0 - (epoch + 1) / self.n_epochs)


#: With several threads, whether each thread steps with its own copy of the factored Adagrad state's sums R, S
#: and T within a piece of an epoch, counting each of its squared gradients n times (n threads: each trains about
#: 1 / n of the piece, so R_c S_j / T estimates the sums of the whole piece, as one thread's steps see them), the
#: increments over n added to the state after the piece. Shared R and S were written at every step by every thread
#: (S_j at each of a row's features), and the cache lines holding the sums of common features travelled between
#: the cores: on ``text1200b`` of ``benchmarks.longtail`` (a dense buffer, 8 negatives, 2 threads) the epochs ran
#: at about 190,000-220,000 examples per second with shared sums and 210,000-310,000 with own ones, where two
#: one-thread processes ran at about 150,000 each (docs/benchmarks.rst, "Stop 69"). And a thread's own T (shared
#: R and S) had made its steps about 1 / sqrt(n) of one thread's where the sums start. False: shared R and S, a
#: thread's own T, each gradient counted once (stop 68 and before). One thread: the state itself, either way
#: (bitwise reproducible).
THREAD_SUMS = True
#: Rows per kernel call within an epoch (progress granularity; fixed so results do not depend on verbose).
PROGRESS_ROWS = 2**20


def sgd_epoch(
    coef: np.ndarray,
    intercept: np.ndarray,
    state: AdagradState,
    params: SGDParams,
    rows: Rows,
    tree: TreeArrays,
    order: np.ndarray,
    rng: np.random.Generator,
    n_threads: int,
    verbose: int = 0,
    stop: StopRequest | None = None,
    step_sizes: tuple[float, float] | None = None,
    block: Block | None = None,
) -> EpochStats:
    """One pass of negative-sampling (or exact softmax) Adagrad over ``rows`` in ``order``.

    ``coef`` (C- or F-ordered float32), ``intercept`` and ``state`` (writeable)
    are updated in place. With ``n_threads > 1`` the order is cut into
    contiguous chunks trained concurrently without locks (Hogwild): fast, not
    bitwise reproducible. ``rng`` supplies fresh xorshift seeds per thread and piece.
    When ``stop.requested`` is set (Ctrl-C), the epoch ends after the current
    piece, with every piece's bookkeeping complete (``interrupted`` is then True).
    ``step_sizes`` = (at the first row, after the last row): the step size
    moves linearly between them along ``order`` (each thread's chunk of a
    piece spans the piece's range); None: ``params.learning_rate`` throughout.
    ``block``: the :class:`Block` holding the table's weights on the negatives' insert features while the
    epochs run (hashed weights only), or None.
    """
    t0 = time.perf_counter()
    hashed = isinstance(coef, HashedWeights)
    if hashed:
        coef_flat, stride_c, stride_j = np.zeros(0, dtype=coef.vals.dtype), 0, 0
    else:
        coef_flat, stride_c, stride_j = flat_view(coef)
    acc_flat = state.coef_sums.ravel(order="K")  # empty for the factored state
    factors = state.factor_sums  # R, S and T for the factored state, else empty
    shared_sums = factors[:-1]  # R and S
    acc_intercept = state.intercept_sums
    n_threads = max(1, min(n_threads, order.shape[0]))
    stats = np.zeros((n_threads, 4), dtype=np.float64)
    # The factored state's total T: in place with one thread (bitwise reproducible);
    # with several, each thread keeps its own running total for a piece of the
    # epoch and the increments are added together after it; so, with THREAD_SUMS, of R and S, each thread then
    # counting its squared gradients as many times as there are threads (the share, beside T in its row of
    # ``totals``: ``skxc._kernels.sgd.sum_share``) and the increments divided by it.
    if n_threads == 1:
        totals = factors[-1:] if factors.size else np.zeros(1, dtype=np.float64)
    else:  # rows a cache line apart: (T, share)
        totals = np.zeros((n_threads, 64 // np.dtype(np.float64).itemsize), dtype=np.float64)[:, :2]
        totals[:, 1] = 1.0
    thread_sums = None  # (n_threads, C + K): each thread's own R and S while a piece runs, or None: shared

    @contextmanager
    def piece_sums(active):
        """While the threads ``active`` run a piece (several threads, the factored state): their totals and, with
        THREAD_SUMS and more than one of them, their own R and S, from the state, and their share; after it (also
        where a thread raised: its steps are in the weights, and fan_out lets the running pieces end) their
        increments over the share added to the state, whose R and S are then still those before the piece."""
        nonlocal thread_sums
        if n_threads == 1 or not factors.size:
            yield
            return
        active = list(active)
        share = len(active) if THREAD_SUMS and len(active) > 1 else 1
        totals[:, 0], totals[:, 1] = factors[-1], share
        if share > 1:
            thread_sums = np.repeat(shared_sums[np.newaxis, :], n_threads, axis=0)
        try:
            yield
        finally:
            factors[-1] += float(np.sum(totals[active, 0] - factors[-1])) / share
            if thread_sums is not None:
                np.add(shared_sums, np.sum(thread_sums[active] - shared_sums, axis=0) / share, out=shared_sums)
                thread_sums = None

    alpha, l2 = float(params.alpha), float(params.l2)
    lr_first, lr_last = (params.learning_rate,) * 2 if step_sizes is None else step_sizes
    lr_first, lr_last = float(lr_first), float(lr_last)
    lr_range = [lr_first, lr_last]  # the current piece's step sizes
    # the schedule advances with each example of non-zero weight (as the kernels count)
    stepped = None if lr_first == lr_last else np.cumsum(rows.sample_weight[order] != 0)

    def run(t, chunk, states, start=0):
        acc_total = totals if n_threads == 1 else totals[t]
        acc_factors = shared_sums if thread_sums is None else thread_sums[t]
        lr, lr_end = lr_range
        if hashed:
            return run_hashed(t, chunk, states, acc_total, acc_factors, start, lr, lr_end)
        if params.exact:  # exact softmax: the reference mode, every class row updated
            softmax_epoch(
                rows.indptr, rows.indices, rows.data, rows.n_dense_features, rows.codes, rows.sample_weight,
                rows.example_row, chunk, coef_flat, acc_flat, acc_factors, acc_total, stride_c, stride_j, intercept,
                acc_intercept, lr, lr_end, alpha, l2, stats[t],
            )  # fmt: skip
            return
        negative_sampling_epoch(
            rows.indptr, rows.indices, rows.data, rows.n_dense_features, rows.codes, rows.sample_weight,
            rows.example_row, rows.label_indptr, rows.label_indices, chunk, rows.Z, rows.log_noise, coef_flat,
            acc_flat, acc_factors, acc_total, stride_c, stride_j, intercept, acc_intercept, tree.node_weight, tree.node_bias, tree.leaf_class,
            params.n_negatives, lr, lr_end, alpha, l2, states[t], stats[t], *sampling_scratch(params.n_negatives),
        )  # fmt: skip

    def run_hashed(t, chunk, states, acc_total, acc_factors, start, lr, lr_end):
        # the kernel stops before it could overfill the table; grow it and go on from there
        position, inserted = start, np.zeros(1, dtype=np.int64)
        while position < chunk.shape[0]:
            position = negative_sampling_epoch_hashed(
                rows.indptr, rows.indices, rows.data, rows.codes, rows.sample_weight, rows.example_row,
                rows.label_indptr, rows.label_indices, chunk, position, rows.Z, rows.log_noise, rows.row_offset,
                coef.keys, coef.vals, *coef.slot_words(), coef.buffer, coef.shift, coef.shape[1], acc_factors, acc_total, intercept,
                acc_intercept, tree.node_weight, tree.node_bias, tree.leaf_class, params.n_negatives, lr, lr_end, alpha, l2,
                states[t], budgets[t], inserted, stats[t], *sampling_scratch(params.n_negatives), slots[t],
                rows.negative_inserts, *block_args,
            )  # fmt: skip
            if position < chunk.shape[0]:
                return position, int(inserted[0])
        return position, int(inserted[0])

    block_args = _NO_BLOCK if block is None else block.args
    budgets = np.zeros(n_threads, dtype=np.int64)
    if hashed:  # each thread's scratch for the slots of an example's weights
        longest = max(1, int(np.max(np.diff(rows.indptr), initial=0)))
        slots = np.empty((n_threads, (1 + params.n_negatives) * longest), dtype=np.int64)

    def run_piece_hashed(piece, states):
        """All threads' chunks of ``piece``, growing the table between rounds until every chunk is done."""
        chunks = np.array_split(piece, n_threads)
        starts = [0] * n_threads  # where each chunk goes on (the step sizes follow the position in it)
        max_need = (1 + params.n_negatives) * int(np.max(np.diff(rows.indptr), initial=0))
        while any(starts[t] < c.shape[0] for t, c in enumerate(chunks)):
            active = [t for t in range(n_threads) if starts[t] < chunks[t].shape[0]]
            if coef.free() < len(active) * max_need:
                coef.reserve(len(active) * max_need)
            budgets[:] = coef.free() // len(active)
            with piece_sums(active):
                if len(active) == 1:
                    results = [run(active[0], chunks[active[0]], states, starts[active[0]])]
                else:
                    results = fan_out(lambda t: run(t, chunks[t], states, starts[t]), active, len(active))
            for t, (position, inserted) in zip(active, results, strict=True):
                coef.count += inserted
                starts[t] = position

    # The epoch runs in fixed-size pieces (the same whatever ``verbose`` is, so
    # output never changes results); each piece draws fresh seeds and, with
    # verbose >= 2, reports progress.
    done = 0
    for start in range(0, order.shape[0], PROGRESS_ROWS):
        if stop is not None and stop.requested:
            break
        piece = order[start : start + PROGRESS_ROWS]
        if stepped is not None and stepped[-1] > 0:
            before, through = (stepped[start - 1] if start else 0), stepped[start + piece.shape[0] - 1]
            lr_range[:] = [lr_first + (lr_last - lr_first) * i / stepped[-1] for i in (before, through)]
        states = seed_states(rng, n_threads)
        if hashed:
            run_piece_hashed(piece, states)
        elif n_threads == 1:
            run(0, piece, states)
        else:
            chunks = np.array_split(piece, n_threads)
            with piece_sums(range(n_threads)):
                fan_out(lambda t, chunks=chunks, states=states: run(t, chunks[t], states), range(n_threads), n_threads)
        done += piece.shape[0]
        if verbose >= 2 and order.shape[0] > PROGRESS_ROWS:
            done = min(start + PROGRESS_ROWS, order.shape[0])
            total = stats.sum(axis=0)
            print(
                f"   {done:,}/{order.shape[0]:,} rows, loss {total[0] / max(total[1], 1e-300):.5f}, "
                f"{done / (time.perf_counter() - t0):,.0f} ex/s",
                flush=True,
            )
    total = stats.sum(axis=0)
    return EpochStats(
        loss=total[0] / total[1] if total[1] > 0 else float("nan"),  # a mean over no example (weight): NaN
        hardness=total[2] / total[3] if total[3] > 0 else float("nan"),
        n_examples=done,
        seconds=time.perf_counter() - t0,
        interrupted=done < order.shape[0],
        empty=not total[1] > 0,
    )


#: Whether a fit's hashed epochs keep the weights on the negatives' insert features in a dense block
#: (:class:`Block`). False: in the table, as before stop 63.
BLOCK = True
_NO_BLOCK = (np.zeros(0, dtype=np.int32), np.zeros(0, dtype=FLOAT), np.zeros(0, dtype=FLOAT))


class Block:
    """The weights of a hash table on the negatives' insert features (``Rows.negative_inserts``: K features), held
    in a dense float32 block of K x C entries while :func:`run_epochs` runs (``skxc/_kernels/hashed.py``, module
    docstring). Made by taking those entries out of the table (:func:`~skxc._kernels.hashed.move_to_block`);
    :meth:`close` hands the non-zero ones back. In between the table alone is not the model: nothing but the
    epochs may read it. ``args``: the kernel's ``(colmap, block, block_acc)``."""

    def __init__(self, table: HashedWeights, columns: np.ndarray, block: np.ndarray, block_acc: np.ndarray):
        n_classes, n_features = table.shape
        self.table, self.columns = table, columns
        colmap = np.full(n_features, -1, dtype=np.int32)
        colmap[columns] = np.arange(columns.shape[0], dtype=np.int32)
        table.count = int(move_to_block(table.keys, table.vals, table.acc, n_features, colmap, n_classes, block,
                                        block_acc, table.shift))  # fmt: skip
        self.args = (colmap, block, block_acc)

    @classmethod
    def wanted(cls, coef, rows: Rows) -> Block | None:
        """A block for hashed ``coef`` trained on ``rows``, or None: with ``BLOCK``, an insert mask of K > 0
        features, and a block (K x C weights, and as many full-state sums) of at most the table's bytes that fits
        in memory (:func:`~skxc._weights.check_growth_memory`)."""
        mask = rows.negative_inserts
        if not (BLOCK and isinstance(coef, HashedWeights) and mask.shape[0] > 0):
            return None
        columns = np.flatnonzero(mask).astype(np.int64)
        nbytes = columns.shape[0] * coef.shape[0] * np.dtype(FLOAT).itemsize * (2 if coef.full else 1)
        if columns.shape[0] == 0 or nbytes > coef.nbytes:
            return None
        try:
            check_growth_memory(nbytes, coef.shape, coef.count)
            block = zeros(columns.shape[0] * coef.shape[0], FLOAT)
            block_acc = zeros(block.shape[0] if coef.full else 0, FLOAT)
        except MemoryError:  # SparseWeightsMemoryError included: the table as it is
            return None
        return cls(coef, columns, block, block_acc)

    def close(self) -> None:
        """Hand the block's weights back to the table (``HashedWeights.pending``): ``to_csr`` writes them into coef_
        along with the table's, and any other use of the table first puts them into it (``settle``)."""
        self.table.pending = (self.columns, *self.args[1:])


def run_epochs(
    coef: np.ndarray,
    intercept: np.ndarray,
    state: AdagradState,
    params: SGDParams,
    rows: Rows,
    tree: TreeArrays,
    rng: np.random.Generator,
    schedule: Schedule,
    record: Callable[[EpochStats, float | None], int],
    validate: Callable[[], float] | None = None,
    stop: StopRequest | None = None,
    interrupted: Callable[[EpochStats], None] | None = None,
    start_score: float | None = None,
) -> None:
    """Up to ``schedule.n_epochs`` epochs of :func:`sgd_epoch`, with early stopping.

    After each epoch ``validate()`` (if given) returns the held-out accuracy and
    ``record(stats, score)`` stores the epoch and returns the epoch count so far.
    Training stops once the monitored quantity (validation accuracy, else minus
    the training loss) has not improved by ``tol`` for ``n_iter_no_change``
    epochs; a ``ConvergenceWarning`` says when ``max_iter`` came first.
    ``start_score``: the held-out accuracy of the model before the first epoch
    (epoch 0), with ``validate``; the accuracy's best so far starts from it, so
    epochs that never beat the start count as epochs without improvement (the
    training loss has no value before the first epoch: without ``validate``
    the first epoch sets the best).
    FloatingPointError if the loss is not finite. When ``stop.requested`` is
    set (Ctrl-C), training ends at the next piece boundary: ``interrupted(stats)``
    gets the partial epoch's statistics and a :class:`TrainingInterruptedWarning`
    is raised; the partial epoch is not recorded as an epoch.
    Hashed weights with an insert mask and no ``validate`` train with their mask features' weights in a
    :class:`Block`, handed back to the table when the epochs end (also on an error or Ctrl-C).
    """
    # hashed weights with an insert mask, no validation between epochs (which reads the model): a block
    block = Block.wanted(coef, rows) if validate is None else None
    try:
        _epochs(coef, intercept, state, params, rows, tree, rng, schedule, record, validate, stop, interrupted,
                start_score, block)  # fmt: skip
    finally:
        if block is not None:
            block.close()


def _epochs(coef, intercept, state, params, rows, tree, rng, schedule, record, validate, stop, interrupted,
            start_score, block) -> None:  # fmt: skip
    """:func:`run_epochs`'s loop, with its ``block`` (or None)."""
    # the monitored quantity's best so far (larger is better): the start's accuracy, if validated
    best, no_improve, t0 = (start_score if validate is not None else None), 0, time.perf_counter()
    if schedule.verbose and validate is not None and start_score is not None:
        print(f"-- Epoch 0 (start): val accuracy {start_score:.4f}", flush=True)
    for epoch in range(schedule.n_epochs):
        order = epoch_order(rows.n_samples, schedule.shuffle, rng)
        stats = sgd_epoch(
            coef, intercept, state, schedule.epoch_params(params, epoch), rows, tree, order, rng, schedule.n_threads,
            schedule.verbose, stop, schedule.step_sizes(params.learning_rate, epoch), block=block,
        )  # fmt: skip
        if stats.interrupted:
            if interrupted is not None:
                interrupted(stats)
            if stop.cancelled:  # a task whose caller stopped waiting for it (skxc._parallel): nobody to tell
                return
            warn_user(
                f"Training interrupted (Ctrl-C) after {stats.n_examples:,} of {order.shape[0]:,} rows of an "
                "epoch; the model is consistent and usable as it stands (n_iter_ counts complete epochs, "
                "t_ every row trained on). Call partial_fit, or fit with warm_start=True, to train on.",
                TrainingInterruptedWarning,
            )
            return
        if not stats.empty:  # an epoch without examples (a partial_fit batch without labels): NaN, not diverged
            check_finite_loss(stats.loss, params)
        score = validate() if validate is not None else None
        n_iter = record(stats, score)
        if schedule.verbose:
            print(
                f"-- Epoch {n_iter}: loss {stats.loss:.5f}, hardness {stats.hardness:.4f}"
                + (f", val accuracy {score:.4f}" if score is not None else "")
                + f", {stats.n_examples / max(stats.seconds, 1e-9):,.0f} ex/s"
                + f", elapsed {time.perf_counter() - t0:.2f} s",
                flush=True,
            )
        tol = 0.0 if (schedule.tol is None and score is not None) else schedule.tol
        if not schedule.check_convergence or tol is None or (stats.empty and score is None):
            continue  # (an empty epoch's NaN loss neither improves on the best nor fails to)
        current = score if score is not None else -stats.loss  # larger is better
        # tol=None with early stopping: only a higher accuracy is an improvement (a flat one stops)
        strict = schedule.tol is None
        if best is not None and (current <= best if strict else current < best + tol):
            no_improve += 1
        else:
            no_improve = 0
        best = current if best is None else max(best, current)
        if no_improve >= schedule.n_iter_no_change:
            if schedule.verbose:
                print(f"Convergence after {n_iter} epochs.", flush=True)
            return
    if schedule.check_convergence and (schedule.tol is not None or validate is not None) and schedule.n_epochs > 1:
        warn_user(
            f"Maximum number of epochs (max_iter={schedule.max_iter}) reached before the "
            f"{'validation accuracy' if validate is not None else 'training loss'} stopped "
            + (f"improving by tol={schedule.tol}" if schedule.tol is not None else "rising above its best")
            + "; consider increasing max_iter.",
            ConvergenceWarning,
        )


def _diverged(what: str, params: SGDParams) -> FloatingPointError:
    return FloatingPointError(
        f"Training diverged{what} with learning_rate={params.learning_rate}, alpha={params.alpha}. "
        f"The coefficients are no longer usable: lower learning_rate or scale the features "
        f"(e.g. StandardScaler/normalize), then refit."
    )


def check_finite_loss(loss: float, params: SGDParams) -> None:
    """FloatingPointError if an epoch's loss is not finite."""
    if not np.isfinite(loss):
        raise _diverged(f" (loss {loss})", params)


def check_finite_model(
    coef: np.ndarray, intercept: np.ndarray, weight_bound: tuple[float, int], t: int, params: SGDParams
) -> tuple[float, int]:
    """FloatingPointError if the last updates overflowed ``coef`` or ``intercept`` (float32); the new bound.

    The epoch loss is computed before each row's update, so it cannot see an
    overflow in the final updates of a call (e.g. a one-row partial_fit batch).
    An Adagrad step (skxc/_kernels/sgd.py) moves a weight by at most learning_rate,
    and a row updates at most 1 + n_negatives rows of coef (each class once for
    the exact softmax), so ``weight_bound`` = (bound on |weights|, examples seen
    when set) grows by learning_rate (1 + n_negatives) per example; the O(C d)
    scan runs only once that bound nears the float32 range (or alpha or l2 is so
    large that a gradient can overflow). ``t``: examples seen so far.
    """
    bound, t_bound = weight_bound
    bound += params.learning_rate * (t - t_bound) * (1 + params.n_negatives)
    if bound < 1e37 and params.alpha < 1e100 and params.l2 < 1e100:
        return (bound, t)
    largest = 0.0
    for name, a in (("intercept_", intercept), ("coef_", coef)):
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)  # reductions, no C x d temporary
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise _diverged(f": {name} overflowed float32", params)
        largest = max(largest, -lo, hi)
    return (largest, t)


def auto_learning_rate(X, sample_weight) -> float:
    """``learning_rate="auto"``: 1 / sqrt(1 + weighted mean squared row norm of X), in float64.

    Adagrad moves each weight by about the learning rate per step, so a step
    moves a score xi = w @ x + b by about lr * ||(x, 1)||; this makes that about
    1 for an average row (the intercept counts as a feature equal to 1). Rows
    weigh as in the loss, so a zero-weight row counts as a removed one.
    """
    w = np.asarray(sample_weight, dtype=np.float64)
    if sp.issparse(X):
        sq = squared_row_norms(sp.csr_matrix(X))
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
