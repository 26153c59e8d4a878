"""Multi-label benchmark: skxc trained on all labels (pick-all-labels) against napkinXC's PLT.

For each data set in ``shared/data`` with a label indicator matrix (Y_train.npz,
Y_test.npz), fit each system once on the training split (default parameters,
one thread) and report P@1/3/5, nDCG@5 and PSP@5 on the test split, all
computed by ``skxc.metrics`` from each system's top-5 labels (propensities
from the training labels, A=0.55, B=1.5), plus fit and predict seconds. skxc's
kernels are compiled on a small warm-up fit first, so its fit time excludes
compilation (numba's on-disk cache makes later runs start warm too).

Usage::

    python -m benchmarks.multilabel [--data-root ../shared/data] [--datasets bibtex delicious corel5k]

Writes ``benchmarks/results/multilabel.md`` and ``.json``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

from benchmarks._common import machine, write_json  # noqa: E402
from skxc import AdversarialSoftmaxClassifier  # noqa: E402
from skxc.metrics import ndcg_at_k, precision_at_k, propensity, psp_at_k  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def load(data_dir: Path):
    X = sp.load_npz(data_dir / "X_train.npz").tocsr()
    Xt = sp.load_npz(data_dir / "X_test.npz").tocsr()
    Y = sp.load_npz(data_dir / "Y_train.npz").tocsr()
    Yt = sp.load_npz(data_dir / "Y_test.npz").tocsr()
    Y.data[:] = 1
    Yt.data[:] = 1
    return X, Y.astype(np.int8), Xt, Yt.astype(np.int8)


def metrics(Yt, top, prop) -> dict:
    return {
        "P@1": precision_at_k(Yt, top, k=1),
        "P@3": precision_at_k(Yt, top, k=3),
        "P@5": precision_at_k(Yt, top, k=5),
        "nDCG@5": ndcg_at_k(Yt, top, k=5),
        "PSP@5": psp_at_k(Yt, top, propensities=prop, k=5),
    }


def run_skxc(X, Y, Xt, seed: int, **params) -> tuple[np.ndarray, float, float]:
    clf = AdversarialSoftmaxClassifier(random_state=seed, n_jobs=1, **params)
    t0 = time.perf_counter()
    clf.fit(X, Y)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    top = clf.predict_top_k(Xt, 5)
    return top, fit_s, time.perf_counter() - t0


def run_plt(X, Y, Xt, seed: int) -> tuple[np.ndarray, float, float]:
    from napkinxc.models import PLT

    labels = np.split(Y.indices, Y.indptr[1:-1])
    labels = [lab.tolist() for lab in labels]
    with tempfile.TemporaryDirectory(prefix="skxc_plt_") as tmp:
        model = PLT(tmp, threads=1, seed=seed)
        t0 = time.perf_counter()
        model.fit(X, labels)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        pred = model.predict(Xt, top_k=5)
        predict_s = time.perf_counter() - t0
    top = np.full((Xt.shape[0], 5), -1, dtype=np.int64)
    for i, row in enumerate(pred):
        top[i, : len(row)] = row[:5]
    return top, fit_s, predict_s


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--datasets", nargs="+", default=["bibtex", "delicious", "corel5k"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS / "multilabel"))
    args = ap.parse_args(argv)

    # compile skxc's kernels outside the timed fits
    Xw, Yw, _, _ = load(Path(args.data_root) / args.datasets[0])
    run_skxc(Xw[:1200], Yw[:1200], Xw[:10], 0, max_iter=1)

    systems = {
        "skxc (all labels)": lambda X, Y, Xt: run_skxc(X, Y, Xt, args.seed),
        "napkinXC PLT": lambda X, Y, Xt: run_plt(X, Y, Xt, args.seed),
    }
    records = []
    for name in args.datasets:
        X, Y, Xt, Yt = load(Path(args.data_root) / name)
        prop = propensity(Y)
        for system, run in systems.items():
            top, fit_s, predict_s = run(X, Y, Xt)
            rec = {"dataset": name, "system": system, "fit_seconds": fit_s, "predict_seconds": predict_s}
            rec.update(metrics(Yt, top, prop))
            records.append(rec)
            print(
                f"{name:10s} {system:18s} "
                + " ".join(f"{k} {rec[k]:.4f}" for k in ("P@1", "P@3", "P@5", "nDCG@5", "PSP@5"))
                + f" fit {fit_s:.2f} s predict {predict_s:.2f} s",
                flush=True,
            )
    write_json(args.out + ".json", {"machine": machine(), "seed": args.seed, "records": records})
    cols = ["P@1", "P@3", "P@5", "nDCG@5", "PSP@5"]
    lines = [
        "# Multi-label: skxc (pick-all-labels) vs napkinXC PLT",
        "",
        "One run each, default parameters, one thread, seed "
        f"{args.seed}; metrics from `skxc.metrics` on each system's top-5 labels (PSP@5 normalised, "
        "propensities A=0.55, B=1.5 from the training labels). Fit seconds exclude skxc's kernel "
        "compilation (a warm-up fit runs first). Command: `python -m benchmarks.multilabel`.",
        "",
        "| data set | system | " + " | ".join(cols) + " | fit s | predict s |",
        "|---|---|" + "---:|" * (len(cols) + 2),
    ]
    for r in records:
        lines.append(
            f"| {r['dataset']} | {r['system']} | "
            + " | ".join(f"{100 * r[c]:.2f}" for c in cols)
            + f" | {r['fit_seconds']:.2f} | {r['predict_seconds']:.2f} |"
        )
    Path(args.out + ".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
