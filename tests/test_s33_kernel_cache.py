"""numba's on-disk cache of the kernels follows every kernel source (stop 33 audit).

numba stamped a cached function with its own source file only: after an edit of
``sgd.weight_step`` alone, the hashed (sparse-weights) epoch, defined in ``hashed.py``, kept loading
the old helper from the cache (the dense epoch, in ``sgd.py``, took the edit). ``skxc._kernel_cache``
stamps every kernel with a digest of all kernel sources. The tests edit a copy of the package and run
it in fresh interpreters with a cache of their own.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import pkgutil
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import pytest
from numba.core.dispatcher import Dispatcher

import skxc
from skxc import _kernel_cache
from skxc._config import NJIT

PACKAGE = Path(skxc.__file__).resolve().parent

pytestmark = pytest.mark.skipif(
    numba.config.DISABLE_JIT or not NJIT["cache"], reason="no on-disk cache without the JIT or with it off"
)


def _skxc_dispatchers():
    """Every numba dispatcher skxc defines, from every importable skxc module."""
    modules = [skxc]
    for info in pkgutil.walk_packages(skxc.__path__, "skxc."):
        try:
            modules.append(importlib.import_module(info.name))
        except ImportError:  # an optional dependency (dask)
            continue
    found = {}
    for module in modules:
        for obj in vars(module).values():
            if isinstance(obj, Dispatcher) and obj.py_func.__module__.startswith("skxc."):
                found[obj.py_func.__module__ + "." + obj.py_func.__qualname__] = obj
    return found


def test_every_cached_kernel_is_stamped_with_all_kernel_sources():
    dispatchers = _skxc_dispatchers()
    assert len(dispatchers) > 50
    stamp = ("skxc kernel sources", _kernel_cache.kernel_sources_digest())
    for name, dispatcher in dispatchers.items():
        assert _kernel_cache._is_kernel_source(inspect.getfile(dispatcher.py_func)), name  # not outside _kernels
        assert isinstance(dispatcher._cache._impl.locator, _kernel_cache._KernelSourcesStamp), name
        assert dispatcher._cache._cache_file._source_stamp == stamp, name


def test_kernel_sources_are_config_and_kernels():
    names = {os.path.relpath(p, PACKAGE).replace(os.sep, "/") for p in _kernel_cache.kernel_sources()}
    assert names == {"_config.py"} | {f"_kernels/{p.name}" for p in (PACKAGE / "_kernels").glob("*.py")}


@pytest.mark.parametrize("path", sorted((PACKAGE / "_kernels").glob("*.py")), ids=lambda p: p.name)
def test_kernels_import_only_kernel_sources(path):
    """The digest covers what the compiled code depends on: kernels import from skxc only ``_config`` and
    their own package (a constant from another skxc module would be frozen into the cache unstamped)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level >= 2:
            assert node.level == 2 and node.module == "_config", ast.unparse(node)
        if isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and node.level == 0):
            modules = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            assert not any(m.split(".")[0] == "skxc" for m in modules), ast.unparse(node)


# -- an edited copy of the package, in fresh interpreters ---------------------------------------------------

_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from numba.core import event
    from numba.core.dispatcher import Dispatcher
    import skxc

    compiled = []

    class Count(event.Listener):
        def on_start(self, e):
            pass

        def on_end(self, e):
            compiled.append(e.data["dispatcher"].py_func.__qualname__)

    event.register("numba:compile", Count())
    if sys.argv[1] == "sample":  # tree.sample_classes draws its uniforms with rng.next_double
        from skxc._kernels.tree import sample_classes

        out_class = np.empty((5, 8), dtype=np.int64)
        z, w = np.zeros((5, 2), dtype=np.float32), np.zeros((3, 2), dtype=np.float32)
        state = np.array([12345], dtype=np.uint64)
        leaf_class = np.arange(4, dtype=np.int32)
        sample_classes(z, 8, w, np.zeros(3, np.float32), leaf_class, state, out_class, np.empty((5, 8)))
        result = sorted(set(out_class.ravel().tolist()))
    else:  # the two training epochs: sgd.negative_sampling_epoch and hashed's, both call sgd.weight_step
        import scipy.sparse as sp
        from skxc import AdversarialSoftmaxClassifier as A

        X = sp.random(60, 8, density=0.5, format="csr", random_state=0, dtype=np.float32)
        y = np.arange(60) % 6
        kw = dict(noise="uniform", random_state=0, max_iter=1, centroid_blend=0, init="zeros", n_jobs=1)
        dense = A(weights="dense", **kw).fit(X, y)
        hashed = A(weights="sparse", weight_threshold=0, **kw).fit(X, y)
        result = [float(np.abs(dense.coef_).sum()), float(abs(hashed.coef_).sum())]
    misses = hits = 0
    for name, module in list(sys.modules.items()):
        if name.startswith("skxc."):
            for obj in vars(module).values():
                if isinstance(obj, Dispatcher):
                    misses += sum(obj.stats.cache_misses.values())
                    hits += sum(obj.stats.cache_hits.values())
    print(json.dumps(dict(file=skxc.__file__, result=result, compiled=len(compiled), misses=misses, hits=hits)))
    """
)


def _copy_package(tmp_path):
    shutil.copytree(PACKAGE, tmp_path / "pkg" / "skxc", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "pkg" / "skxc"


def _run(tmp_path, what):
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_DISABLE_JIT", "NUMBA_CACHE_LOCATOR_CLASSES")}
    env.update(
        PYTHONPATH=str(tmp_path / "pkg"),
        NUMBA_CACHE_DIR=str(tmp_path / "cache"),
        SKXC_NUMBA_CACHE="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, what], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(out["file"]).resolve().parent == (tmp_path / "pkg" / "skxc").resolve()  # the copy, not this tree
    return out


def _return_early(path, func, value):
    """Edit ``path``: ``func`` returns ``value`` before its first statement (after its docstring)."""
    source = path.read_text()
    node = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef) and n.name == func)
    first = node.body[1] if ast.get_docstring(node) is not None else node.body[0]
    lines = source.splitlines(keepends=True)
    lines.insert(first.lineno - 1, " " * first.col_offset + f"return {value}\n")
    path.write_text("".join(lines))


def test_editing_rng_recompiles_the_tree_sampler(tmp_path):
    """A small kernel: ``tree.sample_classes`` takes an edit of ``rng.next_double`` (uniforms all 0: every
    draw goes right, to the last leaf) from a warm cache; an unchanged tree compiles nothing."""
    package = _copy_package(tmp_path)
    first = _run(tmp_path, "sample")
    assert len(first["result"]) > 1 and first["misses"] > 0
    again = _run(tmp_path, "sample")
    assert again["result"] == first["result"]
    assert again["misses"] == 0 and again["compiled"] == 0 and again["hits"] > 0
    _return_early(package / "_kernels" / "rng.py", "next_double", "0.0")
    edited = _run(tmp_path, "sample")
    assert edited["result"] == [3] and edited["misses"] > 0


@pytest.mark.slow
def test_editing_weight_step_recompiles_both_epochs(tmp_path):
    """The audit's case: ``sgd.weight_step`` edited so that no weight moves; the dense epoch (``sgd.py``) and
    the hashed one (``hashed.py``) both take the edit from a warm cache (the hashed one kept the old step);
    a fresh process with unchanged sources loads every kernel from the cache. Compiles the fit twice."""
    package = _copy_package(tmp_path)
    first = _run(tmp_path, "fit")
    assert first["result"][0] > 0 and first["result"][1] > 0 and first["misses"] > 0
    _return_early(package / "_kernels" / "sgd.py", "weight_step", "row_sum, total")
    edited = _run(tmp_path, "fit")
    assert edited["result"] == [0.0, 0.0] and edited["misses"] > 0
    again = _run(tmp_path, "fit")
    assert again["result"] == [0.0, 0.0]
    assert again["misses"] == 0 and again["compiled"] == 0 and again["hits"] > 0
