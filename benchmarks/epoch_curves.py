"""Test top-1 per epoch budget, adversarial against uniform noise, on several data sets in one run.

Issue 13's target "adversarial >= uniform at every epoch budget from 1 epoch on, on every
set": for each data set, each noise (and any ``--variant``) and each budget E of
``--budgets``, a fresh model is fitted with ``max_iter=E`` (the default linear
learning-rate schedule runs its whole course within the budget, so the model after
epoch E of a longer fit is not the model a budget of E gives) and evaluated on the
test rows (evaluation time is not counted as training time).

    python -m benchmarks.epoch_curves ../shared/data/bibtex generated --budgets 1 2 5 10 --out benchmarks/results

Writes ``epoch_curves[_NAME].json`` and ``.md``: a table per data set, a row per budget.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from datetime import datetime, timezone

import numpy as np

from benchmarks._common import load_split, machine, parse_variants, write_results
from benchmarks.longtail import materialise


def curve(X, y, Xt, yt, params, budgets, threads, seed):
    """Test top-1 / top-5 and training seconds of a fresh fit with ``max_iter=E`` for each budget E."""
    from skxc import AdversarialSoftmaxClassifier

    out = []
    for budget in budgets:
        clf = AdversarialSoftmaxClassifier(random_state=seed, n_jobs=threads, **{**params, "max_iter": budget})
        t0 = time.perf_counter()
        clf.fit(X, y)
        train_s = time.perf_counter() - t0
        top = clf.predict_top_k(Xt, k=5)
        out.append(
            {
                "epoch": budget,
                "train_seconds": train_s,
                "top1": float(np.mean(top[:, 0] == yt)),
                "top5": float(np.mean((top == yt[:, None]).any(axis=1))),
            }
        )
    return out


def markdown(result) -> str:
    lines = [
        f"### Test top-1 per epoch budget, {result['threads']} threads",
        "",
        f"`{result['command']}`",
        "",
        f"{result['date']}; {result['machine']}. One fit per cell: a fresh model with `max_iter` = the "
        "budget (the linear learning-rate schedule runs its course within it); seconds are that fit's "
        "training time (evaluation excluded).",
        "",
    ]
    for name, runs in result["data_sets"].items():
        cols = list(runs)
        lines += [f"**{name}** ({runs[cols[0]]['n_test']:,} test rows)", ""]
        lines.append("| epochs | " + " | ".join(f"{c} top-1 (s)" for c in cols) + " |")
        lines.append("|---:|" + "---:|" * len(cols))
        for e in range(len(runs[cols[0]]["curve"])):
            cells = [
                f"{100 * runs[c]['curve'][e]['top1']:.2f} % ({runs[c]['curve'][e]['train_seconds']:.1f})" for c in cols
            ]
            lines.append(f"| {runs[cols[0]]['curve'][e]['epoch']} | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append("Columns: " + "; ".join(f"{k}: `{json.dumps(v)}`" for k, v in result["columns"].items()))
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="+", help="data set directories in the shared format, or 'generated'")
    p.add_argument("--budgets", type=int, nargs="+", default=[1, 2, 3, 5, 10], help="epoch budgets (max_iter)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-train-rows", type=int, default=None)
    p.add_argument("--max-test-rows", type=int, default=None)
    p.add_argument("--variant", action="append", default=[], metavar="NAME=JSON", help="an extra column")
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--name", default=None)
    a = p.parse_args(argv)
    columns = {"adversarial": {}, "uniform": {"noise": "uniform"}, **parse_variants(a.variant)}
    result = {
        "command": "python -m benchmarks.epoch_curves " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:])),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": json.dumps(machine()),
        "threads": a.threads,
        "columns": columns,
        "data_sets": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for d in a.data:
            path = materialise(d, tmp)[0]  # generated sets and stand-ins, as in benchmarks.longtail
            X, y = load_split(path, "train")
            Xt, yt = load_split(path, "test")
            X, y = X[: a.max_train_rows], y[: a.max_train_rows]
            Xt, yt = Xt[: a.max_test_rows], yt[: a.max_test_rows]
            runs = {}
            for col, params in columns.items():
                print(f"-- {path.name}: {col}", flush=True)
                runs[col] = {
                    "n_test": int(Xt.shape[0]),
                    "curve": curve(X, y, Xt, yt, params, a.budgets, a.threads, a.seed),
                }
                print("   " + " ".join(f"{100 * r['top1']:.2f}" for r in runs[col]["curve"]), flush=True)
            result["data_sets"][path.name] = runs
    write_results(a.out, "epoch_curves", a.name, result, markdown(result))


if __name__ == "__main__":
    main()
