"""Scale: skxc and its peers on an Amazon-670K-like set from skxc.datasets.make_extreme_classification.

The data (default: 200,000 classes, 135,000 features, 300,000 training + 10,000 test rows,
about 50 non-zeros per row, sublinear tf-idf) is generated once per run, in its own child
process that is timed, split (by default every class keeps a training row and the test rows
follow the Zipf law of the classes; ``--split random`` for a plain random split, which at
1.5 rows per class leaves about half of the test rows' classes without a training row) and
written to a temporary directory as CSR ``.npz`` + ``.npy`` in the shared format; then every system runs in its own child process with the same number of threads
and reads it from there. Per system: fit seconds, top-5 prediction seconds on the test rows,
peak memory (the child's own peak resident set, VmHWM, after fit and prediction) and top-1 /
top-5 accuracy (test rows whose class has no training row count as errors).

    python -m benchmarks.extreme_scale --threads 2 --variant sparse='{"weights": "sparse"}'
    python -m benchmarks.extreme_scale --n-classes 2000 --n-features 5000 --n-train 20000 --n-test 2000 \\
        --variant ep2='{"max_iter": 2}' --name smoke

Systems (``--systems``, default all; variants run after them):

- ``tree``: ``skxc.AuxiliaryTree(random_state=seed, n_jobs=threads)`` alone: fit, one draw of
  ``--tree-draws`` negatives for every training row (``sample``), and the tree's own top-5 of
  the test rows (``predict_log_proba`` a block of rows at a time); the issue's budget is 6 GiB
  and 10 minutes for the three. ``--profile-tree`` writes cProfiles of the three.
- ``skxc``: ``AdversarialSoftmaxClassifier(random_state=seed, n_jobs=threads)`` at its defaults;
  ``skxc[NAME]`` for every ``--variant NAME=JSON``: the defaults plus the JSON's constructor
  parameters, passed through as they are (e.g. ``'{"weights": "sparse"}'``). As in
  ``benchmarks.longtail``, the numba kernels are loaded on a small fit first, outside the timings.
- ``centroid``: sparse nearest centroid (``benchmarks._centroid``), ``--centroid-metric``
  (cosine by default: the rows are L2-normalised tf-idf).
- ``napkinxc-plt``: napkinXC's PLT at its defaults (one-label lists), where napkinXC is installed.

Output in ``--out``: ``extreme_scale[_NAME].json`` (every record, the generator's and the data's
figures, command, machine) and ``.md`` (a table), rewritten after every child.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from benchmarks import _common
from benchmarks._common import check_out_dir, load_split, peak_rss_mb, positive_float, positive_int, write_json
from benchmarks._peers import napkinxc_top5, own_peak_mib, timed_fit_top5, topk_accuracy
from benchmarks.longtail import _machine, _pct, _secs, _variant, describe
from skxc._extreme_data import check_parameters

SYSTEMS = ("tree", "skxc", "centroid", "napkinxc-plt")
_CHILD = "--_child"
TOPK_BLOCK_BYTES = 256 * 2**20  # the tree's top-k: (rows x classes) float64 log-probabilities per block


# -- children ------------------------------------------------------------------------------------------------


def run_generate(spec: dict) -> dict:
    """Generate the set, time it, split it (``split_rows``) and write it to ``spec["data_dir"]``."""
    from skxc.datasets import make_extreme_classification

    params = spec["generator"]
    t0 = time.perf_counter()
    X, y = make_extreme_classification(**params)
    seconds = time.perf_counter() - t0
    peak = own_peak_mib()
    t0 = time.perf_counter()
    train, test = split_rows(y, spec["n_test"], spec["split"], spec["generator"]["random_state"])
    d = Path(spec["data_dir"])
    d.mkdir(parents=True, exist_ok=True)
    sp.save_npz(d / "X_train.npz", X[train], compressed=False)
    sp.save_npz(d / "X_test.npz", X[test], compressed=False)
    np.save(d / "y_train.npy", y[train])
    np.save(d / "y_test.npy", y[test])
    row_nnz = np.diff(X.indptr)
    return {
        "generator_seconds": seconds,
        "generator_peak_memory_mib": peak,
        "write_seconds": time.perf_counter() - t0,
        "X_mib": (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20,
        "mean_nnz_per_row": float(row_nnz.mean()),
        "min_nnz_per_row": int(row_nnz.min()),
        "max_nnz_per_row": int(row_nnz.max()),
        "n_classes_present": int(np.unique(y).size),
        "params": params,
    }


def split_rows(y: np.ndarray, n_test: int, split: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (sorted) of the training and the test rows.

    ``"random"``: the last ``n_test`` rows are the test rows (the generator shuffles its rows).
    ``"seen"``: the first row of every class stays in training and the test rows are drawn at
    random from the others, so every class has a training row and every test row's class was
    seen. The generator gives every class one row and draws the others from the Zipf law, so the
    test rows follow the Zipf law (with n_samples near n_classes most rows are the one-per-class
    rows: a random split leaves about half of the test rows without a training row of their class)."""
    n = y.shape[0]
    if split == "random":
        return np.arange(n - n_test), np.arange(n - n_test, n)
    first = np.unique(y, return_index=True)[1]
    candidates = np.setdiff1d(np.arange(n), first)
    if candidates.size < n_test:
        raise ValueError(
            f"split='seen' needs n_test <= rows beyond the first of each class ({candidates.size}); got {n_test}"
        )
    test = np.sort(np.random.default_rng(seed).choice(candidates, n_test, replace=False))
    return np.setdiff1d(np.arange(n), test), test


def _load(spec):
    X, y = load_split(spec["data_dir"], "train")
    Xt, yt = load_split(spec["data_dir"], "test")
    return X, y, Xt, yt


def tree_top_k(tree, X, k: int = 5) -> np.ndarray:
    """(n, k) most probable classes under ``tree``, best first, from blocks of ``predict_log_proba`` rows."""
    n_classes = len(tree.classes_)
    block = max(1, TOPK_BLOCK_BYTES // (8 * n_classes))
    out = np.empty((X.shape[0], k), dtype=tree.classes_.dtype)
    for start in range(0, X.shape[0], block):
        L = tree.predict_log_proba(X[start : start + block])
        top = np.argpartition(L, -k, axis=1)[:, -k:]  # (no negated copy of L: a third less time)
        rows = np.arange(L.shape[0])[:, None]
        out[start : start + L.shape[0]] = tree.classes_[top[rows, np.argsort(-L[rows, top], axis=1, kind="stable")]]
    return out


def run_tree(spec: dict) -> dict:
    """AuxiliaryTree alone: fit, ``tree_draws`` negatives per training row, and its top-5 of the test rows."""
    from skxc import AuxiliaryTree

    X, y, Xt, yt = _load(spec)
    kw = dict(random_state=spec["seed"], n_jobs=spec["threads"], **spec["params"])
    t0 = time.perf_counter()  # numba kernels loaded (or compiled) on a small fit, outside the timings
    small = AuxiliaryTree(**kw).fit(X[:2000], y[:2000])
    small.sample(Xt[:10], n_samples=2)
    tree_top_k(small, Xt[:10])
    warm_s = time.perf_counter() - t0
    del small
    tree = AuxiliaryTree(**kw)
    profiles = []

    def timed(label, fn, *args, **kwargs):  # (result, seconds), under cProfile with --profile-tree
        t0 = time.perf_counter()
        if not spec.get("profile"):
            return fn(*args, **kwargs), time.perf_counter() - t0
        import cProfile
        import io
        import pstats

        profiler = cProfile.Profile()
        value = profiler.runcall(fn, *args, **kwargs)
        seconds = time.perf_counter() - t0
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(30)
        profiles.append(f"==== {label}: {seconds:.2f} s\n{text.getvalue()}")
        return value, seconds

    _, fit_s = timed("fit", tree.fit, X, y)
    fit_peak = own_peak_mib()
    _, sample_s = timed("sample", tree.sample, X, n_samples=spec["tree_draws"])
    top, predict_s = timed("top-5", tree_top_k, tree, Xt, k=5)
    if profiles:
        Path(spec["profile"]).write_text("\n".join(profiles))
    rec = {
        "fit_seconds": fit_s,
        "sample_seconds": sample_s,
        "predict_seconds": predict_s,
        "total_seconds": fit_s + sample_s + predict_s,
        "fit_peak_memory_mib": fit_peak,
        "peak_memory_mib": own_peak_mib(),
        "numba_warmup_seconds": warm_s,
        "depth": int(tree.depth_),
        "n_components": int(tree.n_components_),
        "temperature": float(tree.temperature_),
        "tree_draws_per_row": spec["tree_draws"],
        "params": {k: v for k, v in tree.get_params().items()},
        "n_test": int(Xt.shape[0]),
    }
    rec.update(topk_accuracy(top, yt))
    return rec


def run_centroid(spec: dict) -> dict:
    """Sparse nearest centroid with one metric."""
    from benchmarks._centroid import SparseNearestCentroid

    X, y, Xt, yt = _load(spec)
    clf = SparseNearestCentroid(metric=spec["params"]["metric"])
    fit_s, predict_s, top = timed_fit_top5(clf, (X, y), Xt)
    rec = {
        "fit_seconds": fit_s,
        "predict_seconds": predict_s,
        "peak_memory_mib": own_peak_mib(),
        "params": {"metric": clf.metric, "block_rows": clf.block_rows},
        "centroid_nnz": int(clf.centroids_.nnz),
        "n_test": int(Xt.shape[0]),
    }
    rec.update(topk_accuracy(top, yt))
    return rec


def run_plt(spec: dict) -> dict:
    """napkinXC's PLT (multi-label: one-label lists), fit and top-5; model files in a temporary directory."""
    from napkinxc.models import PLT

    X, y, Xt, yt = _load(spec)
    Y = [[int(v)] for v in y]
    with tempfile.TemporaryDirectory(prefix="skxc_napkinxc_") as tmp:
        model = PLT(tmp, threads=spec["threads"], **spec["params"])
        fit_s, predict_s, top = timed_fit_top5(model, (X, Y), Xt, napkinxc_top5)
        rec = {
            "fit_seconds": fit_s,
            "predict_seconds": predict_s,
            "peak_memory_mib": own_peak_mib(),
            "params": {k: v for k, v in model.get_params().items() if k != "output"},
            "n_test": int(Xt.shape[0]),
        }
    rec.update(topk_accuracy(top, yt))
    return rec


def _runner(kind):
    from benchmarks.longtail import run_skxc

    return {
        "generate": run_generate,
        "tree": run_tree,
        "skxc": run_skxc,
        "centroid": run_centroid,
        "napkinxc-plt": run_plt,
    }[kind]


def child_main(spec_path, out_path):
    with open(spec_path) as f:
        spec = json.load(f)
    try:
        rec = _runner(spec["kind"])(spec)
    except Exception as e:  # e.g. skxc's memory guard: the message goes into the table
        import traceback

        traceback.print_exc()
        rec = {"error": f"{type(e).__name__}: {e}"}
    rec["peak_memory_mib_total"] = own_peak_mib()
    rec["ru_maxrss_mib"] = peak_rss_mb()  # inflated by the parent's peak (see own_peak_mib)
    write_json(out_path, rec)


# -- report --------------------------------------------------------------------------------------------------------


def markdown(result) -> str:
    m, a = result["machine"], result["args"]
    lines = [
        f"### Scale: {a['n_classes']:,} classes, {a['n_features']:,} features, {a['n_train']:,} + {a['n_test']:,} "
        f"rows, {a['threads']} threads",
        "",
        f"`{result['command']}`",
        "",
        f"{result['created']}; {m['platform']}, {m['cpus']} CPUs, {m['memory_gib']:.0f} GiB, Python {m['python']}; "
        f"{', '.join(f'{k} {v}' for k, v in m['versions'].items())}. 1-min load average "
        f"{result['loadavg_1min_start']:.1f} at start. One run per system, each in its own process. Fit and predict "
        "seconds exclude data loading; numba kernels are loaded on a small fit first, outside both. Predict = top-5 "
        "of the test rows. Peak memory = the process's own peak resident set (VmHWM) after fit and prediction, "
        "interpreter and data included. Test rows whose class has no training row count as errors.",
        "",
    ]
    gen = result.get("generator")
    if gen and "error" not in gen:
        p = gen["params"]
        lines += [
            f"Data: `make_extreme_classification({', '.join(f'{k}={v!r}' for k, v in p.items())})`, split "
            f"`{a['split']}` (see `benchmarks/extreme_scale.py`). Generated in {gen['generator_seconds']:.1f} s, peak memory "
            f"{gen['generator_peak_memory_mib']:.0f} MiB (its own process; X is {gen['X_mib']:.0f} MiB), "
            f"{gen['mean_nnz_per_row']:.1f} non-zeros per row (min {gen['min_nnz_per_row']}, max "
            f"{gen['max_nnz_per_row']}).",
            "",
        ]
    elif gen:
        lines += [f"Data: generation failed: {gen['error']}", ""]
    info = result.get("info")
    if info:
        lines += [
            f"Training rows: {info['n_classes']:,} classes present, median {info['median_rows_per_class']:g} / mean "
            f"{info['mean_rows_per_class']:.2f} rows per class; test rows whose class has no training row: "
            f"{100 * info['test_share_unseen_class']:.1f} %, at most 5: {100 * info['test_share_class_le5_train_rows']:.1f} %.",
            "",
        ]
    lines += [
        "| system | top-1 | top-5 | fit (s) | predict (s) | peak memory (MiB) | load before/after | notes |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for rec in result["runs"]:
        load = (
            f"{rec['loadavg_1min_before']:.1f} / {rec['loadavg_1min_after']:.1f}"
            if "loadavg_1min_before" in rec
            else ""
        )
        if "skipped" in rec or "error" in rec:
            lines.append(f"| {rec['system']} | — | — | — | — | — | {load} | {rec.get('skipped') or rec.get('error')} |")
            continue
        notes = []
        if rec["system"] == "tree":
            notes.append(
                f"depth {rec['depth']}, k {rec['n_components']}, temperature {rec['temperature']:.3g}; "
                f"{rec['tree_draws_per_row']} draws per training row {_secs(rec['sample_seconds'])} s; "
                f"fit + draws + top-5 {_secs(rec['total_seconds'])} s; peak after fit {rec['fit_peak_memory_mib']:.0f} MiB"
            )
        if rec["system"].startswith("skxc"):
            notes.append(f"{rec['n_iter']} epochs")
            if "coef_mib" in rec:
                notes.append(f"coef_ {rec['coef_stored']:,} weights, {rec['coef_mib']:,.0f} MiB")
            if rec.get("tree_fit_seconds") is not None:
                notes.append(f"tree fit {_secs(rec['tree_fit_seconds'])} s")
        if rec["system"] == "centroid":
            notes.append(rec["params"]["metric"])
        lines.append(
            f"| {rec['system']} | {_pct(rec['top1'])} | {_pct(rec['top5'])} | {_secs(rec['fit_seconds'])} | "
            f"{_secs(rec['predict_seconds'])} | {rec['peak_memory_mib']:.0f} | {load} | {'; '.join(notes)} |"
        )
    lines += ["", "Systems:", ""]
    for label, params in result["skxc_systems"].items():
        lines.append(
            f"- {label}: `AdversarialSoftmaxClassifier(random_state={a['seed']}, n_jobs={a['threads']}"
            f"{''.join(f', {k}={v!r}' for k, v in params.items())})`, other parameters at their defaults"
        )
    if "tree" in a["systems"]:
        lines.append(
            f"- tree: `AuxiliaryTree(random_state={a['seed']}, n_jobs={a['threads']})`; fit, `sample(X_train, "
            f"n_samples={a['tree_draws']})`, top-5 from `predict_log_proba` in blocks of rows"
        )
    if "centroid" in a["systems"]:
        lines.append(f"- centroid: sparse nearest centroid (`benchmarks/_centroid.py`), {a['centroid_metric']}")
    if "napkinxc-plt" in a["systems"]:
        lines.append("- napkinxc-plt: `napkinxc.models.PLT` at its defaults, `threads` as above, one-label lists")
    return "\n".join(lines) + "\n"


def _print_run(rec):
    if "error" in rec or "skipped" in rec:
        print(f"   {rec['system']}: {rec.get('error') or rec.get('skipped')}", flush=True)
        return
    extra = ""
    if rec["system"] == "tree":
        extra = (
            f" (sample {rec['sample_seconds']:.1f} s, total {rec['total_seconds']:.1f} s, "
            f"peak after fit {rec['fit_peak_memory_mib']:.0f} MiB)"
        )
    print(
        f"   {rec['system']}: fit {rec['fit_seconds']:.1f} s, predict {rec['predict_seconds']:.1f} s, "
        f"{rec['peak_memory_mib']:.0f} MiB, top1 {rec['top1']:.4f}, top5 {rec['top5']:.4f}{extra}",
        flush=True,
    )


def _json_object(text):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(str(e)) from e
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("JSON must be an object")
    return value


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == _CHILD:
        return child_main(argv[1], argv[2])
    if argv and argv[0] == "--render":  # rewrite the .md of a finished run's .json
        result = json.loads(Path(argv[1]).read_text())
        Path(argv[1]).with_suffix(".md").write_text(markdown(result))
        return print(markdown(result))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-classes", type=positive_int, default=200_000)
    p.add_argument("--n-features", type=positive_int, default=135_000)
    p.add_argument("--n-train", type=positive_int, default=300_000)
    p.add_argument("--n-test", type=positive_int, default=10_000)
    p.add_argument("--nnz", type=float, default=50.0, help="expected non-zeros per row (the generator's nnz_per_row)")
    p.add_argument(
        "--data-params",
        type=_json_object,
        default={},
        metavar="JSON",
        help="other keyword arguments of make_extreme_classification, e.g. '{\"class_signal\": 0.05}'",
    )
    p.add_argument("--data-seed", type=int, default=0, help="the generator's random_state (and the split's seed)")
    p.add_argument(
        "--split",
        choices=("seen", "random"),
        default="seen",
        help="seen: every class keeps its first row in training, the test rows are drawn from the other rows "
        "(Zipf-distributed, every test class seen); random: the last n_test generated rows",
    )
    p.add_argument(
        "--systems",
        nargs="+",
        default=list(SYSTEMS),
        metavar="SYSTEM",
        help=f"any of {', '.join(SYSTEMS)} (default: all); variants run after them",
    )
    p.add_argument(
        "--variant",
        action="append",
        type=_variant,
        default=[],
        metavar="NAME=JSON",
        help='an extra skxc run with these constructor parameters, e.g. sparse=\'{"weights": "sparse"}\'',
    )
    p.add_argument("--threads", type=positive_int, default=2, help="threads for every system")
    p.add_argument("--seed", type=int, default=0, help="random_state of skxc and the tree")
    p.add_argument(
        "--tree-draws", type=positive_int, default=2, help="negatives drawn per training row in the tree run"
    )
    p.add_argument(
        "--profile-tree",
        action="store_true",
        help="cProfile the tree's fit, draws and top-5 (written next to the results)",
    )
    p.add_argument("--centroid-metric", choices=("cosine", "euclidean"), default="cosine")
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--name", default=None, help="output file suffix: extreme_scale_<name>.json/.md")
    p.add_argument(
        "--timeout", type=positive_float, default=3600.0, help="seconds per child process before it is killed"
    )
    args = p.parse_args(argv)
    bad = [s for s in args.systems if s not in SYSTEMS]
    if bad:
        p.error(f"unknown system(s) {bad}; choose from {', '.join(SYSTEMS)}")
    names = [n for n, _ in args.variant]
    if len(set(names)) != len(names):
        p.error("variant names must differ")
    check_out_dir(p, args.out)
    skxc_systems = {"skxc": {}} if "skxc" in args.systems else {}
    skxc_systems.update({f"skxc[{n}]": params for n, params in args.variant})
    systems = list(args.systems) + [f"skxc[{n}]" for n in names]

    out = Path(args.out)
    stem = "extreme_scale" + (f"_{args.name}" if args.name else "")
    generator = {
        "n_samples": args.n_train + args.n_test,
        "n_features": args.n_features,
        "n_classes": args.n_classes,
        "nnz_per_row": args.nnz,
        **args.data_params,
        "random_state": args.data_seed,
    }
    try:  # the generator's own checks (ranges, relations, memory), before any child starts
        check_parameters(**generator)
    except (TypeError, ValueError) as error:
        p.error(f"--n-*/--nnz/--data-params: {error}")
    result = {
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m benchmarks.extreme_scale " + " ".join(shlex.quote(a) for a in argv),
        "args": {k: v for k, v in vars(args).items() if k != "variant"},
        "variants": dict(args.variant),
        "skxc_systems": skxc_systems,
        "machine": _machine(),
        "loadavg_1min_start": os.getloadavg()[0],
        "generator": None,
        "info": None,
        "runs": [],
    }

    def save():
        write_json(out / f"{stem}.json", result)
        (out / f"{stem}.md").write_text(markdown(result))

    with tempfile.TemporaryDirectory(prefix="skxc_extreme_") as tmp:
        data_dir = Path(tmp) / "data"
        print(f"-- generating {generator}", flush=True)
        spec = {
            "kind": "generate",
            "generator": generator,
            "n_test": args.n_test,
            "split": args.split,
            "data_dir": str(data_dir),
        }
        gen = _common.run_child("benchmarks.extreme_scale", _CHILD, "generate", spec, tmp, 1, timeout=args.timeout)
        result["generator"] = gen
        if "error" in gen:
            save()
            raise SystemExit(f"generation failed: {gen['error']}")
        print(
            f"   generated in {gen['generator_seconds']:.1f} s, peak {gen['generator_peak_memory_mib']:.0f} MiB, "
            f"{gen['mean_nnz_per_row']:.1f} non-zeros per row",
            flush=True,
        )
        result["info"] = describe(data_dir, None, None)
        print(f"== {result['info']}", flush=True)
        save()
        base = {"data_dir": str(data_dir), "threads": args.threads, "seed": args.seed, "train_rows": None}
        base["test_rows"] = None
        for system in systems:
            kind = "skxc" if system.startswith("skxc") else system
            spec = dict(base, kind=kind, params={})
            if kind == "skxc":
                spec["params"] = skxc_systems[system]
            elif kind == "tree":
                spec["tree_draws"] = args.tree_draws
                if args.profile_tree:
                    spec["profile"] = str((out / f"{stem}_tree_profile.txt").resolve())
            elif kind == "centroid":
                spec["params"] = {"metric": args.centroid_metric}
            if kind == "napkinxc-plt" and importlib.util.find_spec("napkinxc") is None:
                rec = {"system": system, "skipped": "napkinxc is not installed (pip install napkinxc)"}
            else:
                print(f"-- {system}", flush=True)
                out.mkdir(parents=True, exist_ok=True)
                rec = _common.run_child(
                    "benchmarks.extreme_scale", _CHILD, system, spec, tmp, args.threads, timeout=args.timeout
                )
            result["runs"].append(rec)
            _print_run(rec)
            save()
    result["loadavg_1min_end"] = os.getloadavg()[0]
    save()
    print()
    print(markdown(result))
    print(f"wrote {out / stem}.json and .md")


if __name__ == "__main__":
    main()
