"""SGD kernel throughput (positive examples per second) and numba cold-start time.

    python -m benchmarks.throughput ../shared/data/ptb-nextword --epochs 3

Reports, side by side in one run:
- cold start: a small fit + predict in a fresh process with an empty numba
  cache (compilation) and again with the cache warm;
- per-epoch throughput of ``negative_sampling_epoch`` for each noise
  distribution (epoch time only: no validation, no tree fit), with 1 and
  ``--n-jobs`` threads;
- the sampler alone: negatives per second of the tree for growing C.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._common import NOISES, check_data_dirs, check_out_dir, load_split, machine, positive_int, write_json

_SMALL_FIT = (
    "import time; t0 = time.perf_counter(); "
    "from skxc import AdversarialSoftmaxClassifier; "
    "from skxc.datasets import make_hierarchical_classification; "
    "import scipy.sparse as sp; t1 = time.perf_counter(); "
    "X, y = make_hierarchical_classification(n_samples=500, n_classes=20, random_state=0); "
    "c = AdversarialSoftmaxClassifier(max_iter=1, tol=None, random_state=0); "
    "c.fit(X, y).predict_proba(X); c.predict(X); c.fit(sp.csr_matrix(X), y).predict(sp.csr_matrix(X)); "
    "print(t1 - t0, time.perf_counter() - t1)"
)


def cold_start() -> dict:
    """Seconds of a small dense+sparse fit/predict with an empty and with a warm numba cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, SKXC_NUMBA_CACHE="1")
        out = {}
        for label in ("cold", "cached"):
            res = subprocess.run(
                [sys.executable, "-c", _SMALL_FIT], env=env, capture_output=True, text=True, check=True
            )
            imp, fit = map(float, res.stdout.split())
            out[label] = {"import_seconds": imp, "fit_predict_seconds": fit}
    return out


def epoch_throughput(X, y, noise, n_jobs, epochs, seed, n_negatives=1, adagrad="factored") -> dict:
    from skxc import AdversarialSoftmaxClassifier

    clf = AdversarialSoftmaxClassifier(
        noise=noise,
        max_iter=1,
        tol=None,
        random_state=seed,
        n_jobs=n_jobs,
        n_negatives=n_negatives,
        adagrad=adagrad,
        warm_start=True,
    )
    rates = []
    for _ in range(epochs):
        clf.fit(X, y)
        rates.append(X.shape[0] / clf.epoch_seconds_[-1])
    return {
        "noise": noise,
        "n_jobs": n_jobs,
        "n_negatives": n_negatives,
        "adagrad": adagrad,
        "examples_per_second": rates,
        "tree_fit_seconds": clf.tree_fit_seconds_,
    }


def sampler_rate(n_classes_list, n_rows=20_000, k=16, draws=20, seed=0) -> list:
    """Negatives per second of ancestral sampling from a fitted tree (one core)."""
    from skxc._kernels.rng import seed_states
    from skxc._kernels.tree import sample_classes
    from skxc._tree_fit import fit_tree

    rng = np.random.default_rng(seed)
    out = []
    for C in n_classes_list:
        Z = rng.normal(size=(max(n_rows, 2 * C), k)).astype(np.float32)
        yz = rng.integers(0, C, Z.shape[0]).astype(np.int32)
        W, b, leaf_class, _ = fit_tree(Z, yz, C, max_newton_iter=3, max_split_iter=2)
        Zs = Z[:n_rows]
        cls = np.empty((n_rows, draws), dtype=np.int64)
        lp = np.empty((n_rows, draws), dtype=np.float64)
        state = seed_states(rng, 1)[0]
        sample_classes(Zs[:10], 1, W, b, leaf_class, state, cls[:10, :1], lp[:10, :1])
        t0 = time.perf_counter()
        sample_classes(Zs, draws, W, b, leaf_class, state, cls, lp)
        dt = time.perf_counter() - t0
        out.append(
            {"n_classes": C, "depth": int(np.log2(leaf_class.shape[0])), "negatives_per_second": n_rows * draws / dt}
        )
        print(f"sampler C={C:>7,}: {n_rows * draws / dt:,.0f} negatives/s", flush=True)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data_dir")
    p.add_argument("--epochs", type=positive_int, default=3)
    p.add_argument("--n-jobs", type=positive_int, default=2)
    p.add_argument(
        "--noise",
        nargs="+",
        choices=NOISES,
        default=["uniform", "frequency", "adversarial"],
    )
    p.add_argument("--sampler-classes", type=positive_int, nargs="+", default=[1_000, 10_000, 100_000])
    p.add_argument(
        "--n-negatives", type=positive_int, default=1, help="negatives per positive (1: the paper's setting)"
    )
    p.add_argument(
        "--adagrad",
        nargs="+",
        choices=("auto", "factored", "full"),
        default=["factored", "full"],
        help="Adagrad states to measure",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results")
    args = p.parse_args(argv)
    check_data_dirs(p, [args.data_dir])
    check_out_dir(p, args.out)

    record = {"machine": machine(), "args": vars(args)}
    record["cold_start"] = cs = cold_start()
    print(
        f"cold start: small fit+predict {cs['cold']['fit_predict_seconds']:.2f} s with an empty numba cache, "
        f"{cs['cached']['fit_predict_seconds']:.2f} s cached (import {cs['cached']['import_seconds']:.2f} s)"
    )
    X, y = load_split(args.data_dir, "train")
    runs = []
    for adagrad in args.adagrad:
        for noise in args.noise:
            for n_jobs in sorted({1, args.n_jobs}):
                r = epoch_throughput(X, y, noise, n_jobs, args.epochs, args.seed, args.n_negatives, adagrad)
                runs.append(r)
                print(
                    f"{adagrad:<8} {noise:<12} n_jobs={n_jobs}: "
                    + ", ".join(f"{v:,.0f}" for v in r["examples_per_second"])
                    + " positives/s per epoch",
                    flush=True,
                )
    record["epochs"] = runs
    record["sampler"] = sampler_rate(args.sampler_classes, seed=args.seed)
    name = Path(args.data_dir).name
    write_json(Path(args.out) / f"throughput_{name}.json", record)
    print(f"wrote {Path(args.out) / f'throughput_{name}.json'}")


if __name__ == "__main__":
    main()
