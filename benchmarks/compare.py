"""Side-by-side comparison of skxc with fastText, napkinXC and exact softmax (LogisticRegression).

Runs each selected system with the same number of threads, each in its own
child process, so that its peak memory is its own ``ru_maxrss`` (measured
after fit + top-5 prediction of the whole test set, before the log-likelihood
pass, which some systems can only do by materialising all class
probabilities). For each run it records fit seconds, predict seconds (top-5,
whole test set), peak memory, top-1/top-5 test accuracy and the mean test
log-likelihood on a random subsample of test rows (the same rows for every
system; null for systems without a normalised distribution over classes).

    python -m benchmarks.compare ../shared/data/ptb-nextword --threads 2 --out benchmarks/results

Writes ``compare_<dataset>.json``, ``compare_<dataset>.md`` (the table) and
``compare_<dataset>.png``: skxc's test accuracy after each epoch (``warm_start``,
one epoch per ``fit``, ``learning_rate_schedule="constant"``, evaluation time excluded) against training wall-clock,
with every system's (fit seconds, accuracy) as a point.

fastText reads one word per non-zero feature (``benchmarks._peers``), and its input
vectors start from a file (``pretrainedVectors``) uniform on [-1/dim, 1/dim], as
fastText means to start them: by itself it initialises only ``thread``/10 of its
input matrix (``_peers.write_fasttext_init``).

A system may be named more than once in ``--systems``; e.g. ending the list
with ``skxc`` runs skxc again after the peers, to see how much the machine's
load moved its time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from benchmarks import _common
from benchmarks._common import (
    check_data_dirs,
    check_out_dir,
    evaluate,
    learning_rate_arg,
    load_split,
    machine,
    n_negatives_arg,
    peak_rss_mb,
    positive_int,
    top_k_padded,
    variant_error,
    warmup_rows,
    write_json,
)
from benchmarks._peers import own_peak_mib, skxc_fit_record

SYSTEMS = ("skxc", "fasttext-hs", "fasttext-ns", "napkinxc-hsm", "napkinxc-plt", "logreg")
ROOT = Path(__file__).resolve().parents[1]
_CHILD = "--_child"


# -- skxc (runs in a child) -------------------------------------------------------------------------------


def _load(spec):
    X, y = load_split(spec["data_dir"], "train")
    Xt, yt = load_split(spec["data_dir"], "test")
    return X[: spec["train_rows"]], y[: spec["train_rows"]], Xt[: spec["test_rows"]], yt[: spec["test_rows"]]


def _skxc_estimator(spec, **overrides):
    from skxc import AdversarialSoftmaxClassifier

    kw = dict(n_jobs=spec["threads"], random_state=spec["seed"], max_iter=spec["params"]["epochs"], tol=None)
    kw.update({k: v for k, v in spec["params"].items() if k != "epochs"})
    kw.update(overrides)
    return AdversarialSoftmaxClassifier(**kw)


def _warm_numba(spec, X, y):
    """Load (or compile) the numba kernels on a small fit, so that neither timing includes it."""
    t0 = time.perf_counter()
    few = warmup_rows(X.shape[0])
    top_k_padded(_skxc_estimator(spec, max_iter=1).fit(X[few], y[few]), X[:10], 5)
    return time.perf_counter() - t0


def run_skxc(spec: dict) -> dict:
    X, y, Xt, yt = _load(spec)
    warm_s = _warm_numba(spec, X, y)
    rec, clf = skxc_fit_record(_skxc_estimator(spec), X, y, Xt, yt)
    ev = evaluate(clf, Xt, yt, k=5, ll_rows=spec["ll_rows"], seed=spec["seed"])
    rec.update(
        log_likelihood=ev["log_likelihood"],
        n_ll_rows=ev["n_ll_rows"],
        log_likelihood_note="exact: softmax of the bias-corrected scores over all classes",
        predict_seconds_repeat=ev["predict_seconds"],
        numba_warmup_seconds=warm_s,
        tree_fit_seconds=clf.tree_fit_seconds_,
        epoch_seconds=list(clf.epoch_seconds_),
        loss_curve=list(clf.loss_curve_),
    )
    return rec


def run_skxc_curve(spec: dict) -> dict:
    """skxc trained one epoch per ``fit`` (warm_start, constant step size), evaluated between epochs (not timed)."""
    X, y, Xt, yt = _load(spec)
    warm_s = _warm_numba(spec, X, y)
    from skxc._fit import resolve_max_iter

    # one epoch per fit, with the constant step (a linear schedule would run its course within every fit)
    clf = _skxc_estimator(spec, max_iter=1, warm_start=True, learning_rate_schedule="constant")
    curve, train_s = [], 0.0
    for epoch in range(1, resolve_max_iter(spec["params"]["epochs"], X.shape[0]) + 1):
        t0 = time.perf_counter()
        clf.fit(X, y)
        train_s += time.perf_counter() - t0
        ev = evaluate(clf, Xt, yt, k=5, ll_rows=spec["ll_rows"], seed=spec["seed"])
        ev.update(epoch=epoch, seconds=train_s)
        curve.append(ev)
        print(
            f"  skxc epoch {epoch}: {train_s:7.1f} s  top1 {ev['top1']:.4f}  top5 {ev['top5']:.4f}  "
            f"ll {ev['log_likelihood']:.3f}",
            flush=True,
        )
    return {
        "curve": curve,
        "fit_seconds": train_s,
        "peak_memory_mib": own_peak_mib(),
        "numba_warmup_seconds": warm_s,
        "tree_fit_seconds": clf.tree_fit_seconds_,
        "params": {k: v for k, v in clf.get_params().items() if k != "verbose"},
    }


def _runner(system):
    from benchmarks import _peers

    if system == "skxc":
        return run_skxc
    if system == "skxc-curve":
        return run_skxc_curve
    if system.startswith("fasttext-"):
        return _peers.run_fasttext
    if system.startswith("napkinxc-"):
        return _peers.run_napkinxc
    if system == "logreg":
        return _peers.run_logreg
    raise ValueError(system)


def child_main(spec_path, out_path):
    with open(spec_path) as f:
        spec = json.load(f)
    rec = _runner(spec["system"])(spec)
    rec["peak_memory_mib_total"] = own_peak_mib()  # including the log-likelihood pass
    rec["ru_maxrss_mib"] = peak_rss_mb()  # inflated by the parent's peak (see own_peak_mib)
    write_json(out_path, rec)


# -- orchestration (parent) ------------------------------------------------------------------------------------


def run_child(system, spec, tmp, threads):
    """Run one system in a fresh interpreter; return its record (or an error record)."""
    return _common.run_child("benchmarks.compare", _CHILD, system, spec, tmp, threads)


def _fmt(v, spec, dash="—"):
    return dash if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, spec)


def _label(rec, runs):
    same = [r for r in runs if r["system"] == rec["system"]]
    return rec["system"] if len(same) == 1 else f"{rec['system']} (run {same.index(rec) + 1})"


def markdown(result) -> str:
    runs = result["runs"]
    n_ll = max([r.get("n_ll_rows", 0) for r in runs] + [0])
    lines = [
        f"### {result['dataset']}: skxc vs peers, {result['args']['threads']} threads",
        "",
        f"{result['created']}; {result['machine']['cpus']} CPUs, Python {result['machine']['python']}; "
        f"1-min load average {result['loadavg_1min_start']:.1f} at start. Each system ran in its own process; "
        "peak memory = that process's peak resident set (VmHWM) after fit + top-5 prediction of the whole test "
        "set (interpreter and data included). Test log-lik. = mean log p(y|x) in nats over the same "
        f"{n_ll} random test rows for every system (rows whose class occurs in training).",
        "",
        "| system | fit (s) | predict top-5 (s) | peak memory (MiB) | top-1 | top-5 | test log-lik. | load before/after |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    notes = []
    for rec in runs:
        name = _label(rec, runs)
        if "skipped" in rec or "error" in rec:
            lines.append(
                f"| {name} | — | — | — | — | — | — | {str(rec.get('skipped') or rec.get('error')).replace('|', '/')} |"
            )
            continue
        ll = _fmt(rec.get("log_likelihood"), ".3f")
        if rec.get("log_likelihood") is None:
            ll += " ¹" if rec["system"] == "fasttext-ns" else " ²"
        lines.append(
            f"| {name} | {rec['fit_seconds']:.1f} | {rec['predict_seconds']:.1f} | {rec['peak_memory_mib']:.0f} | "
            f"{100 * rec['top1']:.2f} % | {100 * rec['top5']:.2f} % | {ll} | "
            f"{rec['loadavg_1min_before']:.1f} / {rec['loadavg_1min_after']:.1f} |"
        )
    lines.append("")
    for rec in runs:
        if rec.get("log_likelihood") is None and "log_likelihood_note" in rec:
            mark = "¹" if rec["system"] == "fasttext-ns" else "²"
            note = f"{mark} {rec['system']}: {rec['log_likelihood_note']}."
            if note not in notes:
                notes.append(note)
    lines += notes
    if notes:
        lines.append("")
    lines.append("Parameters:")
    lines.append("")
    for rec in runs:
        if "params" in rec:
            extra = ""
            if "convert_seconds" in rec:
                extra = f" (+ {rec['convert_seconds']:.1f} s to write the text files, not in fit)"
            if "numba_warmup_seconds" in rec:
                extra = f" (numba kernels loaded/compiled on a small fit first, {rec['numba_warmup_seconds']:.1f} s, not in fit; tree fit {rec['tree_fit_seconds']:.1f} s is in fit)"
            params = ", ".join(f"{k}={v}" for k, v in rec["params"].items())
            lines.append(f"- {_label(rec, runs)}: {params}{extra}")
    curve = result.get("skxc_curve")
    if curve and "curve" in curve:
        lines += [
            "",
            "skxc, one epoch per `fit` (warm_start; training seconds, evaluation excluded):",
            "",
            "| epoch | seconds | top-1 | top-5 | test log-lik. |",
            "|---:|---:|---:|---:|---:|",
        ]
        for p in curve["curve"]:
            lines.append(
                f"| {p['epoch']} | {p['seconds']:.1f} | {100 * p['top1']:.2f} % | {100 * p['top5']:.2f} % | "
                f"{_fmt(p['log_likelihood'], '.3f')} |"
            )
    return "\n".join(lines) + "\n"


def plot(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in result["runs"] if "fit_seconds" in r]
    curve = (result.get("skxc_curve") or {}).get("curve")
    markers = {
        "skxc": "*",
        "fasttext-hs": "s",
        "fasttext-ns": "D",
        "napkinxc-hsm": "^",
        "napkinxc-plt": "v",
        "logreg": "P",
    }
    colors = {s: f"C{i}" for i, s in enumerate(SYSTEMS)}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3))
    for ax, key in zip(axes, ("top1", "top5"), strict=True):
        if curve:
            t = [p["seconds"] for p in curve]
            ax.plot(t, [100 * p[key] for p in curve], "o-", color="C0", label="skxc, after each epoch")
            for p in curve:
                ax.annotate(
                    str(p["epoch"]),
                    (p["seconds"], 100 * p[key]),
                    textcoords="offset points",
                    xytext=(0, -12),
                    ha="center",
                    fontsize=7,
                    color="C0",
                )
        for rec in runs:
            label = _label(rec, result["runs"])
            again = rec is not next(r for r in runs if r["system"] == rec["system"])  # repeated runs: hollow
            ax.scatter(
                rec["fit_seconds"],
                100 * rec[key],
                marker=markers.get(rec["system"], "o"),
                s=90,
                color="white" if again else colors.get(rec["system"], "k"),
                edgecolor="black",
                linewidth=0.5,
                zorder=3,
                label=f"{label} (fit)",
            )
        ax.set_xscale("log")
        ax.set(
            xlabel="training wall-clock (s, log scale)",
            ylabel=f"test {key.replace('top', 'top-')} accuracy (%)",
            title=f"{result['dataset']}, {result['args']['threads']} threads",
        )
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == _CHILD:
        return child_main(argv[1], argv[2])
    from skxc import AdversarialSoftmaxClassifier

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data_dir")
    p.add_argument(
        "--systems",
        nargs="+",
        default=list(SYSTEMS),
        metavar="SYSTEM",
        help=f"any of {', '.join(SYSTEMS)}; repeat one to run it again (default: all)",
    )
    p.add_argument("--threads", type=positive_int, default=2, help="threads for every system")
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument(
        "--skxc-learning-rate",
        type=learning_rate_arg,
        default=None,
        help=f"default: the estimator's ({AdversarialSoftmaxClassifier().learning_rate!r})",
    )
    p.add_argument(
        "--skxc-alpha",
        type=float,
        default=None,
        help=f"default: the estimator's ({AdversarialSoftmaxClassifier().alpha})",
    )
    p.add_argument(
        "--skxc-tree-alpha",
        type=float,
        default=None,
        help=f"default: the estimator's ({AdversarialSoftmaxClassifier().tree_alpha})",
    )
    p.add_argument(
        "--skxc-epochs",
        type=positive_int,
        default=None,
        help=f"default: the estimator's max_iter ({AdversarialSoftmaxClassifier().max_iter})",
    )
    p.add_argument(
        "--skxc-n-negatives",
        type=n_negatives_arg,
        default=None,
        help=f"default: the estimator's ({AdversarialSoftmaxClassifier().n_negatives})",
    )
    p.add_argument("--no-curve", action="store_true", help="skip skxc's per-epoch curve (the PNG then has points only)")
    p.add_argument(
        "--ll-rows", type=positive_int, default=10_000, help="random test rows scored for the log-likelihood"
    )
    p.add_argument(
        "--seed", type=int, default=0, help="skxc's random_state, fastText's start vectors and the log-likelihood rows"
    )
    p.add_argument(
        "--train-rows", type=positive_int, default=None, help="use only the first N training rows (smoke tests)"
    )
    p.add_argument("--test-rows", type=positive_int, default=None, help="use only the first N test rows (smoke tests)")
    args = p.parse_args(argv)
    bad = [s for s in args.systems if s not in SYSTEMS]
    if bad:
        p.error(f"unknown system(s) {bad}; choose from {', '.join(SYSTEMS)}")
    check_data_dirs(p, [args.data_dir])
    check_out_dir(p, args.out)
    # skxc's options checked now, not in its child after the peers have run (scikit-learn's parameter constraints)
    for param in ("epochs", "learning_rate", "alpha", "n_negatives", "tree_alpha"):
        value = getattr(args, f"skxc_{param}")
        error = None if value is None else variant_error({"max_iter" if param == "epochs" else param: value})
        if error:
            p.error(f"argument --skxc-{param.replace('_', '-')}: {error}")

    name = Path(args.data_dir).name
    stem = (
        f"compare_{name}"
        + (f"_train{args.train_rows}" if args.train_rows is not None else "")
        + (f"_test{args.test_rows}" if args.test_rows is not None else "")
    )
    out = Path(args.out)
    # only the options given are passed: everything else is the estimator's default
    skxc_params = {
        "epochs": args.skxc_epochs if args.skxc_epochs is not None else AdversarialSoftmaxClassifier().max_iter
    }
    for param in ("learning_rate", "alpha", "n_negatives", "tree_alpha"):
        if getattr(args, f"skxc_{param}") is not None:
            skxc_params[param] = getattr(args, f"skxc_{param}")
    base = {
        "data_dir": str(Path(args.data_dir).resolve()),
        "threads": args.threads,
        "seed": args.seed,
        "ll_rows": args.ll_rows,
        "train_rows": args.train_rows,
        "test_rows": args.test_rows,
    }
    y_train = np.load(Path(args.data_dir) / "y_train.npy")[: args.train_rows]
    n_classes = int(np.unique(y_train[y_train >= 0]).size)
    result = {
        "dataset": name,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "args": vars(args),
        "machine": machine(),
        "n_classes": n_classes,
        "loadavg_1min_start": os.getloadavg()[0],
        "runs": [],
        "skxc_curve": None,
    }

    def save():
        write_json(out / f"{stem}.json", result)
        (out / f"{stem}.md").write_text(markdown(result))

    with tempfile.TemporaryDirectory(prefix="skxc_compare_") as tmp:
        fasttext_files = None
        if any(s.startswith("fasttext-") for s in args.systems):
            from benchmarks._peers import write_fasttext_files

            fasttext_files = write_fasttext_files(args.data_dir, tmp, args.train_rows, args.test_rows, seed=args.seed)
            result["fasttext_input"] = {k: v for k, v in fasttext_files.items() if k != "paths"}
            print(
                f"fastText input written in {fasttext_files['convert_seconds']:.1f} s, e.g. "
                f"{fasttext_files['example_line']!r}",
                flush=True,
            )
            if not fasttext_files["binary_features"]:
                print("warning: fastText ignores feature values; non-binary values are lost", flush=True)
        for system in args.systems:
            if system == "logreg" and n_classes > 1000:
                msg = (
                    f"skipped: {n_classes:,} classes > 1,000 (exact multinomial LogisticRegression "
                    "is O(n_features x n_classes) per row and would take far too long)"
                )
                print(f"== logreg {msg}", flush=True)
                result["runs"].append({"system": system, "skipped": msg})
                save()
                continue
            spec = dict(base)
            if system == "skxc":
                spec["params"] = skxc_params
            if system.startswith("fasttext-"):
                spec["fasttext"] = fasttext_files
            print(f"== {system} ({args.threads} threads)", flush=True)
            rec = run_child(system, spec, tmp, args.threads)
            result["runs"].append(rec)
            _print_run(rec)
            save()
            if system == "skxc" and not args.no_curve and result["skxc_curve"] is None:
                print(f"== skxc, one epoch per fit ({args.threads} threads)", flush=True)
                result["skxc_curve"] = run_child("skxc-curve", dict(base, params=skxc_params), tmp, args.threads)
                save()
    result["loadavg_1min_end"] = os.getloadavg()[0]
    save()
    plot(result, out / f"{stem}.png")
    print()
    print(markdown(result))
    print(f"wrote {out / stem}.json, .md and .png")


def _print_run(rec):
    if "error" in rec:
        print(f"   {rec['system']}: ERROR {rec['error']}", flush=True)
        return
    print(
        f"   {rec['system']}: fit {rec['fit_seconds']:.1f} s, predict {rec['predict_seconds']:.1f} s, "
        f"{rec['peak_memory_mib']:.0f} MiB, top1 {rec['top1']:.4f}, top5 {rec['top5']:.4f}, "
        f"ll {_fmt(rec.get('log_likelihood'), '.3f')}",
        flush=True,
    )


if __name__ == "__main__":
    main()
