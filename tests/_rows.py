"""Synthetic rows shared by tests."""

import numpy as np
import scipy.sparse as sp


def one_hot_rows(n, n_classes, vocabulary, seed=0):
    """Next-word-like rows: three one-hot context words per row (float32 CSR, ``3 * vocabulary`` columns), each class
    preferring a few context words so that the rows carry signal; ``n // n_classes`` rows per class on average."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    words = (y[:, None] * 13 + rng.integers(0, 40, (n, 3))) % vocabulary + np.arange(3) * vocabulary
    X = sp.csr_matrix(
        (np.ones(3 * n, dtype=np.float32), (np.repeat(np.arange(n), 3), words.ravel())), shape=(n, 3 * vocabulary)
    )
    return X, y
