"""The one place for thread counts, thread fan-out and seed derivation.

Kernels release the GIL (``nogil``), so Python threads run them concurrently;
numpy and BLAS release it too. Seeds are derived in Python from
``random_state`` (``np.random.SeedSequence`` style, via a NumPy Generator) and
handed to kernels as explicit integer states.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
from joblib import cpu_count, effective_n_jobs
from sklearn.utils import check_random_state
from threadpoolctl import ThreadpoolController

T = TypeVar("T")
R = TypeVar("R")


def n_threads(n_jobs: int | None) -> int:
    """Threads for ``n_jobs``: None means 1 (or the active ``joblib.parallel_config``), -1 all cores, -2 all but one.

    The threads run in this process, so None and negative ``n_jobs`` never mean more than its cores
    (``joblib.cpu_count()``): under joblib's dask backend, ``effective_n_jobs`` counts the whole cluster's
    threads (16 Hogwild threads on a 2-core machine for 2 workers x 4 threads), and a search run on a
    cluster would train otherwise than the same search run locally. A positive ``n_jobs`` is kept as given.
    """
    effective = max(1, int(effective_n_jobs(n_jobs)))
    if effective > 1 and (n_jobs is None or n_jobs < 0):  # cpu_count reads the cgroup files: only when needed
        effective = min(effective, max(1, cpu_count()))
    return effective


#: Each thread that fans work out keeps its pools (one per size) for its later calls: starting threads
#: for every call costs more than small kernels do (a training epoch of a small data set is one call).
_pools = threading.local()


def _forget_pools() -> None:
    """After a fork: the child has none of the parent's pool threads, so it must start its own."""
    global _pools
    _pools = threading.local()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools)


def _pool(n: int, lane: int = 0) -> ThreadPoolExecutor:
    """This thread's pool of ``n`` threads (made on first use; its threads end with the calling thread);
    ``lane``: another pool of the same size, whose tasks do not queue behind those of lane 0."""
    pools = getattr(_pools, "by_size", None)
    if pools is None:
        pools = _pools.by_size = {}
    if (n, lane) not in pools:
        pools[n, lane] = ThreadPoolExecutor(n, thread_name_prefix="skxc")
    return pools[n, lane]


def fan_out(fn: Callable[[T], R], items: Iterable[T], n_threads: int) -> list[R]:
    """``[fn(item) for item in items]``, run on up to ``n_threads`` threads; results in order.

    One thread (or one item) runs serially in the calling thread, with no pool. The pool threads
    are the calling thread's own and are reused by its next calls (a call made on a pool thread
    gets that thread's own pool, so nested calls cannot wait for each other). If an item raises
    (or Ctrl-C arrives while waiting), the items not started are cancelled and the running ones
    finish before the exception propagates.
    """
    items = list(items)
    n = min(int(n_threads), len(items))
    if n <= 1:
        return [fn(item) for item in items]
    stop = StopRequest()
    futures = [_pool(n).submit(_under, stop, fn, item) for item in items]
    try:
        return [future.result() for future in futures]
    except BaseException:
        stop.cancel()  # training running in the items ends at its next piece boundary
        for future in futures:
            future.cancel()
        wait(futures)
        raise


class SharedSetting:
    """A process-wide setting for blocks that may overlap in several threads (fits in joblib's threading
    backend, a dask worker's threads): the first block to enter calls ``apply()``, which sets it and returns
    what ``restore`` needs; the last to leave calls ``restore`` with that; blocks entered in between
    (nested or in other threads) change nothing. Each block saving and restoring on its own restored the
    wrong value when they overlapped (the process's BLAS then stayed on one thread after every fit had
    returned)."""

    def __init__(self, apply: Callable[[], object], restore: Callable[[object], object]):
        self._apply, self._restore = apply, restore
        self._lock = threading.Lock()
        self._users = 0
        self._saved = None

    @contextmanager
    def block(self):
        with self._lock:
            if self._users == 0:
                self._saved = self._apply()
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    saved, self._saved = self._saved, None
                    self._restore(saved)


#: threadpoolctl's view of the loaded BLAS libraries, found once (on first use): finding them costs
#: milliseconds, about as much as a whole training epoch of a small data set.
_blas_controller: ThreadpoolController | None = None


def _limit_blas():
    global _blas_controller
    if _blas_controller is None:
        _blas_controller = ThreadpoolController()
    return _blas_controller.limit(limits=1, user_api="blas")


_ONE_BLAS_THREAD = SharedSetting(_limit_blas, lambda limit: limit.restore_original_limits())


def one_blas_thread():
    """Run the block with BLAS (numpy's and SciPy's OpenBLAS or MKL) on one thread, then restore it.

    The BLAS products inside a fit are small (projections, a few hundred held-out rows), skxc runs its
    own threads around them, and an OpenBLAS thread busy-waits after each call on the core that a
    training thread needs. The limit is process-wide while a block runs (as threadpoolctl's always
    is): blocks that overlap in several threads share it, and the setting found by the first is restored
    when the last ends; a nested block leaves it at one thread (:class:`SharedSetting`).
    """
    return _ONE_BLAS_THREAD.block()


def fan_out_pipelined(first: Callable[[T], R], then: Callable[[T, R], object], items: Iterable[T], n_threads: int):
    """``[then(item, first(item)) for item in items]``, run on up to ``n_threads`` threads; results in order.

    Each item's ``then`` is queued as soon as its ``first`` returns, behind the ``first`` calls not yet
    started: with more items than threads, the threads go on to the next ``first`` and the ``then``
    calls fill the time that the last ``first`` leaves the other threads idle. One thread (or item)
    runs serially in the calling thread. If a call raises (or Ctrl-C arrives while waiting), nothing
    more is queued, the calls not started are cancelled, the running ones finish, and it propagates.
    """
    items = list(items)
    n = min(int(n_threads), len(items))
    if n <= 1:
        return [then(item, first(item)) for item in items]
    pool = _pool(n)
    lock = threading.Lock()
    seconds: list[Future | None] = [None] * len(items)
    stopped = [False]
    stop = StopRequest()

    def run_first(i):
        result = first(items[i])
        with lock:
            if not stopped[0]:
                seconds[i] = pool.submit(_under, stop, then, items[i], result)

    firsts = [pool.submit(_under, stop, run_first, i) for i in range(len(items))]
    try:
        for future in firsts:
            future.result()
        return [future.result() for future in seconds]
    except BaseException:
        stop.cancel()  # training running in the calls ends at its next piece boundary
        with lock:
            stopped[0] = True
        queued = firsts + [future for future in seconds if future is not None]
        for future in queued:
            future.cancel()
        wait(queued)
        raise


def seed_rng(random_state) -> np.random.Generator:
    """The NumPy Generator a fit draws all its randomness from, seeded by ``random_state``."""
    return np.random.default_rng(check_random_state(random_state).randint(2**31))


def child_seed(rng: np.random.Generator) -> int:
    """An integer seed in [0, 2**31) for a sub-estimator (projection, tree), drawn from ``rng``."""
    return int(rng.integers(2**31))


def in_background(fn: Callable[..., R], *args, lane: int = 0) -> Future:
    """Start ``fn(*args)`` on a background thread now (the calling thread's own, reused: tasks of earlier
    calls on the same ``lane`` still running go first); ``.result()`` of the returned future waits for it.
    Training that ``fn`` runs stops at its next piece boundary once :func:`settle` is called on the future."""
    stop = StopRequest()
    future = _pool(1, lane).submit(_under, stop, fn, *args)
    future.skxc_stop = stop
    return future


def settle(futures: list) -> None:
    """Cancel the tasks of ``futures`` (started by :func:`in_background`) not started yet, stop the training
    of the running ones at its next piece boundary, wait for them to end and empty the list (their results,
    or errors, are dropped): nothing keeps running, or holding memory, after the call that started them has
    returned or raised."""
    for future in futures:
        future.cancel()
        stop = getattr(future, "skxc_stop", None)
        if stop is not None:
            stop.cancel()
    wait(futures)
    futures.clear()


class InterruptedBeforeTraining(KeyboardInterrupt):
    """Ctrl-C while training was being set up (Adagrad state, weight table, schedule): no step has run, so the
    caller may restore the estimator as it was before the call (``fit`` does)."""


class StopRequest:
    """Set by :func:`deferred_interrupt` when Ctrl-C (SIGINT) arrives, or by the thread that fanned work out
    (:func:`fan_out`, :func:`fan_out_pipelined`, :func:`settle`) when it stops waiting for it; read at
    piece boundaries."""

    def __init__(self):
        self.requested = False
        #: set with ``requested`` by the thread that stopped waiting for the task (not a Ctrl-C of its own):
        #: the task's result is dropped, so training stops without a TrainingInterruptedWarning
        self.cancelled = False

    def cancel(self) -> None:
        """Stop the task's training at its next piece boundary, quietly (the waiting thread drops its result)."""
        self.cancelled = True
        self.requested = True


#: The StopRequest of the fanned-out task a pool thread runs (:func:`_under`): :func:`deferred_interrupt`
#: yields it there, so that a pilot fitted on a pool thread stops at its next piece boundary when the thread
#: that waits for it is interrupted, rather than running to its end.
_task_stop = threading.local()


def _under(stop: StopRequest, fn: Callable[..., R], *args) -> R:
    """``fn(*args)`` with ``stop`` as this thread's task StopRequest (restored after: pool threads are reused)."""
    previous = getattr(_task_stop, "stop", None)
    _task_stop.stop = stop
    try:
        return fn(*args)
    finally:
        _task_stop.stop = previous


@contextmanager
def deferred_interrupt():
    """Defer Ctrl-C to the next piece boundary of training: yields a :class:`StopRequest`.

    In the main thread, SIGINT sets ``requested`` instead of raising
    KeyboardInterrupt in the middle of a step's bookkeeping; a second SIGINT
    raises KeyboardInterrupt at once. The previous handler is restored on exit.
    In a worker thread (where signal handlers cannot be set) it yields the
    StopRequest of the task that :func:`fan_out`, :func:`fan_out_pipelined` or
    :func:`in_background` runs there, which the waiting thread sets when it
    stops waiting (Ctrl-C there, or :func:`settle`), else one that stays unset;
    when SIGINT is ignored (``signal.SIG_IGN``) it changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield getattr(_task_stop, "stop", None) or StopRequest()  # set when the waiting thread stops waiting
        return
    stop = StopRequest()
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:  # the caller ignores Ctrl-C: so does training
        yield stop
        return

    def handler(signum, frame):
        if stop.requested:  # a second Ctrl-C: stop now
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        stop.requested = True

    signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
