"""Accuracy and log-likelihood against training time: adversarial vs uniform vs frequency.

The paper's Fig. 1 in miniature. For each noise distribution, trains
``AdversarialSoftmaxClassifier`` one epoch at a time (``warm_start``, with
``learning_rate_schedule="constant"``: a linear schedule would run its course
within every one-epoch fit, as in ``benchmarks.compare``) and after
each epoch evaluates top-1/top-5 accuracy and the mean log-likelihood on the
test split. Wall-clock time includes the tree fit (adversarial) and the
per-call input validation; evaluation time is excluded.

    python -m benchmarks.learning_curves ../shared/data/ptb-nextword --epochs 5 --out benchmarks/results

Writes ``learning_curves_<dataset>.json`` and ``.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks._common import (
    NOISES,
    check_data_dirs,
    check_out_dir,
    evaluate,
    learning_rate_arg,
    load_split,
    machine,
    n_negatives_arg,
    positive_int,
    warm_kernels,
    write_json,
)
from skxc import AdversarialSoftmaxClassifier


def run(noise, X, y, Xt, yt, args):
    clf = AdversarialSoftmaxClassifier(
        noise=noise,
        max_iter=1,
        tol=None,
        warm_start=True,
        learning_rate_schedule="constant",
        random_state=args.seed,
        n_jobs=args.n_jobs,
        learning_rate=args.learning_rate,
        alpha=args.alpha,
        n_negatives=args.n_negatives,
    )
    curve, train_s = [], 0.0
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        clf.fit(X, y)
        train_s += time.perf_counter() - t0
        ev = evaluate(clf, Xt, yt, ll_rows=args.ll_rows)
        ev.update(epoch=epoch, seconds=train_s, loss=clf.loss_curve_[-1], hardness=clf.hardness_curve_[-1])
        curve.append(ev)
        print(
            f"{noise:<12} epoch {epoch}: {train_s:7.1f} s  top1 {ev['top1']:.4f}  top5 {ev['top5']:.4f}  "
            f"ll {ev['log_likelihood']:.3f}  loss {ev['loss']:.4f}  hardness {ev['hardness']:.3f}",
            flush=True,
        )
    return {"noise": noise, "tree_fit_seconds": clf.tree_fit_seconds_, "curve": curve}


def plot(records, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for rec in records:
        t = [0.0] + [p["seconds"] for p in rec["curve"]]
        axes[0].plot(t[1:], [p["top1"] for p in rec["curve"]], "o-", label=rec["noise"])
        axes[1].plot(t[1:], [p["log_likelihood"] for p in rec["curve"]], "o-", label=rec["noise"])
    axes[0].set(xlabel="training time (s)", ylabel="test top-1 accuracy", title=title)
    axes[1].set(xlabel="training time (s)", ylabel="test log-likelihood (nats)", title=title)
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data_dir")
    p.add_argument("--epochs", type=positive_int, default=5)
    p.add_argument(
        "--noise",
        nargs="+",
        choices=NOISES,
        default=list(NOISES),
    )
    p.add_argument("--n-jobs", type=positive_int, default=1)
    p.add_argument("--learning-rate", type=learning_rate_arg, default=AdversarialSoftmaxClassifier().learning_rate)
    p.add_argument("--alpha", type=float, default=AdversarialSoftmaxClassifier().alpha)
    p.add_argument("--n-negatives", type=n_negatives_arg, default=AdversarialSoftmaxClassifier().n_negatives)
    p.add_argument("--test-rows", type=positive_int, default=None, help="evaluate on this many test rows (default all)")
    p.add_argument("--ll-rows", type=positive_int, default=10_000, help="rows used for the log-likelihood")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results")
    args = p.parse_args(argv)
    check_data_dirs(p, [args.data_dir])
    check_out_dir(p, args.out)

    name = Path(args.data_dir).name
    X, y = load_split(args.data_dir, "train")
    Xt, yt = load_split(args.data_dir, "test")
    if args.test_rows is not None and args.test_rows < Xt.shape[0]:
        rows = np.sort(np.random.default_rng(args.seed).choice(Xt.shape[0], args.test_rows, replace=False))
        Xt, yt = Xt[rows], yt[rows]
    warm_kernels(X, y, Xt)  # compile (or load) the kernels once, outside the timings
    records = [run(noise, X, y, Xt, yt, args) for noise in args.noise]
    out = Path(args.out)
    write_json(
        out / f"learning_curves_{name}.json",
        {"dataset": name, "args": vars(args), "machine": machine(), "runs": records},
    )
    plot(records, out / f"learning_curves_{name}.png", name)
    summarize(records)
    print(f"wrote {out / f'learning_curves_{name}.json'} and .png")


def summarize(records):
    """Print the paper's headline ratios when adversarial and uniform both ran."""
    by = {r["noise"]: r for r in records}
    if "adversarial" not in by or "uniform" not in by:
        return
    adv, uni = by["adversarial"]["curve"], by["uniform"]["curve"]
    best_uni = max(p["top1"] for p in uni)
    t_uni = uni[-1]["seconds"]
    reach = [p["seconds"] for p in adv if p["top1"] >= best_uni]
    print(f"uniform best top-1 {best_uni:.4f} in {t_uni:.1f} s; adversarial final {adv[-1]['top1']:.4f}")
    if reach:
        print(f"adversarial reaches it after {reach[0]:.1f} s = {reach[0] / t_uni:.3f} x uniform's time")
    else:
        print("adversarial does not reach uniform's best accuracy within its budget")
    tree = by["adversarial"]["tree_fit_seconds"]
    print(f"tree fit {tree:.1f} s = {tree / adv[-1]['seconds']:.1%} of adversarial total training time")


if __name__ == "__main__":
    main()
