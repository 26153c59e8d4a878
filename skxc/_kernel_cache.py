"""One source stamp for the on-disk cache of every skxc kernel.

numba's cache (``cache=True`` in ``NJIT``) stores each compiled function with a
stamp of the Python file that defines it and discards the entry when that
stamp changes. A kernel's compiled code also holds the code of the helpers it
calls from other modules (the hashed epoch calls ``sgd.weight_step``, the
epochs call the ``rng`` and ``tree`` helpers), so after an edit of a helper's
module only, the callers elsewhere kept loading the old helper from the cache.

:func:`install` puts cache locators ahead of numba's own (in numba's list of
locator classes) that claim the skxc kernel sources (``skxc/_kernels/*.py``
and ``skxc/_config.py``, the kernels' options). They store the cache where
numba's would (``NUMBA_CACHE_DIR``, the ``__pycache__`` directories next to the
sources, or the per-user cache directory when those are read-only) under the
same file names, and differ in the stamp only: a digest of the contents of all
kernel sources. numba itself then rejects the cached code of every kernel as
soon as any kernel source differs from the one it was compiled from, and loads
it when none does (a content digest, so touching a file or checking out the
same sources again recompiles nothing). Other numba functions keep numba's
locators. numba ignores the list when ``NUMBA_CACHE_LOCATOR_CLASSES`` is set.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys

from numba.core import caching

#: The skxc package directory.
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
#: The directory of the kernel modules.
KERNELS_DIR = os.path.join(PACKAGE_DIR, "_kernels")
#: The kernels' numba options (and dtypes) live here.
CONFIG_FILE = os.path.join(PACKAGE_DIR, "_config.py")


def kernel_sources() -> list[str]:
    """Paths of the sources the compiled kernels depend on: ``_config.py`` and ``_kernels/*.py``."""
    names = sorted(name for name in os.listdir(KERNELS_DIR) if name.endswith(".py") and name[:-3].isidentifier())
    return [CONFIG_FILE] + [os.path.join(KERNELS_DIR, name) for name in names]


def kernel_sources_digest() -> str:
    """SHA-256 of the names and contents of :func:`kernel_sources` (files re-read only when their
    modification time or size changes, as numba does for its own per-file stamp)."""
    stats = []
    for path in kernel_sources():
        st = os.stat(path)
        stats.append((path, st.st_mtime_ns, st.st_size))
    return _digest(tuple(stats))


@functools.lru_cache(maxsize=16)
def _digest(stats) -> str:
    sha = hashlib.sha256()
    for path, _, _ in stats:
        with open(path, "rb") as f:
            content = f.read()
        name = os.path.relpath(path, PACKAGE_DIR).replace(os.sep, "/").encode()
        sha.update(b"%d:%s%d:" % (len(name), name, len(content)))
        sha.update(content)
    return sha.hexdigest()


def _is_kernel_source(py_file: str) -> bool:
    path = os.path.normcase(os.path.abspath(py_file))
    if not path.endswith(".py"):
        return False
    return path == os.path.normcase(CONFIG_FILE) or os.path.dirname(path) == os.path.normcase(KERNELS_DIR)


class _KernelSourcesStamp:
    """Mixin for numba's file-backed cache locators: claims the kernel sources only and stamps
    their cache with :func:`kernel_sources_digest` instead of the defining file's own stamp."""

    _skxc_kernel_stamp = True

    @classmethod
    def from_function(cls, py_func, py_file):
        if not _is_kernel_source(py_file):
            return None
        return super().from_function(py_func, py_file)

    def get_source_stamp(self):
        if not getattr(sys, "frozen", False):  # numba stamps the executable then
            try:
                return ("skxc kernel sources", kernel_sources_digest())
            except OSError:  # a source unreadable: numba's stamp of the defining file, as without skxc's locators
                pass
        return super().get_source_stamp()


def _wrapped_locators(locator_classes, mixin):
    """Kernel-source variants of numba's locators stamped by their source file (numba's
    ``NUMBA_CACHE_DIR``, in-tree ``__pycache__`` and per-user ones), in numba's order of preference."""
    wrapped = []
    for cls in locator_classes:
        if getattr(cls, "_skxc_kernel_stamp", False) or not issubclass(cls, mixin):
            continue
        if cls.get_source_stamp is not mixin.get_source_stamp:  # e.g. zip archives: not a plain file
            continue
        name = "SkxcKernel" + cls.__name__.lstrip("_")
        wrapped.append(type(name, (_KernelSourcesStamp, cls), {"__module__": __name__}))
    return wrapped


def install() -> bool:
    """Puts the kernel-source locators first in numba's list of cache locators; calling it again (a
    reloaded skxc) replaces those installed before. Returns False, and changes nothing, if this numba lacks
    the list or the file-backed locators' mixin under the names known here (the tests check that every
    kernel gets the stamp)."""
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)  # _CacheImpl in old numbas
    classes = getattr(impl, "_locator_classes", None)
    mixin = getattr(caching, "_SourceFileBackedLocatorMixin", None)
    if not isinstance(classes, list) or mixin is None:
        return False
    numba_own = [cls for cls in classes if not getattr(cls, "_skxc_kernel_stamp", False)]
    classes[:] = _wrapped_locators(numba_own, mixin) + numba_own
    return True
