"""Kernel of the tree's projection of sparse rows (``skxc._tree.AuxiliaryTree``)."""

import numpy as np
from numba import njit

from .._config import NJIT_EXACT


# no fast-math: each sum keeps the order and the products of scipy's product of CSR rows with a dense matrix
# (``csr_matvecs``: a row's stored entries in order, from 0, in float64), then NumPy's float64 centring and scaling
# and the cast to float32, bit for bit (tests/test_projection_kernel.py)
@njit(**NJIT_EXACT)
def project_rows(indptr, indices, data, column, components, shift, scale, start, stop, acc, out):
    """out[i] = float32((sum_p data[p] * components[column[indices[p]]] - shift) * scale) for the CSR rows
    ``start <= i < stop``: the sum over row i's stored entries p in their stored order, from 0, in float64,
    leaving out entries whose ``column`` is negative (no component); an empty ``column`` is the identity.

    indptr int64 (n + 1,); indices int32 and data float64 (nnz,); column int32 (n_features,) or (0,);
    components float64 (n_columns, k), C-contiguous; shift float64 (k,); scale float64; acc float64 (k,)
    scratch; out float32 (n, k), rows ``start:stop`` written.
    """
    k = components.shape[1]
    mapped = column.shape[0] > 0
    for i in range(start, stop):
        for a in range(k):
            acc[a] = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if mapped:
                j = column[j]
                if j < 0:
                    continue
            v = data[p]
            for a in range(k):
                acc[a] += v * components[j, a]
        for a in range(k):
            out[i, a] = np.float32((acc[a] - shift[a]) * scale)
    return np.int64(0)
