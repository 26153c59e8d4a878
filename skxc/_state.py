"""The Adagrad state of the linear model, with an explicit kind.

Two layouts exist today; a sparse-weight layout can be added as a third kind
with its own allocation and conversions.

- ``"full"``: one float32 sum of squared gradients per weight, an array of
  coef_'s shape and memory order (the paper's setting).
- ``"factored"``: float64 sums per class R (n_classes), per feature S
  (n_features) and in total T, stored as one vector ``[R, S, T]``; weight
  (c, j) uses R_c S_j / T (Adafactor-style).

Both keep a float32 sum per class intercept. The kernels see plain arrays:
``coef_sums`` (empty for "factored") and ``factor_sums`` (empty for "full").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ._config import FLOAT
from ._memory import zeros
from ._validation import available_memory_bytes, check_model_memory
from ._weights import HashedWeights

KINDS = ("full", "factored")


def writeable(a: np.ndarray) -> np.ndarray:
    """``a``, copied (same memory order) if read-only, e.g. loaded with ``joblib.load(..., mmap_mode="r")``."""
    return a if a.flags.writeable else np.array(a, order="K")


def touched_zeros(shape, order, count):
    """``count`` float32 zero arrays whose pages are all touched (allocated by the OS)."""
    out = []
    for _ in range(count):
        a = zeros(shape, FLOAT, order, populate=True)
        a.fill(0.0)
        out.append(a)
    return out


@dataclass
class AdagradState:
    """Sums of squared gradients of coef_ and intercept_.

    Attributes
    ----------
    kind : {"full", "factored"}
        The layout (see the module docstring).
    coef_sums : ndarray of float32
        "full": shape (n_classes, n_features) in coef_'s memory order;
        "factored": shape (0, 0).
    factor_sums : ndarray of float64
        "factored": shape (n_classes + n_features + 1,), R then S then T;
        "full": shape (0,).
    intercept_sums : ndarray of shape (n_classes,), float32
        Per class intercept.
    """

    kind: str
    coef_sums: np.ndarray
    factor_sums: np.ndarray
    intercept_sums: np.ndarray

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}; got {self.kind!r}.")

    @classmethod
    def zeros(cls, kind: str, n_classes: int, n_features: int, coef_sums: np.ndarray | None = None) -> AdagradState:
        """A fresh state of ``kind``; "full" takes the zeroed ``coef_sums`` array allocated by the caller."""
        intercept_sums = np.zeros(n_classes, dtype=FLOAT)
        if kind == "full":
            if coef_sums is None:
                coef_sums = np.zeros((n_classes, n_features), dtype=FLOAT)
            return cls("full", coef_sums, np.zeros(0, dtype=np.float64), intercept_sums)
        return cls(
            "factored",
            np.zeros((0, 0), dtype=FLOAT),
            np.zeros(n_classes + n_features + 1, dtype=np.float64),
            intercept_sums,
        )

    @classmethod
    def zeros_sparse(cls, kind: str, n_classes: int, n_features: int, n_stored: int = 0) -> AdagradState:
        """A fresh state for sparse weights: "full" holds one float32 sum per stored weight, aligned with
        ``coef_.data`` (``n_stored`` of them); "factored" is the same as for dense weights."""
        if kind == "full":
            return cls("full", np.zeros(n_stored, dtype=FLOAT), np.zeros(0, dtype=np.float64),
                       np.zeros(n_classes, dtype=FLOAT))  # fmt: skip
        return cls.zeros(kind, n_classes, n_features)

    @classmethod
    def from_arrays(cls, acc_coef, acc_factors, acc_intercept) -> AdagradState:
        """The state of a model pickled before this class existed (``_acc_coef``, ``_acc_factors``, ``_acc_intercept``).

        ``acc_factors`` None (a model pickled before the factored state existed) means a full state.
        """
        if acc_factors is None:
            acc_factors = np.zeros(0, dtype=np.float64)
        kind = "factored" if acc_factors.size > 0 else "full"
        return cls(kind, acc_coef, acc_factors, acc_intercept)

    def writeable(self) -> AdagradState:
        """This state, with read-only arrays (e.g. ``joblib.load(..., mmap_mode="r")``) copied so training can update them."""
        return AdagradState(
            self.kind, writeable(self.coef_sums), writeable(self.factor_sums), writeable(self.intercept_sums)
        )

    def converted(self, kind: str, coef: np.ndarray, owner: str) -> AdagradState:
        """This state as ``kind`` for weights ``coef`` (itself if it is of that kind already).

        Full to factored sums the accumulators (exactly); factored to full sets each
        weight's accumulator to the estimate R_c S_j / T, in coef's memory order,
        after checking that it fits in memory (``owner`` names the estimator in the error).
        """
        if kind == self.kind:
            return self
        n_classes, n_features = coef.shape
        if sp.issparse(coef):  # a full state is aligned with coef.data
            coef = sp.csr_matrix(coef)
            rows = np.repeat(np.arange(n_classes), np.diff(coef.indptr))
            if kind == "factored":
                acc = self.coef_sums.astype(np.float64)
                factors = np.empty(n_classes + n_features + 1, dtype=np.float64)
                factors[:n_classes] = np.bincount(rows, weights=acc, minlength=n_classes)
                factors[n_classes:-1] = np.bincount(coef.indices, weights=acc, minlength=n_features)
                factors[-1] = factors[:n_classes].sum()
                return AdagradState("factored", np.zeros((0, 0), dtype=FLOAT), factors, self.intercept_sums)
            row, col, total = self.factor_sums[:n_classes], self.factor_sums[n_classes:-1], self.factor_sums[-1]
            acc = (row[rows] * col[coef.indices] / total).astype(FLOAT) if total > 0 else np.zeros(coef.nnz, FLOAT)
            return AdagradState("full", acc, np.zeros(0, dtype=np.float64), self.intercept_sums)
        if kind == "factored":
            acc = self.coef_sums
            factors = np.empty(n_classes + n_features + 1, dtype=np.float64)
            factors[:n_classes] = acc.sum(axis=1, dtype=np.float64)
            factors[n_classes:-1] = acc.sum(axis=0, dtype=np.float64)
            factors[-1] = factors[:n_classes].sum()
            return AdagradState("factored", np.zeros((0, 0), dtype=FLOAT), factors, self.intercept_sums)
        check_model_memory(n_classes, n_features, owner, full_adagrad=True)
        row, col, total = self.factor_sums[:n_classes], self.factor_sums[n_classes:-1], self.factor_sums[-1]
        acc = np.zeros(coef.shape, dtype=FLOAT, order="F" if coef.flags.f_contiguous else "C")
        if total > 0:
            np.multiply.outer((row / total).astype(FLOAT), col.astype(FLOAT), out=acc)
        return AdagradState("full", acc, np.zeros(0, dtype=np.float64), self.intercept_sums)


class BestEpoch:
    """Copies of the weights, biases and Adagrad state of the epoch with the best validation score.

    ``offer(score, coef, intercept, state)`` after each epoch copies the model
    when ``score`` is the best so far (into buffers allocated once);
    ``restore(coef, intercept, state)`` writes the copy back in place. If a copy
    would not fit in the memory the OS reports as available (with a margin
    of half of it), nothing is kept and ``kept`` is False.
    """

    def __init__(self):
        self.score = -np.inf
        self.epoch = 0
        self.kept = True
        self._arrays = None

    def offer(self, score: float, epoch: int, coef, intercept, state: AdagradState) -> None:
        if not self.kept or not score > self.score:
            return
        if isinstance(coef, HashedWeights):  # its arrays grow: a fresh copy each time
            need = coef.nbytes + intercept.nbytes + state.factor_sums.nbytes
            available = available_memory_bytes()
            if available is not None and need > available / 2:
                self.kept = False
                return
            self._arrays = (coef.copy(), intercept.copy(), state.factor_sums.copy(), state.intercept_sums.copy())
            self.score, self.epoch = score, epoch
            return
        arrays = (coef, intercept, state.coef_sums, state.factor_sums, state.intercept_sums)
        if self._arrays is None:
            need = sum(a.nbytes for a in arrays)
            available = available_memory_bytes()
            if available is not None and need > available / 2:
                self.kept = False
                return
            self._arrays = tuple(np.empty_like(a, order="K") for a in arrays)
        for copy, a in zip(self._arrays, arrays, strict=True):
            np.copyto(copy, a)
        self.score, self.epoch = score, epoch

    def restore(self, coef, intercept, state: AdagradState) -> bool:
        """Write the kept copy back; False (and nothing written) if none was kept."""
        if not self.kept or self._arrays is None:
            return False
        if isinstance(coef, HashedWeights):
            table, *arrays = self._arrays
            coef.assign(table)
            for a, copy in zip((intercept, state.factor_sums, state.intercept_sums), arrays, strict=True):
                np.copyto(a, copy)
            return True
        for a, copy in zip(
            (coef, intercept, state.coef_sums, state.factor_sums, state.intercept_sums), self._arrays, strict=True
        ):
            np.copyto(a, copy)
        return True
