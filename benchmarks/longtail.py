"""Out-of-the-box accuracy on long-tailed data: skxc at its defaults against napkinXC, nearest centroid and softmax.

For each data set (a directory in the format of ``shared/data/*/``, ``generated``,
``generated-many``, ``generated-embeddings``, or ``DIR@min_rows=K`` / ``DIR@top=K[,rows=N]``: the classes of DIR with at
least K training rows / its K most frequent classes, see below) and
each system, one run in its own child process with the same number of threads: top-1,
top-5, fit seconds, predict seconds and peak memory, side by side in one markdown table
(issue 13).

    python -m benchmarks.longtail ../shared/data/bibtex generated --threads 2 --out benchmarks/results

Systems:

- ``skxc``: ``AdversarialSoftmaxClassifier(random_state=seed, n_jobs=threads)``, every other
  parameter at its default (the numba kernels are loaded on a small fit first, outside the timings);
- ``skxc-uniform``: the same with ``noise="uniform"``;
- ``napkinxc-plt``: napkinXC's PLT at its defaults (``benchmarks._peers.run_napkinxc``);
- ``centroid``: sparse nearest centroid (``benchmarks._centroid``), Euclidean and cosine; the
  table shows the better of the two on the *test* rows, and names it; both are recorded;
- ``logreg``: scikit-learn's multinomial ``LogisticRegression`` (lbfgs, C=1.0), run to
  convergence (``max_iter`` 10,000 by default), only where n_classes <= 2,000.

``--variant NAME=JSON`` adds a skxc run with extra constructor parameters, e.g.
``--variant ep30='{"max_iter": 30}'`` (shown as ``skxc[ep30]``). A key of the form
``"skxc.<module>.<NAME>"`` sets that module constant in the variant's process instead,
e.g. ``--variant lr1='{"skxc._blend.SLOWER": 1.0}'`` (the blend's pilots keep the
learning rate), so that an internal choice can be compared side by side in one run.

``DIR@min_rows=K`` makes a public stand-in for a shape that no shared set has: e.g.
``../shared/data/gcide-reverse@min_rows=8`` keeps gcide-reverse's 984 classes with at least
8 training rows (11,422 rows, about 12 per class, tf-idf text), their test rows, and the
features that occur in the kept training rows. It is built in a temporary directory on each
run (nothing is stored), deterministically. ``DIR@top=K,rows=N`` keeps DIR's K most frequent
classes and the first N of their training rows (all their test rows): e.g.
``../shared/data/ptb-nextword@top=1000,rows=200000``, 200 rows per class on average.
``DIR@bag=K`` adds to each row of a next-word set in ptb-nextword's layout (rows in text order,
one-hot blocks of the three previous words) a bag of the K words before those three, at value 0.3
in a fourth block of columns: ``../shared/data/ptb-nextword@bag=17`` has 18 non-zeros per row, the
shape of one-hot context plus bag-of-words features that no shared set has. With ``top`` and ``rows``
(``DIR@bag=K,top=T,rows=N``) the bag comes first: ``../shared/data/ptb-nextword@bag=17,top=1200,rows=25000``
(1,136 classes present in 25,000 rows, median 6 and mean 22 rows per class, 15,326 features) stands in for
tf-idf-like text with about 20 rows per class where a trained model beats the centroid by far.
``DIR@lsa=K`` (or ``DIR@min_rows=M,lsa=K``) turns a tf-idf set into dense K-d embeddings: a truncated SVD
of the training rows (``TruncatedSVD(K)``, latent semantic analysis), every row L2-normalised, the shape of
sentence embeddings: ``../shared/data/gcide-reverse@lsa=384`` is gcide-reverse's long tail as dense 384-d
rows, a public stand-in for embedded text that no shared set has.
``generated-many`` is ``generated``'s generator with 1,000 classes and 100,000 training rows (100
per class on average): with ptb-nextword, the shape of many rows per class.
``text300``, ``text1200`` and ``text1200b`` are generated topic text (``benchmarks/_topic_text.py``): tf-idf
documents with 300 / 1,200 / 1,200 Zipf-distributed classes and 5,000 / 20,000 / 57,000 words, about 10-20
rows per class, the shape of issue 13's first held-out set.
``generated-embeddings`` is the generator as dense embeddings of a long tail: 20,000 classes in 384
dimensions, rows scaled to unit length, 76,000 training rows (median 2 per class), 24,000 test rows; the
shape of embedded text (issue 13's third held-out set), with more signal than the LSA stand-in.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from benchmarks import _common
from benchmarks._common import (
    check_out_dir,
    load_split,
    machine,
    missing_data_dirs,
    peak_rss_mb,
    positive_float,
    positive_int,
    set_module_constants,
    variant_error,
    warm_kernels,
    write_json,
)
from benchmarks._peers import (
    REPEAT_SECONDS,
    own_peak_mib,
    reset_peak_memory,
    skxc_fit_record,
    timed_fit_top5,
    topk_accuracy,
)
from benchmarks._topic_text import TOPIC_TEXT_SETS, describe_topic_text, write_topic_text

SYSTEMS = ("skxc", "skxc-uniform", "napkinxc-plt", "centroid", "logreg")
GENERATED = "generated"
# the generated set: make_hierarchical_classification, 2,000 classes, 10,000 training rows (5 per class on
# average, median 2: Zipf class frequencies), 5,000 test rows, 64 dense features stored as CSR
GENERATED_PARAMS = {"n_samples": 15_000, "n_features": 64, "n_classes": 2_000, "random_state": 0}
GENERATED_TRAIN = 10_000
# the same generator with many rows per class: 1,000 classes, 100,000 training rows (100 per class on average,
# median 45), 30,000 test rows; the shape of ptb-nextword's (93 rows per class), which no other set has
GENERATED_MANY = "generated-many"
GENERATED_MANY_PARAMS = {"n_samples": 130_000, "n_features": 64, "n_classes": 1_000, "random_state": 0}
GENERATED_MANY_TRAIN = 100_000
# the same generator as dense embeddings of a long tail (the shape of issue 13's third held-out set, embedded
# text): 20,000 classes (15,910 with training rows) in 384 dimensions, every row scaled to unit length,
# 76,000 training rows (median 2 per class), 24,000 test rows
GENERATED_EMBEDDINGS = "generated-embeddings"
GENERATED_EMBEDDINGS_PARAMS = {"n_samples": 100_000, "n_features": 384, "n_classes": 20_000, "random_state": 0}
GENERATED_EMBEDDINGS_TRAIN = 76_000
#: name -> (generator parameters, training rows, rows scaled to unit length)
GENERATED_SETS = {
    GENERATED: (GENERATED_PARAMS, GENERATED_TRAIN, False),
    GENERATED_MANY: (GENERATED_MANY_PARAMS, GENERATED_MANY_TRAIN, False),
    GENERATED_EMBEDDINGS: (GENERATED_EMBEDDINGS_PARAMS, GENERATED_EMBEDDINGS_TRAIN, True),
}
#: Every generated set's name: those of ``GENERATED_SETS`` and the topic text of ``benchmarks._topic_text``.
GENERATED_NAMES = (*GENERATED_SETS, *TOPIC_TEXT_SETS)
_CHILD = "--_child"


# -- children ------------------------------------------------------------------------------------------------


def _load(spec):
    X, y = load_split(spec["data_dir"], "train")
    Xt, yt = load_split(spec["data_dir"], "test")
    return X[: spec["train_rows"]], y[: spec["train_rows"]], Xt[: spec["test_rows"]], yt[: spec["test_rows"]]


def run_skxc(spec: dict) -> dict:
    """skxc at its defaults plus ``spec["params"]`` (e.g. noise="uniform", or a variant's)."""
    from skxc import AdversarialSoftmaxClassifier

    X, y, Xt, yt = _load(spec)
    params, _ = set_module_constants(spec["params"])  # this child process keeps them
    kw = dict(random_state=spec["seed"], n_jobs=spec["threads"], **params)
    warm_s = warm_kernels(X, y, Xt, **kw)  # numba kernels loaded (or compiled) outside the timings
    reset_peak_memory()  # the warm-up's model (dense on a small slice) is not the measured fit's
    rec, clf = skxc_fit_record(AdversarialSoftmaxClassifier(**kw), X, y, Xt, yt, spec.get("repeats", 1))
    rec.update(
        numba_warmup_seconds=warm_s,
        n_iter=int(clf.n_iter_),
        n_negatives=int(clf.n_negatives_),
        tree_fit_seconds=getattr(clf, "tree_fit_seconds_", None),
        epoch_seconds=[float(s) for s in getattr(clf, "epoch_seconds_", [])],
        coef_stored=int(clf.coef_.nnz if sp.issparse(clf.coef_) else clf.coef_.size),
        coef_mib=_coef_bytes(clf.coef_) / 2**20,
        learning_rate=float(clf.learning_rate_),
        centroid_blend=float(getattr(clf, "centroid_blend_", 0.0)),
        score_temperature=float(getattr(clf, "score_temperature_", 1.0)),
    )
    return rec


def _coef_bytes(coef) -> int:
    """Bytes of coef_ as stored: the dense array, or CSR data, indices and indptr."""
    if sp.issparse(coef):
        return coef.data.nbytes + coef.indices.nbytes + coef.indptr.nbytes
    return coef.nbytes


def run_centroid(spec: dict) -> dict:
    """Sparse nearest centroid, Euclidean and cosine; the better on the test rows is the record's figures."""
    from benchmarks._centroid import SparseNearestCentroid

    X, y, Xt, yt = _load(spec)
    metrics = {}
    for metric in ("euclidean", "cosine"):
        clf, runs = SparseNearestCentroid(metric=metric), []
        fit_s, predict_s, top = timed_fit_top5(clf, (X, y), Xt, repeats=spec.get("repeats", 1), runs=runs)
        metrics[metric] = {
            "fit_seconds": fit_s,
            "fit_seconds_runs": runs,
            "predict_seconds": predict_s,
            **topk_accuracy(top, yt),
            "centroid_nnz": int(clf.centroids_.nnz),
        }
    best = max(metrics, key=lambda m: (metrics[m]["top1"], metrics[m]["top5"]))
    rec = {
        **metrics[best],
        "metric": best,
        "metrics": metrics,
        "peak_memory_mib": own_peak_mib(),
        "params": {"metric": best, "block_rows": SparseNearestCentroid().block_rows},
        "n_test": int(Xt.shape[0]),
        "note": "metric chosen on the test rows (the better top-1 of Euclidean and cosine)",
    }
    return rec


def _runner(system):
    from benchmarks import _peers

    if system.startswith("skxc"):
        return run_skxc
    if system.startswith("napkinxc-"):
        return _peers.run_napkinxc
    if system == "logreg":
        return _peers.run_logreg
    if system == "centroid":
        return run_centroid
    raise ValueError(system)


def child_main(spec_path, out_path):
    with open(spec_path) as f:
        spec = json.load(f)
    rec = _runner(spec["kind"])(dict(spec, system=spec["kind"]))
    rec["peak_memory_mib_total"] = own_peak_mib()
    rec["ru_maxrss_mib"] = peak_rss_mb()  # inflated by the parent's peak (see own_peak_mib)
    write_json(out_path, rec)


# -- data sets (parent) ------------------------------------------------------------------------------------------


def write_generated(out_dir, name: str = GENERATED) -> Path:
    """The generated set ``name`` (one of ``GENERATED_NAMES``) in the shared format (CSR npz + npy) in
    ``out_dir/name``."""
    from skxc.datasets import make_hierarchical_classification

    if name in TOPIC_TEXT_SETS:
        return write_topic_text(out_dir, name)
    params, n, unit_rows = GENERATED_SETS[name]
    X, y = make_hierarchical_classification(**params)
    if unit_rows:
        X /= np.linalg.norm(X, axis=1, keepdims=True)
    d = Path(out_dir) / name
    d.mkdir(parents=True, exist_ok=True)
    X = sp.csr_matrix(X.astype(np.float32))
    sp.save_npz(d / "X_train.npz", X[:n])
    sp.save_npz(d / "X_test.npz", X[n:])
    np.save(d / "y_train.npy", y[:n])
    np.save(d / "y_test.npy", y[n:])
    return d


def write_frequent(data_dir, min_rows: int | None, out_dir, top: int | None = None, rows: int | None = None) -> Path:
    """``data_dir`` restricted to its classes with at least ``min_rows`` training rows, or to its ``top`` most
    frequent ones (train and test rows of those classes; the features that occur in the kept training rows),
    then to the first ``rows`` training rows if given, in the shared format in ``out_dir``."""
    X, y = load_split(data_dir, "train")
    Xt, yt = load_split(data_dir, "test")
    labels, counts = np.unique(y, return_counts=True)
    if top is not None:
        frequent = labels[np.argsort(-counts, kind="stable")[:top]]
    else:
        frequent = labels[counts >= min_rows]
    keep, keep_test = np.isin(y, frequent), np.isin(yt, frequent)
    X, y, Xt, yt = X[keep][:rows], y[keep][:rows], Xt[keep_test], yt[keep_test]
    columns = np.unique(X.indices)
    spec = ",".join(f"{k}={v}" for k, v in (("min_rows", min_rows), ("top", top), ("rows", rows)) if v is not None)
    d = Path(out_dir) / f"{Path(data_dir).name}@{spec}"
    d.mkdir(parents=True, exist_ok=True)
    sp.save_npz(d / "X_train.npz", sp.csr_matrix(X[:, columns]))
    sp.save_npz(d / "X_test.npz", sp.csr_matrix(Xt[:, columns]))
    np.save(d / "y_train.npy", y)
    np.save(d / "y_test.npy", yt)
    return d


#: Value of each earlier word of ``DIR@bag=K`` (the three previous words' one-hot entries are 1).
BAG_VALUE = 0.3


def write_bag(data_dir, bag: int, out_dir) -> Path:
    """``data_dir`` (a next-word set as ptb-nextword: rows in text order, each with one entry in each third of
    the columns, the first third the previous word) with a bag of the ``bag`` words before its three
    previous words added to every row: ``BAG_VALUE`` in one more block of columns for each of those words,
    duplicates summed (a row near the start of its split has fewer), in the shared format in ``out_dir``."""
    d = Path(out_dir) / f"{Path(data_dir).name}@bag={bag}"
    d.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        X, y = load_split(data_dir, split)
        X = sp.csr_matrix(X)
        n, vocabulary = X.shape[0], X.shape[1] // 3
        if X.nnz != 3 * n or np.any(X.indices.reshape(n, 3).min(axis=1) >= vocabulary):
            raise ValueError(f"{data_dir}: @bag needs three one-hot blocks per row, the first the previous word")
        previous = X.indices.reshape(n, 3).min(axis=1)  # the first block's column: the previous word
        # row t's bag: the previous words of rows t-3 .. t-bag-2, i.e. the words t-4 .. t-bag-3
        lags = [np.arange(lag, n) for lag in range(3, 3 + bag)]
        extra = sp.csr_matrix(
            (np.full(sum(r.shape[0] for r in lags), BAG_VALUE, dtype=np.float32),
             (np.concatenate(lags), np.concatenate([previous[r - lag] for lag, r in zip(range(3, 3 + bag), lags, strict=True)]))),
            shape=(n, vocabulary),
        )  # fmt: skip
        extra.sum_duplicates()
        sp.save_npz(d / f"X_{split}.npz", sp.csr_matrix(sp.hstack([X, extra], format="csr"), dtype=np.float32))
        np.save(d / f"y_{split}.npy", y)
    return d


#: Power iterations of the truncated SVD of ``DIR@lsa=K``.
LSA_ITERATIONS = 5


def write_lsa(data_dir, n_components: int, out_dir, name: str) -> Path:
    """``data_dir``'s rows as dense ``n_components``-d embeddings (``name`` in ``out_dir``, the shared format,
    stored as CSR): scikit-learn's ``TruncatedSVD(n_components, n_iter=LSA_ITERATIONS, random_state=0)``
    fitted on the training rows (latent semantic analysis of tf-idf text), each row then L2-normalised as
    sentence embeddings are, float32."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    X, y = load_split(data_dir, "train")
    Xt, yt = load_split(data_dir, "test")
    svd = TruncatedSVD(n_components, n_iter=LSA_ITERATIONS, random_state=0).fit(X)
    d = Path(out_dir) / name
    d.mkdir(parents=True, exist_ok=True)
    for split, rows, labels in (("train", X, y), ("test", Xt, yt)):
        Z = normalize(svd.transform(rows)).astype(np.float32)
        sp.save_npz(d / f"X_{split}.npz", sp.csr_matrix(Z))
        np.save(d / f"y_{split}.npy", labels)
    return d


def spec_options(data_dir: str) -> dict[str, int]:
    """The options of a data set argument ``DIR@SPEC`` as positive ints ({} for a plain directory or a generated
    set); ValueError naming the argument for a key other than ``min_rows``, ``top``, ``rows``, ``bag`` and
    ``lsa``, a value that is not a positive integer, or a filter other than ``min_rows=K`` or ``top=K``
    (optionally with ``rows=N``) beside ``bag`` / ``lsa``. Checked before anything runs (:func:`check_specs`)."""
    if data_dir in GENERATED_NAMES or "@" not in data_dir:
        return {}
    spec = data_dir.rsplit("@", 1)[1]
    opts = {}
    for item in spec.split(","):
        key, _, value = item.partition("=")
        if key not in {"min_rows", "top", "rows", "bag", "lsa"}:
            raise ValueError(
                f"{data_dir!r}: unknown option {key!r}; expected min_rows, top, rows, bag or lsa (module docstring)"
            )
        if key in opts:
            raise ValueError(f"{data_dir!r}: option {key!r} given twice")
        try:
            opts[key] = int(value)
        except ValueError:
            opts[key] = 0
        if opts[key] < 1:
            raise ValueError(f"{data_dir!r}: {key} must be a positive integer; got {value!r}")
    rest = {k for k in opts if k not in ("bag", "lsa")}
    if rest and (not rest <= {"min_rows", "top", "rows"} or ("min_rows" in rest) == ("top" in rest)):
        raise ValueError(f"{data_dir!r}: expected DIR@min_rows=K or DIR@top=K, optionally with ,rows=N")
    return opts


def check_specs(parser, data) -> None:
    """``parser.error`` for the first data set argument among ``data`` whose ``@`` options :func:`spec_options`
    refuses, or for two arguments that would get the same name (the results are keyed by it, so one would
    replace the other): right after parsing, not once the sets before it have run."""
    for d in data:
        try:
            spec_options(d)
        except ValueError as error:
            parser.error(str(error))
    seen = {}
    for d in data:
        source, _, options = d.partition("@")
        name = Path(source).name + (f"@{options}" if options else "")
        if name in seen:
            parser.error(
                f"{seen[name]!r} and {d!r} would both be named {name!r} in the results (the folder's name): "
                "give each data set once, from folders of different names"
            )
        seen[name] = d


def materialise(data_dir: str, tmp) -> tuple[Path, str]:
    """``(directory, name)`` of a data set argument: a directory as is; the generated sets (``GENERATED_NAMES``),
    ``DIR@min_rows=K`` / ``DIR@top=K[,rows=N]``, ``DIR@bag=K[,top=T[,rows=N]]`` and ``DIR@[min_rows=K,]lsa=K`` written to
    ``tmp`` (module docstring)."""
    if data_dir in GENERATED_NAMES:
        return write_generated(tmp, data_dir), data_dir
    if "@" in data_dir:
        source = data_dir.rsplit("@", 1)[0]
        opts = spec_options(data_dir)
        if "lsa" in opts:  # the rest of the spec first (or the directory as is), then its embeddings
            n_components = opts.pop("lsa")
            rest = f"{source}@{','.join(f'{k}={v}' for k, v in opts.items())}" if opts else source
            path, name = materialise(rest, tmp)
            name = f"{name}{',' if opts else '@'}lsa={n_components}"
            return write_lsa(path, n_components, tmp, name), name
        if "bag" in opts:  # the bag first (it needs the rows in text order), then the rest of the spec
            path = write_bag(Path(source).resolve(), opts.pop("bag"), tmp)
            if not opts:
                return path, path.name
            return materialise(f"{path}@{','.join(f'{k}={v}' for k, v in opts.items())}", tmp)
        path = write_frequent(Path(source).resolve(), opts.get("min_rows"), tmp, opts.get("top"), opts.get("rows"))
        return path, path.name
    return Path(data_dir).resolve(), Path(data_dir).name


def describe(data_dir, train_rows, test_rows) -> dict:
    """Shape of a data set (after dropping y < 0 and the row limits), without loading X."""
    d = Path(data_dir)
    y = np.load(d / "y_train.npy")
    yt = np.load(d / "y_test.npy")
    y = y[y >= 0][:train_rows]
    yt = yt[yt >= 0][:test_rows]
    with np.load(d / "X_train.npz") as z:
        n_features = int(z["shape"][1])
        nnz = int(z["data"].shape[0])
        n_rows_all = int(z["shape"][0])
    classes, counts = np.unique(y, return_counts=True)
    train_count = dict(zip(classes.tolist(), counts.tolist(), strict=True))
    test_counts = np.array([train_count.get(int(c), 0) for c in yt])
    return {
        "n_train": int(y.size),
        "n_test": int(yt.size),
        "n_features": n_features,
        "n_classes": int(classes.size),
        "median_rows_per_class": float(np.median(counts)),
        "mean_rows_per_class": float(counts.mean()),
        "test_share_unseen_class": float(np.mean(test_counts == 0)),
        "test_share_class_le5_train_rows": float(np.mean(test_counts <= 5)),
        "mean_nnz_per_train_row": nnz / max(n_rows_all, 1),
    }


# -- report --------------------------------------------------------------------------------------------------------


def _secs(v):
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"


def _pct(v):
    return "—" if v is None else f"{100 * v:.2f} %"


def markdown(result) -> str:
    m = result["machine"]
    lines = [
        f"### Long-tail comparison, {result['args']['threads']} threads",
        "",
        f"`{result['command']}`",
        "",
        f"{result['created']}; {m['platform']}, {m['cpus']} CPUs, {m['memory_gib']:.0f} GiB, Python {m['python']}; "
        f"{', '.join(f'{k} {v}' for k, v in m['versions'].items())}. 1-min load average "
        f"{result['loadavg_1min_start']:.1f} at start. One run per system, each in its own process"
        + _repeats_text(result["args"].get("repeats", 1))
        + (", the systems' order rotated by one per data set (`--rotate`)" if result["args"].get("rotate") else "")
        + ". Fit and predict "
        "seconds exclude data loading; skxc's numba kernels are loaded on a small fit first, outside both. "
        "Predict = top-5 of the whole test set. Peak memory = the process's peak resident set (VmHWM) after fit "
        "and prediction, interpreter and data included. Test rows whose class has no training row count as errors.",
        "",
        "| data set | train rows / features / classes / median rows per class | test rows (≤ 5 train rows / unseen class) | system "
        "| top-1 | top-5 | fit (s) | predict (s) | peak memory (MiB) | load before/after | notes |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for ds in result["datasets"]:
        info = ds["info"]
        shape = (
            f"{info['n_train']:,} / {info['n_features']:,} / {info['n_classes']:,} / {info['median_rows_per_class']:g}"
        )
        test = (
            f"{info['n_test']:,} ({100 * info['test_share_class_le5_train_rows']:.0f} % / "
            f"{100 * info['test_share_unseen_class']:.0f} %)"
        )
        order = list(result["args"].get("systems", [])) + [f"skxc[{n}]" for n in result.get("variants", {})]
        for rec in sorted(ds["runs"], key=lambda r: order.index(r["system"]) if r["system"] in order else len(order)):
            load = (
                f"{rec['loadavg_1min_before']:.1f} / {rec['loadavg_1min_after']:.1f}"
                if "loadavg_1min_before" in rec
                else ""
            )
            if "skipped" in rec or "error" in rec:
                lines.append(
                    f"| {ds['name']} | {shape} | {test} | {rec['system']} | — | — | — | — | — | {load} | "
                    f"{str(rec.get('skipped') or rec.get('error')).replace('|', '/')} |"
                )
                continue
            notes = []
            if rec["system"] == "centroid":
                other = "cosine" if rec["metric"] == "euclidean" else "euclidean"
                o = rec["metrics"][other]
                notes.append(f"{rec['metric']} (chosen on test); {other}: {_pct(o['top1'])} / {_pct(o['top5'])}")
            if rec["system"] == "logreg":
                notes.append(
                    f"{rec['n_iter']} iterations, "
                    + ("converged" if rec.get("converged") else "NOT converged (max_iter reached)")
                )
            if rec["system"].startswith("skxc"):
                # the negatives are recorded from stop 23 on
                negatives = f" x {rec['n_negatives']} negatives" if "n_negatives" in rec else ""
                notes.append(f"{rec['n_iter']} epochs{negatives}")
                if "learning_rate" in rec:  # results written before these were recorded lack them
                    notes.append(
                        f"learning rate {rec['learning_rate']:.3g}, beta {rec['centroid_blend']:g}, "
                        f"T {rec['score_temperature']:.2f}"
                    )
                if "coef_mib" in rec:
                    notes.append(f"coef_ {rec['coef_stored']:,} weights, {rec['coef_mib']:,.0f} MiB")
                if rec.get("fit_fault_mib_runs"):  # recorded from stop 68 on
                    notes.append(f"fresh pages in fit {np.median(rec['fit_fault_mib_runs']):,.0f} MiB")
            lines.append(
                f"| {ds['name']} | {shape} | {test} | {rec['system']} | {_pct(rec['top1'])} | {_pct(rec['top5'])} | "
                f"{_secs(rec['fit_seconds'])} | {_secs(rec['predict_seconds'])} | {rec['peak_memory_mib']:.0f} | {load} | "
                f"{'; '.join(notes)} |"
            )
    lines += ["", "Systems:", ""]
    for label, params in result["skxc_systems"].items():
        lines.append(
            f"- {label}: `AdversarialSoftmaxClassifier(random_state={result['args']['seed']}, "
            f"n_jobs={result['args']['threads']}{''.join(f', {k}={v!r}' for k, v in params.items())})`, "
            "other parameters at their defaults"
        )
    peers = {
        "napkinxc-plt": "- napkinxc-plt: `napkinxc.models.PLT` at its defaults, `threads` as above, one-label lists",
        "centroid": "- centroid: sparse nearest centroid (`benchmarks/_centroid.py`), the better of Euclidean and cosine "
        "by test top-1 (named in the notes, the other's top-1 / top-5 beside it)",
        "logreg": f"- logreg: `LogisticRegression(solver='lbfgs', C=1.0, max_iter={result['args']['logreg_max_iter']})` "
        f"(multinomial), only where n_classes ≤ {result['args']['logreg_max_classes']:,}",
    }
    lines += [text for system, text in peers.items() if system in result["args"]["systems"]]
    for gen, (params, n_train, unit_rows) in GENERATED_SETS.items():
        if any(ds["name"] == gen for ds in result["datasets"]):
            unit = ", every row scaled to unit length" if unit_rows else ""
            lines.append(
                f"- {gen}: `skxc.datasets.make_hierarchical_classification({', '.join(f'{k}={v:_}' for k, v in params.items())})`"
                f"{unit}, first {n_train:,} rows train, the rest test (dense features stored as CSR)"
            )
    lines += [
        describe_topic_text(name) for name in TOPIC_TEXT_SETS if any(ds["name"] == name for ds in result["datasets"])
    ]
    if result["args"]["max_train_rows"] or result["args"]["max_test_rows"]:
        lines.append(
            f"- row limits: first {result['args']['max_train_rows'] or 'all'} training rows, "
            f"first {result['args']['max_test_rows'] or 'all'} test rows"
        )
    return "\n".join(lines) + "\n"


def _repeats_text(repeats: int) -> str:
    if repeats <= 1:
        return ""
    return (
        f"; skxc, napkinXC and the centroid fitted up to {repeats} times in it (fewer once the fits total "
        f"{REPEAT_SECONDS:.0f} s), fit seconds their median, the other figures from the last fit"
    )


def _machine() -> dict:
    import importlib.metadata as md

    info = machine()
    info["platform"] = platform.platform(terse=True)
    info["memory_gib"] = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = {}
    for pkg in ("skxc", "numba", "scikit-learn", "napkinxc"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    info["versions"] = versions
    return info


def _variant(text):
    name, sep, params = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=JSON, got {text!r}")
    try:
        params = json.loads(params)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"variant {name}: {e}") from e
    if not isinstance(params, dict):
        raise argparse.ArgumentTypeError(f"variant {name}: JSON must be an object")
    error = variant_error(params)
    if error:
        raise argparse.ArgumentTypeError(f"variant {name}: {error}")
    return name, params


def _print_run(rec):
    if "error" in rec or "skipped" in rec:
        print(f"   {rec['system']}: {rec.get('error') or rec.get('skipped')}", flush=True)
        return
    print(
        f"   {rec['system']}: fit {rec['fit_seconds']:.1f} s, predict {rec['predict_seconds']:.1f} s, "
        f"{rec['peak_memory_mib']:.0f} MiB, top1 {rec['top1']:.4f}, top5 {rec['top5']:.4f}",
        flush=True,
    )


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == _CHILD:
        return child_main(argv[1], argv[2])
    if argv and argv[0] == "--render":  # rewrite the .md of a finished run's .json (e.g. after a format change)
        result = json.loads(Path(argv[1]).read_text())
        Path(argv[1]).with_suffix(".md").write_text(markdown(result))
        return print(markdown(result))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "data_dirs", nargs="+", metavar="DATA_DIR", help=f"data set directories in the shared format, or '{GENERATED}'"
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
        help="an extra skxc run with these constructor parameters, e.g. ep30='{\"max_iter\": 30}'",
    )
    p.add_argument("--threads", type=positive_int, default=2, help="threads for every system")
    p.add_argument(
        "--rotate",
        action="store_true",
        help="run the systems in an order rotated by one per data set (the first system of each set, which runs "
        "right after the set is prepared, was the slowest to fit on a virtual machine)",
    )
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--name", default=None, help="output file suffix: longtail_<name>.json/.md")
    p.add_argument("--seed", type=int, default=0, help="skxc's random_state")
    p.add_argument("--max-train-rows", type=positive_int, default=None, help="use only the first N training rows")
    p.add_argument("--max-test-rows", type=positive_int, default=None, help="use only the first N test rows")
    p.add_argument(
        "--timeout", type=positive_float, default=3600.0, help="seconds per child process before it is killed"
    )
    p.add_argument("--logreg-max-classes", type=int, default=2000)
    p.add_argument("--logreg-max-iter", type=int, default=10_000)
    p.add_argument(
        "--repeats",
        type=positive_int,
        default=1,
        help="fit skxc, napkinXC and the centroid up to N times each in its process and report the median fit "
        f"seconds (fewer fits once they total {REPEAT_SECONDS:.0f} s)",
    )
    args = p.parse_args(argv)
    bad = [s for s in args.systems if s not in SYSTEMS]
    if bad:
        p.error(f"unknown system(s) {bad}; choose from {', '.join(SYSTEMS)}")
    missing = missing_data_dirs(args.data_dirs, GENERATED_NAMES)
    if missing:
        p.error(f"no such data set directory: {', '.join(missing)}")
    check_specs(p, args.data_dirs)
    names = [n for n, _ in args.variant]
    if len(set(names)) != len(names):
        p.error("variant names must differ")
    check_out_dir(p, args.out)

    skxc_systems = {"skxc": {}, "skxc-uniform": {"noise": "uniform"}}
    skxc_systems = {k: v for k, v in skxc_systems.items() if k in args.systems}
    skxc_systems.update({f"skxc[{n}]": params for n, params in args.variant})
    systems = list(args.systems) + [f"skxc[{n}]" for n in names]

    out = Path(args.out)
    stem = "longtail" + (f"_{args.name}" if args.name else "")
    command = "python -m benchmarks.longtail " + " ".join(shlex.quote(a) for a in argv)
    result = {
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "args": {k: v for k, v in vars(args).items() if k != "variant"},
        "variants": dict(args.variant),
        "skxc_systems": skxc_systems,
        "machine": _machine(),
        "loadavg_1min_start": os.getloadavg()[0],
        "datasets": [],
    }

    def save():
        write_json(out / f"{stem}.json", result)
        (out / f"{stem}.md").write_text(markdown(result))

    with tempfile.TemporaryDirectory(prefix="skxc_longtail_") as tmp:
        for data_dir in args.data_dirs:
            path, name = materialise(data_dir, tmp)
            info = describe(path, args.max_train_rows, args.max_test_rows)
            ds = {"name": name, "data_dir": data_dir if name in GENERATED_NAMES or "@" in data_dir else str(path),
                  "info": info, "runs": []}  # fmt: skip
            result["datasets"].append(ds)
            print(f"== {name}: {info}", flush=True)
            base = {
                "data_dir": str(path),
                "threads": args.threads,
                "seed": args.seed,
                "ll_rows": 10_000,
                "train_rows": args.max_train_rows,
                "test_rows": args.max_test_rows,
                "repeats": args.repeats,
            }
            shift = len(result["datasets"]) - 1 if args.rotate else 0
            for system in systems[shift % len(systems) :] + systems[: shift % len(systems)]:
                if system == "logreg" and info["n_classes"] > args.logreg_max_classes:
                    rec = {"system": system, "skipped": f"{info['n_classes']:,} classes > {args.logreg_max_classes:,}"}
                else:
                    spec = dict(base, kind=system.split("[")[0] if system.startswith("skxc") else system)
                    if system.startswith("skxc"):
                        spec["params"] = skxc_systems[system]
                    elif system == "logreg":
                        spec["params"] = {"solver": "lbfgs", "C": 1.0, "max_iter": args.logreg_max_iter}
                    print(f"-- {name}: {system}", flush=True)
                    rec = _common.run_child(
                        "benchmarks.longtail", _CHILD, system, spec, tmp, args.threads, timeout=args.timeout
                    )
                ds["runs"].append(rec)
                _print_run(rec)
                save()
    result["loadavg_1min_end"] = os.getloadavg()[0]
    save()
    print()
    print(markdown(result))
    print(f"wrote {out / stem}.json and .md")


if __name__ == "__main__":
    main()
