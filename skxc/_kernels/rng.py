"""Explicit-state random numbers for kernels (no ``np.random`` inside numba).

The state is a ``uint64`` array of length 1 owned by the caller; every draw
advances it in place. The generator is xorshift64* (Vigna, 2016): tiny,
fast, and good enough for drawing negatives and Bernoulli decisions.
Seeds are derived in Python from ``random_state`` (see ``seed_states``).
"""

import numpy as np
from numba import njit

from .._config import NJIT, NJIT_HELPER

_M = np.uint64(0x2545F4914F6CDD1D)
_S12 = np.uint64(12)
_S25 = np.uint64(25)
_S27 = np.uint64(27)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53


@njit(**NJIT_HELPER)
def next_uint64(state):
    """Advance ``state`` (uint64[1], in place) and return a uint64."""
    x = state[0]
    x ^= x >> _S12
    x ^= x << _S25
    x ^= x >> _S27
    state[0] = x
    return x * _M


@njit(**NJIT_HELPER)
def next_double(state):
    """Uniform float64 in [0, 1) with 53 random bits; advances ``state``."""
    return np.float64(next_uint64(state) >> _S11) * _INV53


@njit(**NJIT)
def next_below(state, n):
    """Uniform integer in [0, n) (n >= 1); advances ``state``."""
    return np.int64(next_double(state) * n)


def seed_states(rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw ``n`` independent non-zero xorshift states from a NumPy Generator.

    Returns a uint64 array of shape (n, 1): row ``t`` is the state of thread ``t``. The rows lie a
    cache line apart, so that threads advancing their own states do not write to a shared line.
    """
    states = rng.integers(1, np.iinfo(np.uint64).max, size=(n, 1), dtype=np.uint64, endpoint=True)
    return per_line(states)


def per_line(values: np.ndarray) -> np.ndarray:
    """A copy of the (n, 1) array ``values`` whose rows are 64 bytes (a cache line) apart: each row, a
    thread's own counter or state (a one-element array to the kernels), is written without making the
    other threads' rows travel between cores."""
    padded = np.zeros((values.shape[0], max(1, 64 // values.itemsize)), dtype=values.dtype)
    padded[:, :1] = values
    return padded[:, :1]
