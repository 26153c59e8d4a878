"""Scaling out on Dask: the figures of docs/scaling.rst.

Sections (``--only`` picks some):

- ``grid``: a 4-setting x 3-fold GridSearchCV (12 fits + refit) run locally (n_jobs=1),
  and under joblib's dask backend on a LocalCluster of 1 and of 2 worker processes
  (1 thread each): wall time.
- ``frozen``: the same grid locally with ``noise="adversarial"`` (a tree per fit)
  and with ``noise=FrozenEstimator(tree)`` (one tree fitted beforehand): wall time saved.
- ``first_task``: a fresh worker's first task (import skxc, then a small fit and
  predict): with an empty numba cache (compilation) and with a warm one (cache load),
  against the same task run again on the same worker.
- ``token``: the time to tokenize a model with a dense ``coef_`` of about 180 MB (skxc's
  ``__dask_tokenize__``, dask-ml's estimator normaliser, dask's pickle fallback;
  ``weights="dense"``: ``"auto"`` would store these weights sparse).
- ``incremental``: dask-ml ``Incremental`` over generated sparse data (blocks built on
  the workers, never in the client) larger than one worker's memory limit: wall
  time, accuracy on a held-out block, peak RSS per worker.

Usage::

    python -m benchmarks.scaling                   # all sections, JSON in benchmarks/results/
    python -m benchmarks.scaling --only grid frozen

Writes ``scaling[_NAME].json`` to ``--out`` (a directory, default ``benchmarks/results``;
a path ending in ``.json`` is taken as the file itself), keeping the sections of an
earlier run that this one does not repeat.

Requires the ``dask`` extra: ``pip install -e ".[dask]"``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._common import check_data_dirs, json_output

RESULTS = Path(__file__).parent / "results"
GRID = {"alpha": [1e-3, 1e-2], "n_negatives": [1, 2]}


def _cluster(n_workers, memory_limit="1GiB", env=None):
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        memory_limit=memory_limit,
        silence_logs=logging.ERROR,
        env=env or {},
    )
    return cluster, Client(cluster)


def _grid_data():
    from skxc.datasets import make_hierarchical_classification

    X, y = make_hierarchical_classification(n_samples=100_000, n_features=64, n_classes=1024, random_state=0)
    return X.astype(np.float32), y


def _clf(**params):
    from skxc import AdversarialSoftmaxClassifier

    return AdversarialSoftmaxClassifier(**{"random_state": 0, "n_jobs": 1, "max_iter": 3, **params})


def _timed_grid(estimator, X, y, n_jobs=1):
    from sklearn.model_selection import GridSearchCV

    t0 = time.perf_counter()
    search = GridSearchCV(estimator, GRID, cv=3, n_jobs=n_jobs).fit(X, y)
    return time.perf_counter() - t0, search


def bench_grid() -> dict:
    import joblib

    X, y = _grid_data()
    _clf(max_iter=1).fit(X[:2000], y[:2000])  # compile in this process first
    out = {"data": f"make_hierarchical_classification {X.shape}, {len(np.unique(y))} classes", "grid": str(GRID)}
    seconds, search = _timed_grid(_clf(), X, y)
    out["local_n_jobs_1_seconds"] = seconds
    out["best_params"] = search.best_params_
    out["best_score"] = float(search.best_score_)
    clusters = {n: _cluster(n) for n in (1, 2)}
    try:
        for n, (_, client) in clusters.items():
            client.run(lambda: _clf(max_iter=1).fit(X[:2000], y[:2000]) and None)  # warm the workers (numba cache)
            out[f"dask_{n}_workers_seconds"] = []
        for _ in range(2):  # interleaved, so that load from other jobs hits both alike
            for n, (_, client) in clusters.items():
                with joblib.parallel_backend("dask", client=client):
                    seconds, remote = _timed_grid(_clf(), X, y, n_jobs=-1)
                assert remote.best_params_ == search.best_params_
                out[f"dask_{n}_workers_seconds"].append(seconds)
    finally:
        for cluster, client in clusters.values():
            client.close()
            cluster.close()
    return out


def bench_frozen(data_dir=None) -> dict:
    from sklearn.frozen import FrozenEstimator

    from skxc import AuxiliaryTree

    if data_dir is None:
        X, y = _grid_data()
        params = {}
    else:  # e.g. ptb-nextword: one epoch per fit, where the tree fit is a large part of a fit
        from benchmarks._common import load_split

        X, y = load_split(data_dir, "train")
        params = {"max_iter": 1}
    _clf(max_iter=1).fit(X[:2000], y[:2000])
    unfrozen, search = _timed_grid(_clf(**params), X, y)
    t0 = time.perf_counter()
    tree = AuxiliaryTree(random_state=0).fit(X, y)
    tree_seconds = time.perf_counter() - t0
    frozen, fsearch = _timed_grid(_clf(noise=FrozenEstimator(tree), **params), X, y)
    return {
        "data": str(data_dir or f"make_hierarchical_classification {X.shape}, {len(np.unique(y))} classes"),
        "params": params,
        "unfrozen_grid_seconds": unfrozen,
        "tree_fit_seconds": tree_seconds,
        "frozen_grid_seconds": frozen,
        "frozen_total_seconds": frozen + tree_seconds,
        "saved_seconds": unfrozen - frozen - tree_seconds,
        "refit_tree_fit_seconds_unfrozen": float(search.best_estimator_.tree_fit_seconds_),
        "best_score_unfrozen": float(search.best_score_),
        "best_score_frozen": float(fsearch.best_score_),
    }


def _first_task():
    t0 = time.perf_counter()
    from skxc import AdversarialSoftmaxClassifier
    from skxc.datasets import make_hierarchical_classification

    t1 = time.perf_counter()
    X, y = make_hierarchical_classification(n_samples=2000, n_classes=64, random_state=0)
    clf = AdversarialSoftmaxClassifier(random_state=0, n_jobs=1, max_iter=1).fit(X, y)
    clf.predict_top_k(X, k=5)
    return {"import_seconds": t1 - t0, "fit_predict_seconds": time.perf_counter() - t1}


def bench_first_task() -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        for label in ("cold_cache", "warm_cache"):
            cluster, client = _cluster(1, env={"NUMBA_CACHE_DIR": cache})
            try:
                first = client.submit(_first_task, pure=False).result()
                second = client.submit(_first_task, pure=False).result()
            finally:
                client.close()
                cluster.close()
            out[label] = {"first": first, "second": second}
    return out


def _sparse_block(seed, n_rows, n_features, n_classes, nnz):
    """CSR rows of ``nnz`` features: ``nnz // 8`` from the class's 32 signature features, the rest uniform noise."""
    import scipy.sparse as sp

    sig = np.random.default_rng(12345).integers(0, n_features, size=(n_classes, 32))
    rng = np.random.default_rng(seed)
    y = np.minimum(rng.zipf(1.3, n_rows) - 1, n_classes - 1)
    half = nnz // 8
    cols = np.concatenate(
        [
            sig[y][np.arange(n_rows)[:, None], rng.integers(0, 32, (n_rows, half))],
            rng.integers(0, n_features, (n_rows, nnz - half)),
        ],
        axis=1,
    )
    X = sp.csr_matrix(
        (np.ones(n_rows * nnz, dtype=np.float32) / np.sqrt(nnz), cols.ravel(), np.arange(0, n_rows * nnz + 1, nnz)),
        shape=(n_rows, n_features),
    )
    X.sum_duplicates()
    return X, y


def _worker_peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_incremental(
    n_blocks=80, rows=100_000, n_features=2**15, n_classes=1000, nnz=40, memory_limit="900MiB"
) -> dict:
    import dask
    import dask.array as da
    import scipy.sparse as sp
    from dask_ml.wrappers import Incremental

    sample, _ = _sparse_block(0, rows, n_features, n_classes, nnz)
    block_bytes = sample.data.nbytes + sample.indices.nbytes + sample.indptr.nbytes  # CSR bytes of one block
    del sample
    meta = sp.csr_matrix((0, n_features), dtype=np.float32)
    make = dask.delayed(_sparse_block, nout=2, pure=True)
    parts = [make(seed, rows, n_features, n_classes, nnz) for seed in range(n_blocks)]
    dX = da.concatenate([da.from_delayed(p[0], shape=(rows, n_features), dtype=np.float32, meta=meta) for p in parts])
    dy = da.concatenate([da.from_delayed(p[1], shape=(rows,), dtype=np.int64) for p in parts])
    classes = np.arange(n_classes)
    cluster, client = _cluster(2, memory_limit=memory_limit)
    try:
        client.run(lambda: _sparse_block(0, 100, n_features, n_classes, nnz) and None)
        baseline = client.run(_worker_peak_mb)
        inc = Incremental(_clf(max_iter=1, noise="adversarial"), shuffle_blocks=False)
        t0 = time.perf_counter()
        inc.fit(dX, dy, classes=classes)
        seconds = time.perf_counter() - t0
        peaks = client.run(_worker_peak_mb)
    finally:
        client.close()
        cluster.close()
    Xt, yt = _sparse_block(10_000, 20_000, n_features, n_classes, nnz)
    est = inc.estimator_
    return {
        "rows": n_blocks * rows,
        "n_features": n_features,
        "n_classes": n_classes,
        "nnz_per_row": nnz,
        "data_gb": n_blocks * block_bytes / 1e9,
        "block_mb": block_bytes / 1e6,
        "coef_mb": est.coef_.nbytes / 1e6,
        "worker_memory_limit": memory_limit,
        "seconds": seconds,
        "rows_per_second": n_blocks * rows / seconds,
        "test_top1": float(est.score(Xt, yt)),
        "worker_peak_rss_mb": sorted(peaks.values()),
        "worker_rss_before_mb": sorted(baseline.values()),
    }


def bench_token(n_features=100_000, n_classes=1000) -> dict:
    """Time to tokenize a fitted model (dense coef_, about 180 MB): skxc's token, dask-ml's, dask's pickle fallback."""
    from dask.base import tokenize
    from dask.tokenize import _normalize_pickle
    from dask_ml.model_selection._normalize import normalize_estimator

    X, y = _sparse_block(0, 5000, n_features, n_classes, 40)
    # dense weights: the section measures the token of a large dense coef_ (sparse weights from 128 MiB)
    clf = _clf(max_iter=1, noise="uniform", weights="dense").fit(X, y)
    out = {"coef_mb": clf.coef_.nbytes / 1e6, "weights": "dense"}
    for name, fn in (
        ("skxc_seconds", lambda: tokenize(clf)),
        ("dask_ml_normalize_estimator_seconds", lambda: tokenize(normalize_estimator(clf))),
        ("dask_pickle_fallback_seconds", lambda: _normalize_pickle(clf)),
    ):
        fn()
        t0 = time.perf_counter()
        for _ in range(3):
            fn()
        out[name] = (time.perf_counter() - t0) / 3
    return out


SECTIONS = {
    "grid": bench_grid,
    "frozen": bench_frozen,
    "first_task": bench_first_task,
    "incremental": bench_incremental,
    "token": bench_token,
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(SECTIONS), default=list(SECTIONS))
    parser.add_argument(
        "--out", default=str(RESULTS), help="output directory (default benchmarks/results), or a .json file"
    )
    parser.add_argument("--name", default=None, help="output file scaling_<NAME>.json (default scaling.json)")
    parser.add_argument("--frozen-data", help="also run the frozen section on this data set (e.g. ptb-nextword)")
    args = parser.parse_args(argv)
    path = json_output(parser, args.out, "scaling", args.name)
    if args.frozen_data:
        check_data_dirs(parser, [args.frozen_data])
    try:
        results = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError) as exc:
        parser.error(f"--out {args.out}: cannot read the earlier results in {path}: {exc}")
    runs = [(name, SECTIONS[name], ()) for name in args.only]
    if args.frozen_data:
        runs.append((f"frozen_{Path(args.frozen_data).name}", bench_frozen, (args.frozen_data,)))
    for name, fn, fn_args in runs:
        t0 = time.perf_counter()
        results[name] = fn(*fn_args)
        results[name]["load_average"] = os.getloadavg()
        print(
            f"{name} ({time.perf_counter() - t0:.0f} s): {json.dumps(results[name], indent=1, default=str)}", flush=True
        )
        path.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
