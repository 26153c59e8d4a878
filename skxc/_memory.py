"""Zeroed arrays for the model's large training buffers, on the operating system's small pages.

NumPy asks Linux for transparent huge pages (``madvise(MADV_HUGEPAGE)``) on
every allocation of 4 MiB or more. Where the kernel compacts memory for a huge
page when it is first touched (``/sys/kernel/mm/transparent_hugepage/defrag``
set to ``madvise``, a common default), or where a virtual machine backs its
memory on first touch, the first touch of a fresh huge page is far slower than
that of small pages: on the 2-core machine of ``docs/benchmarks.rst`` ("Stop 50:
small pages for the model's buffers") a fresh process touched 273 MB of
float32 zeros in 1.0-2.3 s with huge pages and in 0.14-0.18 s without. The
weights' buffers are touched once, when they are allocated or in their first
epoch, and then read at random rows; the epochs ran as fast on small pages.

:func:`zeros` gives the dense weights, the full Adagrad sums and the hash
tables of sparse weights (``skxc._state.touched_zeros``,
``skxc._weights.HashedWeights``) a private anonymous memory map advised
``MADV_NOHUGEPAGE`` (zeroed by the operating system, freed with the array; out
of memory, ``numpy.zeros`` and its MemoryError). Where
that advice does not exist (not Linux) or ``SMALL_PAGES`` is False, it is
``numpy.zeros``. Those buffers are written in full as soon as they are made
(filled, or given the start's common term); ``populate=True`` then asks for
all their pages in one call (``POPULATE``) rather than a fault per page on
first touch. Nothing else changes: the same values, the same model.

:func:`small_pages` turns NumPy's huge-page advice off for the rest of a fit's
arrays while it runs (``fit``, ``partial_fit``, ``fit_noise`` and the tree's
``fit``): the class sums, the CSR conversions, the blend and the pilots' scores
are made and written once too. ``text1200b`` fitted in 6.6 s instead of 9.0-10.0
s (two threads; docs/benchmarks.rst, "Stop 59: small pages for the whole fit").
Predictions keep NumPy's setting: gcide-reverse's ``predict_proba`` (4.7 GB of
output) took 21-23 s with NumPy's huge pages and 39-40 s on small ones.

:func:`reused_buffers` keeps the maps of :func:`zeros` (those written in full, ``populate=True``) that a
fit releases (a pilot's hash table or dense weights, a table outgrown) and hands them to its later
:func:`zeros` (``REUSE``), zeroed again, grown or shrunk in place (``mremap``) to the size asked for. Their
pages stay allocated instead of going back to the operating system and coming again on first touch. Where
a virtual machine backs its memory on first touch and takes back what the guest frees, a fresh page cost
this machine 4-10 ms per MB when it had not been touched for a few seconds (docs/benchmarks.rst, "Stop 68:
fresh memory"). A kept map stays resident until it is reused or the fit returns (the memory guard counts
it as available); a request that no kept map covers grows the largest and drops the others, and the pool
is emptied when the last overlapping fit returns.
"""

from __future__ import annotations

import errno
import mmap
import os
import sys
import threading
import weakref
from collections import deque
from contextlib import nullcontext

import numpy as np

from ._parallel import SharedSetting

#: Whether the large buffers of :func:`zeros` ask for small pages (False: ``numpy.zeros``, huge pages).
SMALL_PAGES = True
#: Arrays of at least this many bytes take the memory map (smaller ones come from NumPy's allocator).
LARGE_BYTES = 1 << 24
#: Whether :func:`zeros` with ``populate=True`` allocates the map's pages up front
#: (``madvise(MADV_POPULATE_WRITE)``, Linux 5.14 and later): one call that allocates every page, where a
#: fill's first touches take one page fault each. 273 MB of float32 mapped, populated and filled:
#: 0.12-0.15 s against 0.20-0.28 s with the fill's faults (docs/benchmarks.rst, "Stop 51: pages allocated
#: up front"). False: on first touch.
POPULATE = True
#: Whether :func:`small_pages` turns NumPy's huge-page advice off while a fit runs (False: NumPy's setting stays).
FIT_SMALL_PAGES = True
#: Whether :func:`zeros` reuses the maps that arrays of :func:`zeros` released earlier in the same fit
#: (:func:`reused_buffers`; module docstring). False: every large array is a fresh map.
REUSE = True
#: ``MADV_POPULATE_WRITE`` (Linux's value, 23, where Python's mmap module does not name it), or None.
MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23 if sys.platform.startswith("linux") else None)


try:  # NumPy 2
    from numpy._core.multiarray import _set_madvise_hugepage
except ImportError:  # pragma: no cover - NumPy 1.x
    try:
        from numpy.core.multiarray import _set_madvise_hugepage
    except ImportError:  # a NumPy without the switch: its allocations keep its own advice
        _set_madvise_hugepage = None

#: NumPy's advice off, shared by overlapping fits (the first finds NumPy's setting, the last restores it).
_NO_HUGE_PAGES = SharedSetting(lambda: _set_madvise_hugepage(False), lambda before: _set_madvise_hugepage(before))


def small_pages():
    """Run the block with NumPy's huge-page advice off (``MADV_HUGEPAGE`` on its allocations of 4 MiB or
    more, Linux), then restore NumPy's setting (module docstring). The setting is process-wide while a
    block runs: blocks that overlap in several threads share it, the setting found by the first is
    restored when the last ends, and a nested block changes nothing (``skxc._parallel.SharedSetting``).
    Nothing but the pages changes (the same values, the same model). Without ``SMALL_PAGES`` or
    ``FIT_SMALL_PAGES``, or with a NumPy that has no such switch, the block runs as it is."""
    if not (SMALL_PAGES and FIT_SMALL_PAGES) or _set_madvise_hugepage is None:
        return nullcontext()
    return _NO_HUGE_PAGES.block()


class _Pool:
    """The maps released by arrays of :func:`zeros` while a fit runs (:func:`reused_buffers`), for its later
    :func:`zeros`. Thread-safe: pilots allocate and release side by side.

    An array's map is released from a ``weakref.finalize`` callback, which may run inside a garbage
    collection started by any allocation, also one made while a thread holds the pool's lock: :meth:`give`
    therefore takes no lock (it appends to a deque, which the GIL makes atomic), and the locked methods move
    those maps into the pool first. Only maps of arrays made in the current run of the pool are kept (a
    model fitted earlier and deleted during a fit frees its memory as before). A map is reused only when
    nothing but the pool refers to it: an array made on it by other code (``np.frombuffer(a.base)``, which
    NumPy does not tie to ``a``) keeps it out of the pool, and no map is ever closed while referred to: the
    pool only drops its references."""

    def __init__(self):
        self._lock = threading.Lock()
        self._active = False
        self._session = 0
        self._maps: list[mmap.mmap] = []
        self._released: deque = deque()

    def start(self) -> None:
        with self._lock:
            self._active = True
            self._session += 1
            self._maps = []
            self._released.clear()

    def stop(self) -> None:
        """Stop keeping maps; drop those kept (each is freed with its last reference)."""
        with self._lock:
            self._active = False
            self._maps = []
            self._released.clear()

    def active(self) -> bool:
        return self._active

    def session(self) -> int:
        return self._session

    def _collect(self) -> None:
        """Move the maps given since into the pool (under the lock)."""
        while True:
            try:
                self._maps.append(self._released.popleft())
            except IndexError:
                return

    def nbytes(self) -> int:
        """Bytes of the maps kept (allocated, unused)."""
        with self._lock:
            self._collect()
            return sum(len(buffer) for buffer in self._maps)

    def give(self, buffer: mmap.mmap, session: int) -> None:
        """Called when the array on ``buffer``, made in run ``session`` of the pool, is released: kept while that
        run lasts, else dropped. No lock (class docstring)."""
        if not self._active or session != self._session:
            return
        self._released.append(buffer)
        if not self._active or session != self._session:  # the run ended meanwhile: not kept after all
            try:
                self._released.remove(buffer)
            except ValueError:
                pass

    def take(self, nbytes: int) -> tuple[mmap.mmap, int] | None:
        """A kept map of exactly ``nbytes`` and how many of its leading bytes were in use before (to be zeroed;
        the rest is fresh zero pages), or None. The smallest map of at least ``nbytes`` is shrunk to it; if
        none is that large, the largest is grown and the others dropped (so that the pool never adds to what
        the fit held before). A map that something else still refers to, or that cannot be resized, is
        dropped from the pool instead."""
        with self._lock:
            self._collect()
            while self._maps:
                sizes = [len(b) for b in self._maps]
                fits = [i for i, size in enumerate(sizes) if size >= nbytes]
                i = min(fits, key=sizes.__getitem__) if fits else max(range(len(sizes)), key=sizes.__getitem__)
                buffer = self._maps.pop(i)
                if sys.getrefcount(buffer) > 2:  # this name and the call's argument: anything more is a user
                    continue
                try:
                    buffer.resize(nbytes)  # also at the same size: raises while a buffer of it is exported
                except (BufferError, OSError, ValueError, SystemError):
                    continue
                if not fits:
                    self._maps = []
                return buffer, min(sizes[i], nbytes)
        return None


def _new_pool() -> None:
    """A pool (``_POOL``) and its lifetime (``_REUSING``): from the first of overlapping fits to the last
    (``skxc._parallel.SharedSetting``). Also after a fork: a process forked while a fit ran in another thread
    starts with no fit running, so with a pool of its own."""
    global _POOL, _REUSING
    pool = _POOL = _Pool()
    _REUSING = SharedSetting(pool.start, lambda _: pool.stop())


_new_pool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_pool)


def reused_buffers():
    """Run the block (a fit) with :func:`zeros` reusing the maps its arrays release (``REUSE``; module
    docstring). Overlapping blocks (pilots, fits in several threads) share one pool, emptied when the last
    ends. Nothing but the pages changes: :func:`zeros` still gives zeros."""
    if not REUSE:
        return nullcontext()
    return _REUSING.block()


def pooled_bytes() -> int:
    """Bytes held by :func:`reused_buffers`' pool: allocated by this process, free for its next arrays."""
    return _POOL.nbytes()


def zeros(shape, dtype, order: str = "C", populate: bool = False) -> np.ndarray:
    """A zeroed array of ``shape``, ``dtype`` and memory ``order`` ("C" or "F"), on small pages when it has
    at least ``LARGE_BYTES`` bytes (module docstring). The array owns its memory map: it is freed with the
    array and its views, and copies and pickles are ordinary arrays. ``populate``: the caller writes every
    page at once (a fill): the map's pages are allocated up front (``POPULATE``), if the kernel can."""
    dtype = np.dtype(dtype)
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(n) for n in shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    advice = getattr(mmap, "MADV_NOHUGEPAGE", None)
    if not SMALL_PAGES or advice is None or nbytes < LARGE_BYTES:
        return np.zeros(shape, dtype=dtype, order=order)
    # only buffers written in full are kept and reused: their pages are all there (zeroing a reused map touches
    # every page, which an array written sparsely, e.g. the buffer without a common term, would not)
    kept = _POOL.take(nbytes) if populate and REUSE and _POOL.active() else None
    if kept is not None:
        buffer, used = kept
        np.frombuffer(buffer, dtype=np.uint8, count=used).fill(0)  # the reused part; the rest is fresh zeros
        if used < nbytes:
            _populate(buffer)  # the grown part (pages already there are skipped)
        return _tracked(np.ndarray(shape, dtype=dtype, buffer=buffer, order=order), buffer)
    try:  # private: a forked child's writes stay its own (copy on write), as with NumPy's memory
        buffer = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE)
    except OSError as error:  # out of memory (an address-space limit): NumPy's allocator raises MemoryError
        if error.errno != errno.ENOMEM:
            raise
        return np.zeros(shape, dtype=dtype, order=order)
    try:
        buffer.madvise(advice)
    except OSError:  # a kernel without transparent huge pages: small pages anyway
        pass
    if populate:
        _populate(buffer)  # after the advice, so the pages are small ones
    a = np.ndarray(shape, dtype=dtype, buffer=buffer, order=order)
    return _tracked(a, buffer) if populate else a


def _populate(buffer: mmap.mmap) -> None:
    """Allocate the map's pages now (``POPULATE``), if the kernel can: before Linux 5.14 (EINVAL), or with no
    memory now (ENOMEM), they come on first touch."""
    if POPULATE and MADV_POPULATE_WRITE is not None:
        try:
            buffer.madvise(MADV_POPULATE_WRITE)
        except OSError:
            pass


def _tracked(a: np.ndarray, buffer: mmap.mmap) -> np.ndarray:
    """``a``, whose map goes to the pool when it is released during the same run of it (:func:`reused_buffers`)."""
    pool = _POOL
    if REUSE and pool.active():
        weakref.finalize(a, pool.give, buffer, pool.session()).atexit = False  # at exit: with the process
    return a
