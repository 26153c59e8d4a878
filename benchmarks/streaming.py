"""Streaming with partial_fit against fit: test top-1 after passes over the training rows in batches.

For each data set the training rows, shuffled once (seed 0), are cut into ``--batches`` batches (or
batches of about ``--batch-rows`` rows each) and streamed through ``partial_fit`` for the largest of
``--passes``; test top-1 is taken after each pass listed. Two ways to start the stream (each a fresh model per column):

- ``first``: the first ``partial_fit`` call initialises the model on its batch (tree, centroid start);
- ``sample``: ``fit_noise`` on a random ``--sample`` fraction of the training rows first (seed 1), the
  documented way to start a stream on a representative sample.

The ``fit`` column is the default ``fit`` on all training rows, for reference. ``--variant NAME=JSON``
adds a column of estimator parameters and/or module constants (``"skxc.<module>.<NAME>"``), as in
``benchmarks.longtail``.

    python -m benchmarks.streaming ../shared/data/bibtex generated --passes 1 3 --name demo

Writes ``streaming[_NAME].json`` and ``.md``: a row per data set and column.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np

from benchmarks._common import (
    check_data_dirs,
    check_out_dir,
    columns_line,
    load_split,
    module_constants,
    parse_variants,
    positive_int,
    run_record,
    unit_fraction,
    warm_kernels,
    write_results,
)
from benchmarks.longtail import GENERATED_NAMES, check_specs, materialise


def _top1(clf, Xt, yt) -> float:
    return float(np.mean(clf.predict_top_k(Xt, k=1)[:, 0] == yt))


def sample_rows(n_rows: int, a) -> np.ndarray:
    """The rows of ``fit_noise``'s sample (``--sample``'s fraction, seed 1)."""
    return np.random.default_rng(1).permutation(n_rows)[: int(a.sample * n_rows)]


def n_batches(n_rows: int, a) -> int:
    """``--batches``, or with ``--batch-rows`` as many batches as give about that many rows each."""
    return max(1, round(n_rows / a.batch_rows)) if a.batch_rows else a.batches


def stream(X, y, Xt, yt, params, start, a) -> dict:
    """Top-1 after each pass of ``a.passes`` and the streaming seconds (evaluation excluded)."""
    from skxc import AdversarialSoftmaxClassifier

    with module_constants(params) as params:
        classes = np.unique(y)
        clf = AdversarialSoftmaxClassifier(random_state=a.seed, n_jobs=a.threads, **params)
        t0 = time.perf_counter()
        if start == "sample":
            sample = sample_rows(X.shape[0], a)
            clf.fit_noise(X[sample], y[sample], classes=classes)
        batches = np.array_split(np.random.default_rng(0).permutation(X.shape[0]), n_batches(X.shape[0], a))
        seconds, top1 = time.perf_counter() - t0, {}
        for done in range(1, max(a.passes) + 1):
            t0 = time.perf_counter()
            for batch in batches:
                clf.partial_fit(X[batch], y[batch], classes=classes)
            seconds += time.perf_counter() - t0
            if done in a.passes:
                top1[str(done)] = _top1(clf, Xt, yt)
        return {"top1": top1, "seconds": seconds, "init_scale": float(clf.init_scale_)}


def markdown(result) -> str:
    passes = result["passes"]
    lines = [
        f"### Streaming with partial_fit, {result['threads']} threads",
        "",
        f"`{result['command']}`",
        "",
        f"{result['date']}; {result['machine']}. Training rows shuffled once and cut into "
        + (
            f"batches of about {result['batch_rows']:,} rows"
            if result.get("batch_rows")
            else f"{result['batches']} batches"
        )
        + f"; `first`: the first batch initialises the model; `sample`: `fit_noise` on a random "
        f"{result['sample']:.0%} of the rows first. Top-1 on the test rows after the given passes; seconds: "
        "fit_noise and all passes (evaluation excluded). `fit`: the default fit on all rows.",
        "",
        "| data set | column | fit top-1 (s) | "
        + " | ".join(f"{start} {p} pass{'es' if p > 1 else ''}" for start in ("first", "sample") for p in passes)
        + " | first / sample s |",
        "|---|---|---:|" + "---:|" * (2 * len(passes)) + "---:|",
    ]
    for name, runs in result["data_sets"].items():
        fit = runs["fit"]
        for col, run in runs["columns"].items():
            cells = [f"{100 * run[start]['top1'][str(p)]:.2f}" for start in ("first", "sample") for p in passes]
            lines.append(
                f"| {name} | {col} | {100 * fit['top1']:.2f} ({fit['seconds']:.1f}) | "
                + " | ".join(cells)
                + f" | {run['first']['seconds']:.1f} / {run['sample']['seconds']:.1f} |"
            )
    lines += ["", columns_line(result)]
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="+", help="data set directories in the shared format, or 'generated'")
    p.add_argument("--batches", type=positive_int, default=10)
    p.add_argument(
        "--batch-rows", type=positive_int, default=None, help="batches of about this many rows (not --batches)"
    )
    p.add_argument("--passes", type=positive_int, nargs="+", default=[1, 3], help="passes after which to score")
    p.add_argument("--sample", type=unit_fraction, default=0.2, help="fit_noise's fraction of the rows ('sample')")
    p.add_argument("--threads", type=positive_int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variant", action="append", default=[], metavar="NAME=JSON", help="an extra column")
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--name", default=None)
    a = p.parse_args(argv)
    check_data_dirs(p, a.data, GENERATED_NAMES)
    check_specs(p, a.data)
    check_out_dir(p, a.out)
    a.passes = sorted(set(a.passes))
    columns = {"skxc": {}, **parse_variants(a.variant, p)}
    result = run_record(
        "streaming",
        argv,
        columns,
        threads=a.threads,
        batches=a.batches,
        batch_rows=a.batch_rows,
        passes=a.passes,
        sample=a.sample,
    )
    from skxc import AdversarialSoftmaxClassifier

    with tempfile.TemporaryDirectory() as tmp:
        for d in a.data:
            path, name = materialise(d, tmp)  # generated sets and stand-ins, as in benchmarks.longtail
            X, y = load_split(path, "train")
            Xt, yt = load_split(path, "test")
            if n_batches(X.shape[0], a) > X.shape[0]:  # an empty batch: partial_fit's error would name no flag
                p.error(f"{name}: {n_batches(X.shape[0], a)} batches of {X.shape[0]} training rows leave some empty; "
                        "use fewer --batches (or a larger --batch-rows)")  # fmt: skip
            if np.unique(y[sample_rows(X.shape[0], a)]).shape[0] < 2:
                p.error(f"{name}: --sample {a.sample} of {X.shape[0]} training rows holds fewer than 2 classes "
                        "(fit_noise needs 2); use a larger --sample")  # fmt: skip
            warm_kernels(X, y, Xt, random_state=a.seed, n_jobs=a.threads)  # not in the first fit's seconds
            t0 = time.perf_counter()
            clf = AdversarialSoftmaxClassifier(random_state=a.seed, n_jobs=a.threads).fit(X, y)
            runs = {"fit": {"top1": _top1(clf, Xt, yt), "seconds": time.perf_counter() - t0}, "columns": {}}
            for col, params in columns.items():
                runs["columns"][col] = {start: stream(X, y, Xt, yt, params, start, a) for start in ("first", "sample")}
                print(f"-- {name} {col}: " + json.dumps(runs["columns"][col]), flush=True)
            result["data_sets"][name] = runs
            write_results(a.out, "streaming", a.name, result, markdown(result), echo=False)
    write_results(a.out, "streaming", a.name, result, markdown(result))


if __name__ == "__main__":
    main()
