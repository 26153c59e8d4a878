"""Kernels for prediction: sparse scores over all classes.

``coef_flat`` is the flat buffer of coef_ with element (c, j) at
``c * stride_c + j * stride_j`` (see ``skxc/_kernels/sgd.py``). With a
feature-major model (``stride_c == 1``) each non-zero of a row adds one
contiguous, vectorised row of the weights to the scores.
"""

import numpy as np
from numba import njit

from .._config import NJIT


@njit(**NJIT)
def add_csr_scores(indptr, indices, data, row_start, row_stop, coef_flat, stride_c, stride_j, out_inout):
    """out_inout[r - row_start, c] += sum_p data[p] * coef[c, indices[p]] for rows in [row_start, row_stop).

    indptr int64 (n+1,), indices int32, data float32; out_inout float64
    (row_stop - row_start, n_classes), incremented in place.
    """
    n_classes = out_inout.shape[1]
    for r in range(row_start, row_stop):
        o = out_inout[r - row_start]
        for p in range(indptr[r], indptr[r + 1]):
            v = np.float64(data[p])
            base = np.int64(indices[p]) * stride_j
            if stride_c == 1:
                for c in range(n_classes):
                    o[c] += v * coef_flat[base + c]
            else:
                for c in range(n_classes):
                    o[c] += v * coef_flat[base + c * stride_c]
