"""Test top-1 per epoch budget, adversarial against uniform noise, on several data sets in one run.

Issue 13's target "adversarial >= uniform at every epoch budget from 1 epoch on, on every
set": for each data set, each noise (and any ``--variant``) and each budget E of
``--budgets``, a fresh model is fitted with ``max_iter=E`` (the default linear
learning-rate schedule runs its whole course within the budget, so the model after
epoch E of a longer fit is not the model a budget of E gives) and evaluated on the
test rows (evaluation time is not counted as training time).

    python -m benchmarks.epoch_curves ../shared/data/bibtex generated --budgets 1 2 5 10 --out benchmarks/results

``--seeds N`` fits every cell with the seeds ``--seed`` .. ``--seed + N - 1``; each cell then gives the mean
top-1 over the seeds, and each column after the first (adversarial noise) the paired difference of the first
column to it: the mean over seeds of first-column top-1 minus this column's, its standard error over the test
rows (each row's correct-at-top-1 difference averaged over the seeds, then the sample standard deviation of
these per-row means over the square root of the number of rows; the seeds are averaged out, the rows are the
units) and the number of seeds where the first column is above / below. Two threads (``--threads``' default)
make Hogwild updates race, so a rerun of one seed can differ; ``--threads 1`` reproduces a run exactly.

Writes ``epoch_curves[_NAME].json`` (every seed's top-1, top-5 and seconds per cell) and ``.md``: a table per
data set, a row per budget.
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
    top_k_padded,
    warm_kernels,
    write_results,
)
from benchmarks.longtail import GENERATED_NAMES, check_specs, materialise


def curve(X, y, Xt, yt, params, budgets, threads, seed, correct=None):
    """Test top-1 / top-5 and training seconds of a fresh fit with ``max_iter=E`` for each budget E; with a
    list ``correct``, each fit's per-test-row top-1 hits (a boolean array) are appended to it. ``params``:
    estimator parameters and module constants (keys ``"skxc.<module>.<NAME>"``, set for these fits only)."""
    from skxc import AdversarialSoftmaxClassifier

    out = []
    for budget in budgets:
        with module_constants(params) as estimator_params:
            clf = AdversarialSoftmaxClassifier(
                random_state=seed, n_jobs=threads, **{**estimator_params, "max_iter": budget}
            )
            t0 = time.perf_counter()
            clf.fit(X, y)
            train_s = time.perf_counter() - t0
            top = top_k_padded(clf, Xt, 5)
        if correct is not None:
            correct.append(top[:, 0] == yt)
        out.append(
            {
                "epoch": budget,
                "train_seconds": train_s,
                "top1": float(np.mean(top[:, 0] == yt)),
                "top5": float(np.mean((top == yt[:, None]).any(axis=1))),
            }
        )
    return out


def paired_difference(first, other) -> dict:
    """Paired difference ``first - other`` of per-row top-1 hits, arrays of shape (seeds, test rows).

    ``mean``: the mean over seeds of the difference in top-1 (a fraction); ``se``: its standard error with the
    test rows as units, the sample standard deviation (ddof=1) of the per-row differences averaged over the
    seeds, over the square root of the number of rows; ``above`` / ``below``: the number of seeds where
    ``first``'s top-1 is above / below ``other``'s."""
    d = np.asarray(first, dtype=float) - np.asarray(other, dtype=float)
    per_row = d.mean(axis=0)
    per_seed = d.mean(axis=1)
    return {
        "mean": float(per_row.mean()),
        "se": float(per_row.std(ddof=1) / np.sqrt(per_row.size)),
        "above": int((per_seed > 0).sum()),
        "below": int((per_seed < 0).sum()),
    }


def over_seeds(curves, correct, cols, seeds):
    """One curve per column from per-seed curves: mean top-1 / top-5 / seconds over the seeds, every seed's
    values under ``per_seed`` and, for each column after the first, ``paired_difference(first, column)``.
    ``curves[col][i]`` is the curve of ``seeds[i]``, ``correct[col][i][e]`` its per-row hits at budget index e."""
    out = {}
    for col in cols:
        rows = []
        for e, first in enumerate(curves[col][0]):
            per_seed = [{"seed": seed, **c[e]} for seed, c in zip(seeds, curves[col], strict=True)]
            row = {"epoch": first["epoch"]}
            for key in ("train_seconds", "top1", "top5"):
                row[key] = float(np.mean([r[key] for r in per_seed]))
            row["per_seed"] = per_seed
            if col != cols[0]:
                row["difference"] = paired_difference([c[e] for c in correct[cols[0]]], [c[e] for c in correct[col]])
            rows.append(row)
        out[col] = rows
    return out


def markdown(result) -> str:
    seeds = result.get("seeds")
    lines = [
        f"### Test top-1 per epoch budget, {result['threads']} threads",
        "",
        f"`{result['command']}`",
        "",
        f"{result['date']}; {result['machine']}. One fit per cell{' and seed' if seeds else ''}: a fresh model "
        "with `max_iter` = the budget (the linear learning-rate schedule runs its course within it); seconds "
        "are that fit's training time (evaluation excluded).",
        "",
    ]
    if seeds:
        first = next(iter(result["columns"]))
        lines += [
            f"Seeds {seeds[0]}-{seeds[-1]} ({len(seeds)} fits per cell): top-1 and seconds are means over the "
            f"seeds. `{first} - X` is the paired difference in top-1 points: the mean over seeds of {first}'s "
            "top-1 minus X's, ± its standard error over the test rows (each test row's difference in "
            "correct-at-top-1, 1 / 0 / -1, averaged over the seeds; the sample standard deviation, ddof=1, of "
            "these per-row means over the square root of the number of test rows), then (a/b): the number of "
            f"seeds where {first} is above / below X.",
            "",
        ]
    for name, runs in result["data_sets"].items():
        cols = list(runs)
        lines += [f"**{name}** ({runs[cols[0]]['n_test']:,} test rows)", ""]
        head = [f"{c} top-1 (s)" for c in cols] + ([f"{cols[0]} - {c}" for c in cols[1:]] if seeds else [])
        lines.append("| epochs | " + " | ".join(head) + " |")
        lines.append("|---:|" + "---:|" * len(head))
        for e in range(len(runs[cols[0]]["curve"])):
            cells = [
                f"{100 * runs[c]['curve'][e]['top1']:.2f} % ({runs[c]['curve'][e]['train_seconds']:.1f})" for c in cols
            ]
            if seeds:
                for c in cols[1:]:
                    d = runs[c]["curve"][e]["difference"]
                    cells.append(f"{100 * d['mean']:+.2f} ± {100 * d['se']:.2f} ({d['above']}/{d['below']})")
            lines.append(f"| {runs[cols[0]]['curve'][e]['epoch']} | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append(columns_line(result))
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="+", help="data set directories in the shared format, or 'generated'")
    p.add_argument("--budgets", type=positive_int, nargs="+", default=[1, 2, 3, 5, 10], help="epoch budgets (max_iter)")
    p.add_argument("--threads", type=positive_int, default=2, help="n_jobs; 1 reproduces a run exactly")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=int, default=1, help="fit each cell with seeds SEED .. SEED+N-1 (module docstring)")
    p.add_argument("--max-train-rows", type=positive_int, default=None)
    p.add_argument("--max-test-rows", type=positive_int, default=None)
    p.add_argument("--variant", action="append", default=[], metavar="NAME=JSON", help="an extra column")
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--name", default=None)
    a = p.parse_args(argv)
    check_data_dirs(p, a.data, GENERATED_NAMES)
    check_specs(p, a.data)
    check_out_dir(p, a.out)
    columns = {"adversarial": {}, "uniform": {"noise": "uniform"}, **parse_variants(a.variant, p)}
    result = run_record("epoch_curves", argv, columns, threads=a.threads)
    if a.seeds < 1:
        p.error("--seeds must be at least 1")
    seeds = list(range(a.seed, a.seed + a.seeds))
    if a.seeds > 1:
        result["seeds"] = seeds
    with tempfile.TemporaryDirectory() as tmp:
        for d in a.data:
            path = materialise(d, tmp)[0]  # generated sets and stand-ins, as in benchmarks.longtail
            X, y = load_split(path, "train")
            Xt, yt = load_split(path, "test")
            X, y = X[: a.max_train_rows], y[: a.max_train_rows]
            Xt, yt = Xt[: a.max_test_rows], yt[: a.max_test_rows]
            warm_kernels(X, y, Xt, random_state=a.seed, n_jobs=a.threads)  # not in the first cell's seconds
            curves, correct = {}, {}
            for col, params in columns.items():
                curves[col], correct[col] = [], []
                for seed in seeds:
                    print(f"-- {path.name}: {col}" + (f", seed {seed}" if a.seeds > 1 else ""), flush=True)
                    hits = []
                    curves[col].append(curve(X, y, Xt, yt, params, a.budgets, a.threads, seed, hits))
                    correct[col].append(hits)
                    print("   " + " ".join(f"{100 * r['top1']:.2f}" for r in curves[col][-1]), flush=True)
            if a.seeds > 1:
                curves = over_seeds(curves, correct, list(columns), seeds)
            else:
                curves = {col: c[0] for col, c in curves.items()}
            result["data_sets"][path.name] = {
                col: {"n_test": int(Xt.shape[0]), "curve": c} for col, c in curves.items()
            }
            write_results(a.out, "epoch_curves", a.name, result, markdown(result), echo=False)
    write_results(a.out, "epoch_curves", a.name, result, markdown(result))


if __name__ == "__main__":
    main()
