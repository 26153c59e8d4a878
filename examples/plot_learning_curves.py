"""Learning curves: adversarial vs frequency vs uniform negative sampling.

Trains :class:`skxc.AdversarialSoftmaxClassifier` with each noise distribution
on the same generated problem (classes in nested clusters, Zipf-distributed
class frequencies), one epoch at a time (``warm_start=True, max_iter=1``), and
records after every epoch the held-out accuracy, the held-out log-likelihood
and the "hardness" of the negatives (``hardness_curve_``: mean sigmoid of the
negatives' raw scores). The clock counts training only, including the fit of
the auxiliary tree (so the adversarial curve starts later, as in Fig. 1 of the
paper), and excludes the evaluation. The adversarial run trains ``--epochs``
epochs; the baselines, whose epochs are cheaper, train at least as long in
wall-clock time (up to four times as many epochs).

The figure is written to ``--output`` (default: a new temporary directory) and
its path printed; nothing is written next to this script unless you ask::

    python examples/plot_learning_curves.py
    python examples/plot_learning_curves.py --output docs/_static/learning_curves.png

All three runs use the same hyper-parameters (the defaults); tune
``learning_rate`` and ``alpha`` per method for a fair benchmark.
"""

import argparse
import os
import tempfile
import time

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from skxc import AdversarialSoftmaxClassifier  # noqa: E402
from skxc.datasets import make_hierarchical_classification  # noqa: E402

NOISES = {"adversarial": "tab:green", "frequency": "tab:blue", "uniform": "tab:red"}


def learning_curve(noise, X_train, y_train, X_test, y_test, epochs, seed, min_seconds=0.0):
    """Train ``epochs`` epochs, or more until ``min_seconds`` of training (at most 4 x ``epochs``).

    Returns per-epoch lists of training time, accuracy, log-likelihood and hardness.
    """
    clf = AdversarialSoftmaxClassifier(noise=noise, max_iter=1, tol=None, warm_start=True, random_state=seed)
    seconds, accuracy, loglik = [], [], []
    elapsed = 0.0
    while len(seconds) < epochs or (elapsed < min_seconds and len(seconds) < 4 * epochs):
        t0 = time.perf_counter()
        clf.fit(X_train, y_train)  # warm start: continues from the previous epoch (same tree)
        elapsed += time.perf_counter() - t0
        known = np.isin(y_test, clf.classes_)  # a rare class may be missing from the training set
        log_proba = clf.predict_log_proba(X_test[known])
        seconds.append(elapsed)
        accuracy.append(float(np.mean(clf.classes_[log_proba.argmax(axis=1)] == y_test[known])))
        loglik.append(float(log_proba[np.arange(known.sum()), np.searchsorted(clf.classes_, y_test[known])].mean()))
    return {
        "seconds": seconds,
        "accuracy": accuracy,
        "loglik": loglik,
        "hardness": list(clf.hardness_curve_),
        "tree_seconds": clf.tree_fit_seconds_,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", help="PNG path (default: learning_curves.png in a new temporary directory)")
    parser.add_argument("--n-samples", type=int, default=50_000)
    parser.add_argument("--n-classes", type=int, default=1024)
    parser.add_argument("--n-features", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=12, help="epochs of the adversarial run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    X, y = make_hierarchical_classification(
        n_samples=args.n_samples, n_features=args.n_features, n_classes=args.n_classes, random_state=args.seed
    )
    X = X.astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=min(3000, args.n_samples // 5), random_state=args.seed
    )
    print(
        f"{X_train.shape[0]} training / {X_test.shape[0]} test rows, {args.n_features} features, "
        f"{len(np.unique(y_train))} classes"
    )

    # compile the numba kernels first (cached on disk afterwards) so that the clock measures training only
    X_small, y_small = make_hierarchical_classification(n_samples=300, n_classes=8, random_state=0)
    AdversarialSoftmaxClassifier(max_iter=1, tol=None).fit(X_small, y_small).predict_log_proba(X_small)

    # The baselines' epochs are cheaper (no tree): give them at least the adversarial run's training time.
    curves = {}
    for noise in NOISES:
        budget = curves["adversarial"]["seconds"][-1] if curves else 0.0
        curves[noise] = c = learning_curve(noise, X_train, y_train, X_test, y_test, args.epochs, args.seed, budget)
        print(
            f"{noise:<12} after {len(c['seconds']):2d} epochs: {c['seconds'][-1]:6.2f} s "
            f"(tree {c['tree_seconds']:.2f} s), accuracy {c['accuracy'][-1]:.3f}, "
            f"log-likelihood {c['loglik'][-1]:.3f}, hardness {c['hardness'][-1]:.3f}",
            flush=True,
        )

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), layout="constrained")
    for noise, color in NOISES.items():
        c = curves[noise]
        epochs = np.arange(1, len(c["hardness"]) + 1)
        axes[0].plot(c["seconds"], c["accuracy"], "o-", ms=3, color=color, label=noise)
        axes[1].plot(c["seconds"], c["loglik"], "o-", ms=3, color=color, label=noise)
        axes[2].plot(epochs, c["hardness"], "o-", ms=3, color=color, label=noise)
    axes[0].set(xlabel="training time (s)", ylabel="held-out accuracy", title="accuracy")
    axes[1].set(xlabel="training time (s)", ylabel="mean log p(y|x)", title="held-out log-likelihood")
    axes[2].set(xlabel="epoch", ylabel="mean sigmoid(score) of negatives", title="hardness of the negatives")
    axes[0].legend(title="noise")
    fig.suptitle(
        f"{X_train.shape[0]:,} rows, {args.n_classes:,} classes, {args.n_features} features "
        f"(make_hierarchical_classification)",
        fontsize=10,
    )

    output = args.output or os.path.join(tempfile.mkdtemp(prefix="skxc-"), "learning_curves.png")
    fig.savefig(output, dpi=80)
    plt.close(fig)
    print(f"figure written to {output}")


if __name__ == "__main__":
    main()
