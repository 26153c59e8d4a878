"""Kernels of the centroid start (``skxc/_start.py``)."""

import numpy as np
from numba import njit

from .._config import NJIT_EXACT


# no fast-math: the sums keep their order and products, the bits of the vectorised NumPy sums the kernel
# replaced (tests/_reference.py, reference_pair_dots), for finite X (fit rejects non-finite X: an inf entry
# times a centroid without that feature gives NaN here and 0 there)
@njit(**NJIT_EXACT)
def pair_dots(x_indptr, x_indices, x_data, mu_indptr, mu_indices, mu_data, local, by_class, m, dense, out):
    """out[q] = x_i . mu_c for each pair q = i * m + j of row i and class c = local[q], for CSR rows x_i and
    CSR centroid rows mu: the pairs in the order ``by_class`` (grouped by class), each class's centroid
    scattered once into ``dense`` (float64, n_features, zero on entry and on return), then each of its
    pairs sums x_i's stored entries times the centroid's value at their features, in x_i's stored order,
    from 0 in float64 (0 where the centroid has no entry).

    x_indptr, x_indices, mu_indptr, mu_indices, local, by_class int64; x_data, mu_data float64; out float64
    (n * m,).
    """
    previous = -1
    for k in range(by_class.shape[0]):
        q = by_class[k]
        c = local[q]
        if c != previous:
            if previous >= 0:
                for p in range(mu_indptr[previous], mu_indptr[previous + 1]):
                    dense[mu_indices[p]] = 0.0
            for p in range(mu_indptr[c], mu_indptr[c + 1]):
                dense[mu_indices[p]] = mu_data[p]
            previous = c
        i = q // m
        total = 0.0
        for p in range(x_indptr[i], x_indptr[i + 1]):
            total += x_data[p] * dense[x_indices[p]]
        out[q] = total
    if previous >= 0:
        for p in range(mu_indptr[previous], mu_indptr[previous + 1]):
            dense[mu_indices[p]] = 0.0
    return np.int64(0)
