"""Is data-parallel training with periodic averaging worth building? A measurement, not a trainer.

Compares, epoch by epoch, on the same frozen tree (so the two arms share the
noise model and the averaged scores stay bias-corrected alike):

- ``hogwild``: one model, ``partial_fit`` over all training rows with ``n_jobs=2``
  (lock-free Hogwild threads on one copy of the weights);
- ``averaged``: two models, each ``partial_fit`` over its half of the rows with
  ``n_jobs=1`` (what two worker processes would run side by side), then
  ``coef_`` and ``intercept_`` averaged and copied back to both (each keeps its own
  Adagrad sums), once per epoch, as Vowpal Wabbit's AllReduce averages.

The two halves run one after the other here; a worker pair would take the
longer of the two. The script prints each arm's held-out top-1 accuracy and
seconds per epoch. Both arms use dense weights (``weights="dense"``, as when
docs/scaling.rst's figures were measured; ``"auto"`` would store ptb-nextword's
sparse, and averaging CSR ``coef_`` in place rebuilds its structure). Memory:
two models (2 x 1.2 GB on ptb-nextword).

Usage::

    python -m benchmarks.data_parallel /work/shared/data/ptb-nextword --epochs 3

Writes ``data_parallel[_NAME].json`` to ``--out`` (a directory, default
``benchmarks/results``; a path ending in ``.json`` is taken as the file itself).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.frozen import FrozenEstimator

from benchmarks._common import check_data_dirs, json_output, load_split, peak_rss_mb, positive_int
from skxc import AdversarialSoftmaxClassifier, AuxiliaryTree


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--epochs", type=positive_int, default=3)
    parser.add_argument("--test-rows", type=positive_int, default=20_000)
    parser.add_argument(
        "--out",
        default=str(Path(__file__).parent / "results"),
        help="output directory (default benchmarks/results), or a .json file",
    )
    parser.add_argument(
        "--name", default=None, help="output file data_parallel_<NAME>.json (default data_parallel.json)"
    )
    args = parser.parse_args(argv)
    path = json_output(parser, args.out, "data_parallel", args.name)
    check_data_dirs(parser, [args.data])
    X, y = load_split(args.data, "train")
    Xt, yt = load_split(args.data, "test")
    Xt, yt = Xt[: args.test_rows], yt[: args.test_rows]
    classes = np.unique(np.concatenate([y, yt]))
    t0 = time.perf_counter()
    tree = AuxiliaryTree(random_state=0).fit(X, y, classes=classes)
    out = {"data": args.data, "rows": X.shape[0], "classes": len(classes), "tree_seconds": time.perf_counter() - t0}
    out["weights"] = "dense"
    noise = FrozenEstimator(tree)
    half = X.shape[0] // 2
    perm = np.random.default_rng(0).permutation(X.shape[0])
    parts = [(X[np.sort(perm[:half])], y[np.sort(perm[:half])]), (X[np.sort(perm[half:])], y[np.sort(perm[half:])])]

    def top1(clf):
        return float(np.mean(clf.predict(Xt) == yt))

    # arm 1: Hogwild, 2 threads, one model
    hog = AdversarialSoftmaxClassifier(noise=noise, weights="dense", random_state=0, n_jobs=2)
    out["hogwild"] = []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        hog.partial_fit(X, y, classes=classes)
        out["hogwild"].append({"seconds": time.perf_counter() - t0, "top1": top1(hog)})
        print("hogwild", out["hogwild"][-1], flush=True)
    del hog
    # arm 2: two models on halves, averaged after each epoch
    models = [
        AdversarialSoftmaxClassifier(noise=noise, weights="dense", random_state=seed, n_jobs=1) for seed in (1, 2)
    ]
    out["averaged"] = []
    for _ in range(args.epochs):
        seconds = []
        for model, (Xp, yp) in zip(models, parts, strict=True):
            t0 = time.perf_counter()
            model.partial_fit(Xp, yp, classes=classes)
            seconds.append(time.perf_counter() - t0)
        a, b = models
        a.coef_ += b.coef_
        a.coef_ *= 0.5
        a.intercept_ += b.intercept_
        a.intercept_ *= 0.5
        b.coef_[...] = a.coef_
        b.intercept_[...] = a.intercept_
        out["averaged"].append({"seconds_per_worker": seconds, "seconds": max(seconds), "top1": top1(a)})
        print("averaged", out["averaged"][-1], flush=True)
    out["peak_rss_mb"] = peak_rss_mb()
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
