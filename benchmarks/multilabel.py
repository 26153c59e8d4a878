"""Multi-label benchmark: skxc trained on all labels (pick-all-labels) against napkinXC's PLT and fastText.

For each data set in ``shared/data`` with a label indicator matrix (Y_train.npz,
Y_test.npz), fit each system once on the training split, one thread each, and
report P@1/3/5, nDCG@5 and PSP@5 on the test split, all computed by
``skxc.metrics`` from each system's top-5 labels (propensities from the
training labels, A=0.55, B=1.5), plus fit and predict seconds. Loading and
converting the data are never timed.

Systems (``--systems``, default all four, run in the order given on each data set):

- ``skxc``: ``AdversarialSoftmaxClassifier(random_state=seed, n_jobs=1)``,
  defaults otherwise, fitted on the label-indicator matrix (all labels); top 5
  by ``predict_top_k``. Its numba kernels are compiled on a small warm-up fit
  first, so its fit time excludes compilation (numba's on-disk cache makes
  later runs start warm too).
- ``napkinxc-plt``: ``napkinxc.models.PLT(threads=1, seed=seed)``, defaults
  otherwise, fed the CSR matrix and each row's list of labels; top 5 by
  ``predict(top_k=5)``.
- ``fasttext-ova``, ``fasttext-softmax``: ``fasttext.train_supervised`` with
  ``loss="ova"`` (one independent sigmoid per label; every label of a line is
  a target at every visit) or ``loss="softmax"`` (on a line with several
  labels fastText draws one of them as the target at each visit, so over the
  epochs it trains on all of them), ``thread=1``, ``seed=seed`` and
  ``FASTTEXT_PARAMS`` (dim 100, 25 epochs; lr 0.1 for ova, 0.5 for softmax),
  fastText's supervised defaults otherwise (word unigrams, no subwords,
  ``minCount`` 1, lr decaying linearly to 0). The lr and epochs were chosen
  on validation splits (``--valid``, lr 0.05/0.1/0.2 for ova, 0.2/0.5/1.0
  for softmax, 10 or 25 epochs): for each loss the one setting with the best
  mean P@1 over the three sets (``results/multilabel_fasttext_valid.md``).
  Fewer updates leave it under-trained on these small sets (bibtex ova at
  lr 0.1 x 10 epochs: P@1 26 %; fastText's default is 5 epochs). bibtex
  wants a larger lr than 0.1, but ova diverges at lr 0.2 x 25 epochs on
  delicious (983 labels, whose gradients add up on the hidden layer), so one
  setting for all three sets leaves bibtex's ova short of its best (43 % on
  validation, 55 % at lr 0.2).

  Input, written by the helpers of ``benchmarks._peers`` that
  ``benchmarks.compare`` uses for ptb: a text file with one line per
  training row, a ``__label__<j>`` word for each of its labels j, then one
  word per non-zero feature, the feature's name from ``features.txt``
  (``fasttext_tokens``: whitespace replaced by "_"), each once. The values
  are dropped: every feature of bibtex, delicious and corel5k is binary (the
  script checks, and warns otherwise), so a row's words are exactly its
  non-zero features, and fastText's sentence vector (the mean of the word
  vectors) is a linear function of the binary row, scaled by one over its
  number of words. The test rows are the same words without labels; top 5
  by ``model.predict(lines, k=5)``.

  The input vectors start from a file (``pretrainedVectors``) holding a
  vector uniform on [-1/dim, 1/dim] (seeded by ``seed``) for every word of
  the training file: the initialisation fastText intends, but at
  ``thread=1`` applies to only a tenth of its input matrix (the rest keeps
  zeros or stale memory, which is what ended many runs with "Encountered
  NaN"; see ``_peers.write_fasttext_init``). Reading that file (about 0.1 s)
  is inside the timed fit; writing it is not. A run that still stops with
  "Encountered NaN" is recorded with NaN metrics and its error; it is not
  retried.

A fastText system may carry parameter overrides, e.g.
``--systems fasttext-ova:lr=0.05:epoch=25`` (that is how the grid on the
validation splits was run), and so may skxc, e.g. ``skxc:centroid_blend=0``
(the model without the centroid blend) or ``skxc:max_iter=10``; ``skxc:row_weight_power=1``
fits with row weights ``1 / |Y_i|`` (``row_weights``: every row's labels weigh as much in all), and a key
``skxc.<module>.<NAME>`` sets that module constant for the system's fits (e.g.
``skxc:skxc._blend.MULTILABEL_FASTER=1``, the fit without the faster multi-label pilot).

Data sets are directories under ``--data-root``, or the generated multi-label topic text of
``benchmarks._topic_text`` (``mltext4k``, ``mltext30k``: tf-idf text with 4,000 and 30,000 labels, the shapes
of EURLex-4K and Wiki10-31K, which no shared set has), written to a temporary directory first (not timed).

Usage::

    python -m benchmarks.multilabel [--data-root ../shared/data] [--datasets bibtex delicious corel5k]
        [--systems skxc napkinxc-plt fasttext-ova fasttext-softmax] [--valid] [--name NAME]

Writes ``benchmarks/results/multilabel[_NAME].md`` and ``.json`` (``--out``
sets the directory). With ``--valid`` the test split is not read: a random
20 % of the training rows (seeded by ``--seed``) is held out and scored, and
the other 80 % are trained on.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

from benchmarks._common import (  # noqa: E402
    check_data_dirs,
    check_out_dir,
    machine,
    module_constants,
    positive_int,
    warmup_rows,
    write_json,
)
from benchmarks._peers import REPEAT_SECONDS, napkinxc_top5, timed_fit_top5  # noqa: E402
from benchmarks._topic_text import (  # noqa: E402
    MULTILABEL_TOPIC_TEXT_SETS,
    describe_multilabel_topic_text,
    write_multilabel_topic_text,
)
from skxc import AdversarialSoftmaxClassifier  # noqa: E402
from skxc.metrics import ndcg_at_k, precision_at_k, propensity, psp_at_k  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SYSTEMS = ("skxc", "napkinxc-plt", "fasttext-ova", "fasttext-softmax")
METRICS = ("P@1", "P@3", "P@5", "nDCG@5", "PSP@5")
#: fastText's parameters per loss (besides thread=1 and seed); chosen on validation splits (module docstring).
FASTTEXT_PARAMS = {
    "ova": {"lr": 0.1, "epoch": 25, "dim": 100},
    "softmax": {"lr": 0.5, "epoch": 25, "dim": 100},
}
VALID_FRACTION = 0.2


def load(data_dir: Path):
    # csr_matrix: napkinXC rejects a csr_array (what a file saved from one loads as)
    X = sp.csr_matrix(sp.load_npz(data_dir / "X_train.npz"))
    Xt = sp.csr_matrix(sp.load_npz(data_dir / "X_test.npz"))
    Y = sp.csr_matrix(sp.load_npz(data_dir / "Y_train.npz"))
    Yt = sp.csr_matrix(sp.load_npz(data_dir / "Y_test.npz"))
    Y.data[:] = 1
    Yt.data[:] = 1
    return X, Y.astype(np.int8), Xt, Yt.astype(np.int8)


def load_valid(data_dir: Path, seed: int, fraction: float = VALID_FRACTION):
    """The training split only: a random ``fraction`` of its rows (seeded) held out as the evaluation set."""
    X, Y, _, _ = load(data_dir)
    perm = np.random.default_rng(seed).permutation(X.shape[0])
    n_valid = int(round(fraction * X.shape[0]))
    held, kept = np.sort(perm[:n_valid]), np.sort(perm[n_valid:])
    return X[kept], Y[kept], X[held], Y[held]


def metrics(Yt, top, prop) -> dict:
    return {
        "P@1": precision_at_k(Yt, top, k=1),
        "P@3": precision_at_k(Yt, top, k=3),
        "P@5": precision_at_k(Yt, top, k=5),
        "nDCG@5": ndcg_at_k(Yt, top, k=5),
        "PSP@5": psp_at_k(Yt, top, propensities=prop, k=5),
    }


def run_skxc(X, Y, Xt, seed: int, repeats: int = 1, runs: list | None = None, **params):
    """``(top 5, fit seconds, predict seconds)``; ``repeats`` and ``runs``: see ``_peers.timed_fit_top5``.

    ``row_weight_power=g`` (not an estimator parameter) fits with ``sample_weight`` from :func:`row_weights`.
    """
    power = params.pop("row_weight_power", None)
    with module_constants(params) as params:  # "skxc.<module>.<NAME>" keys: constants set for this system only
        clf = AdversarialSoftmaxClassifier(random_state=seed, n_jobs=1, **params)
        fit_args = (X, Y) if power is None else (X, Y, row_weights(Y, power))
        fit_s, predict_s, top = timed_fit_top5(clf, fit_args, Xt, repeats=repeats, runs=runs)
    return top, fit_s, predict_s


def row_weights(Y, power: float) -> np.ndarray:
    """Row weights ``|Y_i| ** -power`` (1 for rows without labels), scaled to mean 1 over the rows with labels:
    ``power=1`` gives every row's labels the same total weight (pick-all-labels normalised, Menon et al. 2019)."""
    n_labels = np.asarray((sp.csr_matrix(Y) != 0).sum(axis=1), dtype=np.float64).ravel()  # stored zeros: no label
    w = np.where(n_labels > 0, np.maximum(n_labels, 1.0) ** -float(power), 1.0)
    return w / w[n_labels > 0].mean()


def run_plt(X, Y, Xt, seed: int, repeats: int = 1, runs: list | None = None) -> tuple[np.ndarray, float, float]:
    from napkinxc.models import PLT

    labels = [lab.tolist() for lab in np.split(Y.indices, Y.indptr[1:-1])]
    with tempfile.TemporaryDirectory(prefix="skxc_plt_") as tmp:
        model = PLT(tmp, threads=1, seed=seed)
        fit_s, predict_s, top = timed_fit_top5(model, (X, labels), Xt, napkinxc_top5, repeats, runs)
    return top, fit_s, predict_s


def generated(data_root, name: str) -> bool:
    """Whether data set ``name`` is generated here (a key of ``MULTILABEL_TOPIC_TEXT_SETS`` that is no directory
    under ``data_root``)."""
    return name in MULTILABEL_TOPIC_TEXT_SETS and not (Path(data_root) / name).is_dir()


def overrides(items) -> dict:
    """``["lr=0.05", "epoch=25"]`` -> ``{"lr": 0.05, "epoch": 25}`` (ints stay ints, other numbers are floats,
    None / True / False those constants, anything else a string, e.g. ``skxc:noise=None``)."""
    params = {}
    for item in items:
        key, value = item.split("=", 1)
        if value in ("None", "True", "False"):
            params[key] = {"None": None, "True": True, "False": False}[value]
            continue
        try:
            params[key] = int(value) if value.lstrip("-").isdigit() else float(value)
        except ValueError:
            params[key] = value
    return params


def skxc_system(name: str) -> dict:
    """``"skxc:centroid_blend=0"`` -> ``{"centroid_blend": 0}``: the estimator's parameters besides the defaults."""
    head, *items = name.split(":")
    if head != "skxc":
        raise ValueError(name)
    return overrides(items)


def fasttext_system(name: str) -> tuple[str, dict]:
    """``"fasttext-ova:lr=0.05:epoch=25"`` -> ``("ova", FASTTEXT_PARAMS["ova"] with lr 0.05 and epoch 25)``."""
    head, *items = name.split(":")
    loss = head.split("-", 1)[1]
    params = dict(FASTTEXT_PARAMS[loss])
    params.update({k: float(v) if isinstance(v, str) else v for k, v in overrides(items).items()})
    return loss, params


def run_fasttext(X, Y, Xt, seed: int, loss: str, params: dict, data_dir) -> tuple:
    """fastText on the rows' feature names as words (``benchmarks._peers``); ``top`` is None if it stopped
    with NaN. Returns ``(top, fit seconds, predict seconds, extra record fields)``."""
    from benchmarks._peers import (
        fasttext_fit_top,
        fasttext_lines,
        fasttext_tokens,
        fasttext_train_words,
        feature_names,
        write_fasttext_file,
        write_fasttext_init,
    )

    if not (np.all(X.data == 1) and np.all(Xt.data == 1)):
        print("warning: fastText reads each non-zero feature as one word; non-binary values are lost", flush=True)
    tokens = np.array(fasttext_tokens(feature_names(data_dir, X.shape[1])), dtype=object)
    params = {"loss": loss, **params, "thread": 1, "seed": seed}
    with tempfile.TemporaryDirectory(prefix="skxc_fasttext_") as tmp:
        train, init = Path(tmp) / "train.txt", Path(tmp) / "init.vec"
        write_fasttext_file(train, X, Y, tokens)
        write_fasttext_init(init, fasttext_train_words(X, tokens), params["dim"], seed)
        text = fasttext_lines(Xt, None, tokens)
        extra = {"params": params, "example_line": fasttext_lines(X[:1], Y[:1], tokens)[0]}
        try:
            _, fit_s, predict_s, top = fasttext_fit_top(train, text, dict(params, pretrainedVectors=str(init)))
        except RuntimeError as exc:  # "Encountered NaN."
            print(f"   fastText {loss} {params}: {exc}", flush=True)
            return None, float("nan"), float("nan"), dict(extra, error=str(exc))
    return top, fit_s, predict_s, extra


def display_name(system: str) -> str:
    if system == "skxc":
        return "skxc (all labels)"
    if system.startswith("skxc:"):
        return "skxc (" + ", ".join(f"{k}={v}" for k, v in skxc_system(system).items()) + ")"
    if system == "napkinxc-plt":
        return "napkinXC PLT"
    loss, params = fasttext_system(system)
    if ":" not in system:
        return f"fastText {loss}"
    return f"fastText {loss} (lr {params['lr']}, {params['epoch']} epochs, dim {params['dim']})"


def describe(system: str, seed: int) -> str:
    """One line of the markdown header: what the system is."""
    if system.split(":")[0] == "skxc":
        params = skxc_system(system)
        power = params.pop("row_weight_power", None)
        constants = "".join(f"; module constant `{k} = {params.pop(k)!r}`" for k in list(params) if "." in k)
        kw = "".join(f", {k}={v!r}" for k, v in params.items())
        weights = (
            ""
            if power is None
            else f" with `sample_weight=row_weights(Y, {power!r})` (rows weighted 1 / |Y_i|^{power})"
        ) + constants
        return (
            f"{display_name(system)}: `AdversarialSoftmaxClassifier(random_state={seed}, n_jobs=1{kw})`, defaults "
            f"otherwise, on the label-indicator matrix{weights}; kernels compiled on a warm-up fit first (not timed)."
        )
    if system == "napkinxc-plt":
        return f"napkinXC PLT: `PLT(threads=1, seed={seed})`, defaults otherwise."
    loss, params = fasttext_system(system)
    kw = ", ".join(f"{k}={v!r}" for k, v in {"loss": loss, **params, "thread": 1, "seed": seed}.items())
    return f"{display_name(system)}: `train_supervised({kw})`, fastText's defaults otherwise."


FASTTEXT_INPUT = (
    "fastText input: one line per row, a `__label__<j>` word per label j, then one word per non-zero feature "
    "(its name in `features.txt`; the features are binary, so no value is lost); the test rows' words without "
    "labels go to `model.predict(lines, k=5)`. The input vectors start uniform on [-1/dim, 1/dim] from a file "
    "(`pretrainedVectors`, read inside the timed fit), as fastText means to start them: by itself, at "
    "thread=1, it initialises only a tenth of its input matrix."
)


def markdown(result: dict) -> str:
    lines = [
        "# Multi-label, all labels: " + " vs ".join(display_name(s) for s in result["systems"]),
        "",
        f"{result['created']}; {result['machine']['cpus']} CPUs, {result['machine']['machine']}, Python "
        f"{result['machine']['python']}; 1-minute load average {result['loadavg_1min_start']:.1f} at start, "
        f"{result['loadavg_1min_end']:.1f} at end (a shared machine: fit seconds are noisy). "
        f"Command: `{result['command']}`.",
        "",
        f"One run each, one thread, seed {result['seed']}, "
        + (
            f"skxc and napkinXC fitted up to {result['repeats']} times (fewer once the fits total "
            f"{REPEAT_SECONDS:.0f} s), fit s "
            "their median and the other figures from the last fit, "
            if result.get("repeats", 1) > 1
            else ""
        )
        + (
            f"scored on a held-out {100 * VALID_FRACTION:.0f} % of the training rows (trained on the rest; the "
            "test split is not used)"
            if result["valid"]
            else "trained on the training split, scored on the test split"
        )
        + "; metrics in percent from `skxc.metrics` on each system's top-5 labels (PSP@5 normalised, "
        "propensities A=0.55, B=1.5 from the training labels). Data loading and conversion are not timed.",
        "",
        "Systems:",
        "",
        *[f"- {describe(s, result['seed'])}" for s in result["systems"]],
        "",
        *([*result["generated"], ""] if result.get("generated") else []),
        *([FASTTEXT_INPUT, ""] if any(s.startswith("fasttext") for s in result["systems"]) else []),
        "| data set | system | " + " | ".join(METRICS) + " | fit s | predict s |",
        "|---|---|" + "---:|" * (len(METRICS) + 2),
    ]
    for r in result["records"]:
        lines.append(
            f"| {r['dataset']} | {r['system']}"
            + (f" ({r['error']})" if "error" in r else "")
            + " | "
            + " | ".join(f"{100 * r[c]:.2f}" for c in METRICS)
            + f" | {r['fit_seconds']:.2f} | {r['predict_seconds']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--datasets", nargs="+", default=["bibtex", "delicious", "corel5k"])
    ap.add_argument(
        "--systems",
        nargs="+",
        default=list(SYSTEMS),
        metavar="SYSTEM",
        help=f"any of {', '.join(SYSTEMS)}, run in the order given; skxc and fastText may carry overrides, e.g. "
        "skxc:centroid_blend=0; fastText ones override "
        "FASTTEXT_PARAMS, e.g. fasttext-ova:lr=0.05:epoch=25 (default: all four)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--valid",
        action="store_true",
        help=f"score a held-out {100 * VALID_FRACTION:.0f} %% of the training rows instead of the test split",
    )
    ap.add_argument(
        "--repeats",
        type=positive_int,
        default=1,
        help="fit skxc and napkinXC up to N times each and report the median fit seconds (fewer fits once they "
        f"total {REPEAT_SECONDS:.0f} s; fastText fits once)",
    )
    ap.add_argument("--out", default=str(RESULTS), help="output directory")
    ap.add_argument("--name", default=None, help="output files multilabel_<NAME>.md/.json (default multilabel.*)")
    args = ap.parse_args(argv)
    for s in args.systems:
        try:
            ok = s in SYSTEMS[:2] or (s.split(":")[0] in SYSTEMS[2:] and fasttext_system(s))
            ok = ok or (s.startswith("skxc:") and skxc_system(s) is not None)
        except (KeyError, IndexError, ValueError):
            ok = False
        if not ok:
            ap.error(f"unknown system {s!r}; choose from {', '.join(SYSTEMS)} (fastText ones with :key=value)")
    check_data_dirs(ap, [Path(args.data_root) / name for name in args.datasets if not generated(args.data_root, name)])
    check_out_dir(ap, args.out)
    stem = Path(args.out) / ("multilabel" + (f"_{args.name}" if args.name else ""))

    # generated sets are written first, to a temporary directory (removed at exit), not timed
    tmp = tempfile.TemporaryDirectory(prefix="skxc_multilabel_")
    data_dirs, described = {}, []
    for name in dict.fromkeys(args.datasets):  # each once
        data_dirs[name] = Path(args.data_root) / name
        if generated(args.data_root, name):
            data_dirs[name] = write_multilabel_topic_text(tmp.name, name)
            described.append(name)

    if any(s.split(":")[0] == "skxc" for s in args.systems):  # compile skxc's kernels outside the timed fits
        Xw, Yw, _, _ = load(data_dirs[args.datasets[0]])
        few = warmup_rows(Xw.shape[0], 1200)
        run_skxc(Xw[few], Yw[few], Xw[:10], 0, max_iter=1)

    result = {
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m benchmarks.multilabel" + "".join(" " + shlex.quote(a) for a in argv),
        "machine": machine(),
        "loadavg_1min_start": os.getloadavg()[0],
        "seed": args.seed,
        "valid": args.valid,
        "repeats": args.repeats,
        "systems": args.systems,
        "records": [],
    }

    def save() -> str:  # the record so far (load average: at the last run) as .json and .md; the markdown
        result["loadavg_1min_end"] = os.getloadavg()[0]
        write_json(f"{stem}.json", result)
        text = markdown(result)
        Path(f"{stem}.md").write_text(text)
        return text

    if described:
        result["generated"] = [describe_multilabel_topic_text(name) for name in described]
    for name in args.datasets:
        data_dir = data_dirs[name]
        X, Y, Xt, Yt = load_valid(data_dir, args.seed) if args.valid else load(data_dir)
        prop = propensity(Y)
        for system in args.systems:
            runs = []
            if system.split(":")[0] == "skxc":
                top, fit_s, predict_s = run_skxc(X, Y, Xt, args.seed, args.repeats, runs, **skxc_system(system))
                extra = {"fit_seconds_runs": runs}
            elif system == "napkinxc-plt":
                top, fit_s, predict_s = run_plt(X, Y, Xt, args.seed, args.repeats, runs)
                extra = {"fit_seconds_runs": runs}
            else:
                loss, params = fasttext_system(system)
                top, fit_s, predict_s, extra = run_fasttext(X, Y, Xt, args.seed, loss, params, data_dir)
            rec = {"dataset": name, "system": display_name(system), "fit_seconds": fit_s, "predict_seconds": predict_s}
            rec.update(extra)
            rec.update(dict.fromkeys(METRICS, float("nan")) if top is None else metrics(Yt, top, prop))
            result["records"].append(rec)
            save()  # after each run, so that a crash keeps the runs before
            print(
                f"{name:10s} {rec['system']:18s} "
                + " ".join(f"{k} {rec[k]:.4f}" for k in METRICS)
                + f" fit {fit_s:.2f} s predict {predict_s:.2f} s",
                flush=True,
            )
    print(save())


if __name__ == "__main__":
    main()
