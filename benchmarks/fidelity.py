"""Fidelity to the exact softmax: accuracy, log-loss and calibration per method.

    python -m benchmarks.fidelity ../shared/data/bibtex ../shared/data/delicious \
        ../shared/data/corel5k ../shared/data/ptb-nextword --epochs 20

For each dataset (multi-label sets: their first-label view, rows without a
label dropped; ptb-nextword: rows whose next word is among the 1,000 most
frequent, at most ``--max-train-rows`` training rows), fits

- skxc exact softmax (``noise=None``, the same Adagrad step),
- scikit-learn's multinomial ``LogisticRegression`` (lbfgs),
- skxc negative sampling with adversarial / uniform / frequency noise,

and reports test top-1 accuracy, log-loss (mean -log p(y|x) over test rows
whose class occurs in training; p clipped at 1e-15), expected calibration
error (15 equal-width confidence bins), the last epoch's negative hardness and
fit seconds. Writes ``NAME.json``, ``NAME.md`` (``--name``, default
``fidelity``) and a reliability
diagram of the default estimator on the first dataset.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from benchmarks._common import (
    check_data_dirs,
    check_out_dir,
    learning_rate_arg,
    load_split,
    machine,
    positive_int,
    write_json,
)
from skxc import AdversarialSoftmaxClassifier

METHODS = ("exact", "logreg", "adversarial", "uniform", "frequency")


def load(data_dir, max_train_rows, top_classes, seed):
    X, y = load_split(data_dir, "train")
    Xt, yt = load_split(data_dir, "test")
    if top_classes is not None:
        keep = np.argsort(-np.bincount(y))[:top_classes]
        m, mt = np.isin(y, keep), np.isin(yt, keep)
        X, y, Xt, yt = X[m], y[m], Xt[mt], yt[mt]
    if max_train_rows is not None and X.shape[0] > max_train_rows:
        rows = np.sort(np.random.default_rng(seed).choice(X.shape[0], max_train_rows, replace=False))
        X, y = X[rows], y[rows]
    return X, y, Xt, yt


def metrics(proba, classes, yt, n_bins=15) -> dict:
    pred = classes[np.argmax(proba, axis=1)]
    conf = proba.max(axis=1)
    correct = pred == yt
    known = np.isin(yt, classes)
    p_true = np.zeros(len(yt))
    p_true[known] = proba[np.flatnonzero(known), np.searchsorted(classes, yt[known])]
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    ece = sum(
        abs(correct[bins == b].mean() - conf[bins == b].mean()) * np.mean(bins == b)
        for b in range(n_bins)
        if np.any(bins == b)
    )
    return {
        "top1": float(correct.mean()),
        "log_loss": float(-np.mean(np.log(np.clip(p_true[known], 1e-15, 1)))),
        "ece": float(ece),
        "conf": conf,
        "correct": correct,
    }


def methods(args):
    common = dict(
        max_iter=args.epochs,
        tol=None,
        random_state=args.seed,
        learning_rate=args.learning_rate,
        alpha=args.alpha,
        n_jobs=args.n_jobs,
    )
    if "exact" in args.methods:
        yield "skxc exact softmax", AdversarialSoftmaxClassifier(noise=None, **common)
    if "logreg" in args.methods:
        yield "sklearn LogisticRegression", LogisticRegression(max_iter=args.lr_max_iter)
    for noise in ("adversarial", "uniform", "frequency"):
        if noise in args.methods:
            yield f"skxc {noise}", AdversarialSoftmaxClassifier(noise=noise, **common)


def reliability_plot(conf, correct, path, title, n_bins=15):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    centers, accs, counts = [], [], []
    for b in range(n_bins):
        m = bins == b
        if m.any():
            centers.append(conf[m].mean())
            accs.append(correct[m].mean())
            counts.append(m.sum())
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.plot(centers, accs, "o-", label="AdversarialSoftmaxClassifier()")
    ax.set(xlabel="confidence (max predict_proba)", ylabel="accuracy", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data_dirs", nargs="+")
    p.add_argument("--epochs", type=positive_int, default=20)
    p.add_argument("--learning-rate", type=learning_rate_arg, default=AdversarialSoftmaxClassifier().learning_rate)
    p.add_argument("--alpha", type=float, default=AdversarialSoftmaxClassifier().alpha)
    p.add_argument("--lr-max-iter", type=positive_int, default=300, help="max_iter of LogisticRegression")
    p.add_argument("--max-train-rows", type=positive_int, default=100_000)
    p.add_argument("--ptb-top-classes", type=positive_int, default=1000)
    p.add_argument("--n-jobs", type=positive_int, default=1)
    p.add_argument(
        "--methods",
        nargs="+",
        choices=METHODS,
        default=list(METHODS),
        metavar="METHOD",
        help="subset of: exact logreg adversarial uniform frequency",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--name", default="fidelity", help="stem of the output files (NAME.json, NAME.md)")
    args = p.parse_args(argv)
    check_data_dirs(p, args.data_dirs)
    check_out_dir(p, args.out)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    AdversarialSoftmaxClassifier(max_iter=1, tol=None, noise=None).fit(np.eye(4), [0, 1, 2, 3])  # compile
    rows, lines = (
        [],
        ["| dataset | method | top-1 | log-loss | ECE | hardness | fit s |", "|---|---|---|---|---|---|---|"],
    )
    for i, d in enumerate(args.data_dirs):
        name = Path(d).name
        top = args.ptb_top_classes if name.startswith("ptb") else None
        X, y, Xt, yt = load(d, args.max_train_rows, top, args.seed)
        label = f"{name}-top{top}" if top else f"{name} (first label)"
        print(
            f"{label}: {X.shape[0]:,} train / {Xt.shape[0]:,} test rows, {X.shape[1]:,} features, "
            f"{len(np.unique(y)):,} classes",
            flush=True,
        )
        for method, est in methods(args):
            t0 = time.perf_counter()
            est.fit(X, y)
            fit_s = time.perf_counter() - t0
            m = metrics(est.predict_proba(Xt), est.classes_, yt)
            hard = float(est.hardness_curve_[-1]) if hasattr(est, "hardness_curve_") else float("nan")
            rows.append(
                {
                    "dataset": label,
                    "method": method,
                    "fit_seconds": fit_s,
                    "hardness": hard,
                    **{k: v for k, v in m.items() if k not in ("conf", "correct")},
                }
            )
            lines.append(
                f"| {label} | {method} | {m['top1']:.4f} | {m['log_loss']:.3f} | {m['ece']:.3f} | "
                f"{hard:.3f} | {fit_s:.1f} |"
            )
            print(lines[-1], flush=True)
            if i == 0 and method == "skxc adversarial":
                reliability_plot(m["conf"], m["correct"], out / f"reliability_{name}.png", label)
    write_json(out / f"{args.name}.json", {"args": vars(args), "machine": machine(), "results": rows})
    (out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / args.name}.json, {args.name}.md and the reliability diagram")


if __name__ == "__main__":
    main()
