"""The one place for dtypes and numba options used by the kernels.

Kernels import their ``@njit`` options from here so that every kernel is
compiled with the same flags (STUMPY style: never hard-code options per kernel).
Importing this module also pauses Python's garbage collector while numba
compiles a kernel (:class:`CollectorPause`), installs numba's typing
declarations ahead of its implementations (:func:`_typing_declarations_first`)
and stamps the kernels' on-disk cache with a digest of all kernel sources
(:mod:`skxc._kernel_cache`), so that editing any of them recompiles every kernel.
"""

import gc
import os

import numpy as np
from numba.core import event
from numba.core.registry import cpu_target

from . import _kernel_cache

#: dtype of the model parameters, the Adagrad state, projected tree features.
FLOAT = np.float32
#: dtype of CSR column indices handed to kernels.
INDEX = np.int32
#: dtype of CSR row pointers handed to kernels (int64 so nnz may exceed 2**31).
INDPTR = np.int64

#: Fast-math flags: allow contraction/reassociation (vectorised reductions) but
#: keep NaN/inf semantics, so an overflow is detected rather than optimised away.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

#: Options for every serial kernel. ``nogil`` lets Python threads run kernels
#: concurrently (Hogwild training, parallel prediction); ``cache`` keeps the
#: compiled code on disk so a second process starts quickly (stamped with all
#: kernel sources, see :mod:`skxc._kernel_cache`). Kernels are called
#: from Python only, so numba's C-callable (cfunc) wrapper is not built: one
#: function less to lower, optimise and emit per kernel on a cold cache.
NJIT = dict(
    nogil=True,
    cache=os.environ.get("SKXC_NUMBA_CACHE", "1") != "0",
    fastmath=FASTMATH,
    error_model="numpy",
    no_cfunc_wrapper=True,
)

#: Options for the kernels that allocate nothing (their scratch comes from the caller): ``NJIT``
#: without numba's reference counting (NRT). With it, each array view (``Z[r]``) and each array
#: handed to a helper that is not inlined costs an atomic increment and decrement of the array's
#: counter, several per weight row of a training step: they stall the loop (each one waits for the
#: core's pending writes) and, since Hogwild threads share the model's arrays and so their counters,
#: pass those counters' cache lines from core to core. Such a kernel cannot allocate or return an
#: array (numba refuses to compile it); the arrays it is given live in the caller throughout the call.
NJIT_NO_NRT = dict(NJIT, _nrt=False)

#: Options for kernels whose float sums must be those of a NumPy reference bit for bit: ``NJIT_NO_NRT``
#: without fast-math (no reassociation, no fused multiply-add), e.g. ``skxc._kernels.start.pair_dots``.
NJIT_EXACT = dict(NJIT_NO_NRT, fastmath=False)

#: Options for helpers that only other kernels call: those of ``NJIT_NO_NRT``, without
#: the Python entry point either (numba otherwise builds and optimises one for
#: every compiled function), which shortens the first compilation. Calling such a helper
#: from Python raises; with ``NUMBA_DISABLE_JIT=1`` it is plain Python as usual.
#: Helpers neither allocate nor call other NumPy functions that numba implements as
#: overloads (``np.empty``, ``max``): numba compiles an overload once per set of
#: options, so one called under ``NJIT_HELPER`` compiles a second time.
NJIT_HELPER = dict(NJIT_NO_NRT, no_cpython_wrapper=True, no_cfunc_wrapper=True)


class CollectorPause(event.Listener):
    """Keeps Python's cyclic garbage collector off while numba compiles an skxc kernel.

    The compiler allocates hundreds of thousands of objects, so the collector
    would run again and again during a first ``fit``, and each full collection
    walks every object of the process (the modules of scikit-learn, SciPy and
    numba among them) without finding garbage there. The collector is switched
    back on when the outermost compile ends (a kernel's helpers compile inside
    it; numba compiles under a global lock, one function at a time) unless it
    was off already; its next scheduled run collects what the compile left. Nothing compiled
    changes; a user's own numba functions compile as before.
    """

    def __init__(self):
        self.depth = 0  # compiles in progress: the outermost one and its callees
        self.paused = False

    def on_start(self, event):
        if self.depth == 0 and gc.isenabled() and _is_skxc(event.data["dispatcher"]):
            gc.disable()
            self.paused = True
        self.depth += 1

    def on_end(self, event):
        self.depth -= 1
        if self.depth == 0 and self.paused:
            self.paused = False
            gc.enable()


def _is_skxc(dispatcher) -> bool:
    module = getattr(getattr(dispatcher, "py_func", None), "__module__", None)
    return isinstance(module, str) and module.startswith("skxc.")


event.register("numba:compile", CollectorPause())

# Before any kernel is decorated: numba picks a function's cache locator (and so its stamp) then.
_kernel_cache.install()


def _typing_declarations_first():
    """Installs numba's typing declarations now, before the first compile loads its implementations.

    numba tries the typing templates of an operation in the order they were
    registered. A compile with caching on (``cache`` in ``NJIT``) first loads the
    implementation modules (lists, strings, tuples, typed dicts), whose
    ``@overload`` templates for ``getitem`` and ``setitem`` then come before the
    ones for arrays: every array access of every kernel would try and reject
    them first. Installing the declarations here, as a compile with caching off
    does first, puts the array templates ahead. The types inferred, and so the
    compiled code, are the same either way; only the search is shorter.
    """
    cpu_target.typing_context.refresh()


_typing_declarations_first()

#: Byte budget for one block of (rows x classes) float64 scores at prediction.
PREDICT_BLOCK_BYTES = 64 * 2**20

#: Bias given to a tree node when one child holds only padding leaves: the
#: padding side then gets probability exp(-1e4) == 0 in float64.
PADDING_BIAS = 1.0e4
