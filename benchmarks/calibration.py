"""How well skxc's probabilities mean what they say: top-label calibration and log-likelihood on test rows.

For each data set (the shared format, or a stand-in name ``benchmarks.longtail`` builds), fit
``AdversarialSoftmaxClassifier(random_state=seed, n_jobs=threads)`` (and any ``--variant``) on the
training split and score the first ``--max-test-rows`` test rows whose class the model has seen:

- top-1 accuracy and the mean probability of the top class (equal for a calibrated model);
- ECE, the expected calibration error of the top class over 15 equal-width bins of its probability (the
  weighted mean of |accuracy - mean probability| per bin), in points;
- test log-likelihood (mean log-probability of the true class);
- diagnostics chosen *on the test rows* (so optimistic, not something a user can do): the factor f on the
  model's log-probabilities (``softmax(f log p)``, i.e. the temperature ``score_temperature_ / f``) that
  maximises the test log-likelihood, searched on a grid of 41 factors from 1/4 to 4, and the log-likelihood and
  ECE at that factor. f near 1: the temperature chosen on held-out rows is the one the test rows would choose.

    python -m benchmarks.calibration ../shared/data/bibtex ../shared/data/corel5k generated --threads 1

Writes ``calibration[_NAME].json`` and ``.md``.
"""

from __future__ import annotations

import argparse
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
    warm_kernels,
    write_results,
)
from benchmarks.longtail import GENERATED_NAMES, check_specs, materialise

BINS = 15
FACTORS = np.exp(np.linspace(np.log(0.25), np.log(4.0), 41))


def top_label_calibration(log_proba: np.ndarray, truth: np.ndarray, bins: int = BINS) -> dict:
    """Top-1 accuracy, mean top probability and ECE of the rows' log-probabilities ``log_proba`` (n, C) against
    the true columns ``truth`` (n,): ECE = sum over equal-width bins of the top probability of the bin's share of
    rows times |accuracy - mean probability| in it (a top probability of 1 falls in the last bin)."""
    top = log_proba.argmax(axis=1)
    p = np.exp(log_proba[np.arange(len(top)), top])
    hit = (top == truth).astype(np.float64)
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    ece = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            ece += in_bin.mean() * abs(hit[in_bin].mean() - p[in_bin].mean())
    return {"top1": float(hit.mean()), "mean_top_proba": float(p.mean()), "ece": float(ece)}


def log_likelihood(log_proba: np.ndarray, truth: np.ndarray) -> float:
    """Mean log-probability of the true columns."""
    return float(log_proba[np.arange(len(truth)), truth].mean())


def rescaled(log_proba: np.ndarray, factor: float) -> np.ndarray:
    """``log softmax(factor * log_proba)`` row by row: the same scores at temperature T / factor."""
    z = factor * log_proba
    z -= z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def best_factor(log_proba: np.ndarray, truth: np.ndarray, factors=FACTORS) -> tuple[float, float]:
    """``(factor, log-likelihood)``: the factor of ``factors`` whose :func:`rescaled` log-probabilities have the
    highest mean log-likelihood of ``truth`` (ties: the first)."""
    lls = [log_likelihood(rescaled(log_proba, f), truth) for f in factors]
    i = int(np.argmax(lls))
    return float(factors[i]), float(lls[i])


def evaluate(clf, Xt, yt) -> dict:
    """The module docstring's figures for a fitted classifier on test rows ``Xt``, ``yt`` (rows of classes the
    model has not seen are left out and counted in ``n_unseen``)."""
    seen = np.isin(yt, clf.classes_)
    Xt, truth = Xt[np.flatnonzero(seen)], np.searchsorted(clf.classes_, yt[seen])
    log_proba = clf.predict_log_proba(Xt)
    factor, best_ll = best_factor(log_proba, truth)
    return {
        "n_scored": int(seen.sum()),
        "n_unseen": int((~seen).sum()),
        "temperature": float(getattr(clf, "score_temperature_", 1.0)),
        "beta": float(getattr(clf, "centroid_blend_", 0.0)),
        "top_label_map": [float(v) for v in getattr(clf, "top_label_calibration_", (1.0, 0.0))],
        **top_label_calibration(log_proba, truth),
        "log_likelihood": log_likelihood(log_proba, truth),
        "test_best_factor": factor,
        "test_best_log_likelihood": best_ll,
        "test_best_ece": top_label_calibration(rescaled(log_proba, factor), truth)["ece"],
    }


def _map(run: dict) -> str:
    """The top-label map's ``slope, offset`` (a run recorded before it existed: the identity)."""
    slope, offset = run.get("top_label_map", (1.0, 0.0))
    return "none" if (slope, offset) == (1.0, 0.0) else f"{slope:.2f}, {offset:+.2f}"


def markdown(result) -> str:
    lines = [
        "### Top-label calibration and log-likelihood of skxc's probabilities",
        "",
        f"`{result['command']}`",
        "",
        f"{result['date']}; {result['machine']}. Each model fitted once on the training split; scored on the first "
        f"{result['max_test_rows']:,} test rows (at most; *rows*: how many) of classes it has seen. ECE over {BINS} equal-width bins of the top "
        "class's probability, in points. *Top-label map*: ``top_label_calibration_`` (slope, offset of the top "
        "class's log-odds). *Best factor*: the factor on the log-probabilities (temperature divided "
        "by it) that maximises the test log-likelihood, chosen on the test rows (a diagnostic, not a method).",
        "",
        "| data set | column | rows | top-1 % | mean top prob. % | ECE | log-lik. | T | beta | top-label map | "
        "best factor | log-lik. there | ECE there | fit s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, runs in result["data_sets"].items():
        for col, r in runs.items():
            lines.append(
                f"| {name} | {col} | {r.get('n_scored', '')} | {100 * r['top1']:.2f} | {100 * r['mean_top_proba']:.1f} | {100 * r['ece']:.1f} | "
                f"{r['log_likelihood']:.3f} | {r['temperature']:.3g} | {r['beta']:g} | {_map(r)} | {r['test_best_factor']:.2f} | "
                f"{r['test_best_log_likelihood']:.3f} | {100 * r['test_best_ece']:.1f} | {r['fit_seconds']:.1f} |"
            )
    lines += ["", columns_line(result)]
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="+", help="data set directories in the shared format, or 'generated'")
    p.add_argument("--threads", type=positive_int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--max-test-rows", type=positive_int, default=3000, help="test rows scored (n x classes float64 each)"
    )
    p.add_argument(
        "--variant", action="append", default=[], metavar="NAME=JSON",
        help='an extra column: estimator parameters and/or module constants, e.g. raw=\'{"skxc._blend.TOP_LABEL": false}\'',
    )  # fmt: skip
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--name", default=None)
    a = p.parse_args(argv)
    check_data_dirs(p, a.data, GENERATED_NAMES)
    check_specs(p, a.data)
    check_out_dir(p, a.out)
    columns = {"defaults": {}, **parse_variants(a.variant, p)}
    from skxc import AdversarialSoftmaxClassifier

    result = run_record("calibration", argv, columns, max_test_rows=a.max_test_rows)
    with tempfile.TemporaryDirectory() as tmp:
        for d in a.data:
            path = materialise(d, tmp)[0]
            X, y = load_split(path, "train")
            Xt, yt = load_split(path, "test")
            Xt, yt = Xt[: a.max_test_rows], yt[: a.max_test_rows]
            warm_kernels(X, y, Xt, random_state=a.seed, n_jobs=a.threads)  # not in the first fit's seconds
            runs = {}
            for col, params in columns.items():
                with module_constants(params) as params:  # module constants for this column only
                    clf = AdversarialSoftmaxClassifier(random_state=a.seed, n_jobs=a.threads, **params)
                    t0 = time.perf_counter()
                    clf.fit(X, y)
                    runs[col] = {"fit_seconds": time.perf_counter() - t0, **evaluate(clf, Xt, yt)}
                r = runs[col]
                print(
                    f"-- {path.name} {col}: top-1 {100 * r['top1']:.2f}, mean top prob {100 * r['mean_top_proba']:.1f},"
                    f" ECE {100 * r['ece']:.1f}, best factor {r['test_best_factor']:.2f}",
                    flush=True,
                )
            result["data_sets"][path.name] = runs
            write_results(a.out, "calibration", a.name, result, markdown(result), echo=False)
    write_results(a.out, "calibration", a.name, result, markdown(result))


if __name__ == "__main__":
    main()
