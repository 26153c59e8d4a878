"""Demo: adversarial vs uniform vs frequency negative sampling on generated data.

Run with ``python -m skxc.demo`` (``--help`` for options). It generates a
problem with classes in nested clusters (``skxc.datasets``), trains
``AdversarialSoftmaxClassifier`` with each noise distribution for the same
number of epochs (SGD alone: ``centroid_blend=0``), then the default model
(with the centroid blend), and prints held-out accuracy, log-likelihood and
time.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.model_selection import train_test_split

from . import AdversarialSoftmaxClassifier
from .datasets import make_hierarchical_classification


def _int_at_least(minimum: int, maximum: int | None = None, nonzero: bool = False):
    """An argparse ``type``: an integer in [minimum, maximum] (and not 0 if ``nonzero``); argparse names the flag."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid integer: {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum) or (nonzero and value == 0):
            if nonzero:
                wanted = "a nonzero integer"
            elif maximum is None:
                wanted = f"an integer of at least {minimum}"
            else:
                wanted = f"an integer between {minimum} and {maximum}"
            raise argparse.ArgumentTypeError(f"must be {wanted}; got {value}")
        return value

    return parse


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m skxc.demo", description=__doc__.splitlines()[0])
    # n_samples: a 20 % test split of at least one row
    parser.add_argument("--n-samples", type=_int_at_least(5), default=100_000)
    parser.add_argument("--n-classes", type=_int_at_least(2), default=2000)
    parser.add_argument("--n-features", type=_int_at_least(1), default=64)
    parser.add_argument("--epochs", type=_int_at_least(1), default=5)
    parser.add_argument("--n-jobs", type=_int_at_least(-(2**31), nonzero=True), default=1)
    parser.add_argument("--seed", type=_int_at_least(0, 2**32 - 1), default=0)
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    X, y = make_hierarchical_classification(
        n_samples=args.n_samples, n_features=args.n_features, n_classes=args.n_classes, random_state=args.seed
    )
    X = X.astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=args.seed)
    print(
        f"data: {X_train.shape[0]:,} training / {X_test.shape[0]:,} test rows, {args.n_features} features, "
        f"{len(np.unique(y_train)):,} classes (generated in {time.perf_counter() - t0:.1f} s)"
    )
    # compile the numba kernels once (cached on disk afterwards) so times below are training only
    t0 = time.perf_counter()
    # 1,200 rows: enough for the held-out calibration (init="centroid"), so its kernels compile here too
    X_small, y_small = make_hierarchical_classification(n_samples=1200, n_classes=8, random_state=0)
    AdversarialSoftmaxClassifier(max_iter=1, tol=None, random_state=0).fit(X_small, y_small).predict_proba(X_small)
    print(f"numba kernels ready in {time.perf_counter() - t0:.1f} s (first run compiles, later runs load a cache)")
    print(f"{'noise':<26} {'epochs':>6} {'fit s':>7} {'accuracy':>9} {'log-lik':>8}")
    # the three noise distributions compared as in the paper (centroid_blend=0: SGD alone), then the
    # default model, which adds the centroid blend chosen on held-out rows
    runs = [(noise, dict(noise=noise, centroid_blend=0.0)) for noise in ("adversarial", "frequency", "uniform")]
    runs.append(("adversarial + blend", {}))
    for name, params in runs:
        clf = AdversarialSoftmaxClassifier(
            max_iter=args.epochs, tol=None, random_state=args.seed, n_jobs=args.n_jobs, **params
        )
        t0 = time.perf_counter()
        clf.fit(X_train, y_train)
        fit_s = time.perf_counter() - t0
        known = np.isin(y_test, clf.classes_)
        log_proba = clf.predict_log_proba(X_test[known])
        ll = log_proba[np.arange(known.sum()), np.searchsorted(clf.classes_, y_test[known])].mean()
        acc = clf.score(X_test, y_test)
        print(f"{name:<26} {clf.n_iter_:>6} {fit_s:>7.2f} {acc:>9.4f} {ll:>8.3f}", flush=True)


if __name__ == "__main__":
    main()
