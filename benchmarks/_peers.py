"""Peer systems of ``benchmarks.compare``: fastText, napkinXC, scikit-learn's LogisticRegression.

Each ``run_*`` function runs inside its own child process (see ``compare.py``)
and returns one record: fit and predict seconds, peak memory after fit +
top-5 prediction, top-1/top-5 test accuracy and, where the system gives a
normalised distribution over the classes, the mean test log-likelihood on the
same row subsample as skxc. Data loading and conversion are never timed as fit.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._common import load_split, peak_rss_mb, top_k_padded

FASTTEXT_LABEL = "__label__"
FASTTEXT_EOS = "</s>"
# fastText splits words on space, \n, \t, \v, \f, \r and \0; \s covers these (and more).
_FASTTEXT_SEPARATORS = re.compile(r"[\s\x00]")


# -- shared helpers ----------------------------------------------------------------------------------


def own_peak_mib() -> float:
    """Peak resident memory (MiB) of this process since it started its program: Linux's VmHWM.

    Not ``ru_maxrss``: Linux carries the parent's peak over fork + exec into the child's
    ``ru_maxrss`` (and so into the parent's ``RUSAGE_CHILDREN``), so a child started by a
    parent that once held 2 GB reports at least 2 GB whatever it used itself. Falls back to
    ``ru_maxrss`` where /proc is missing."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return peak_rss_mb()


def reset_peak_memory() -> None:
    """Reset this process's VmHWM to its current resident set (Linux: ``/proc/self/clear_refs`` "5"),
    so that :func:`own_peak_mib` measures from here; a no-op where that is not possible."""
    import gc

    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def ll_row_subset(y_test: np.ndarray, known_classes: np.ndarray, ll_rows: int | None, seed: int) -> np.ndarray:
    """The test rows scored for the log-likelihood: the same choice as ``_common.evaluate``
    (``ll_rows`` random rows, sorted), restricted to rows whose class was seen in training."""
    rows = np.arange(y_test.shape[0])
    if ll_rows is not None and ll_rows < y_test.shape[0]:
        rows = np.sort(np.random.default_rng(seed).choice(y_test.shape[0], ll_rows, replace=False))
    return rows[np.isin(y_test[rows], known_classes)]


def topk_accuracy(top: np.ndarray, y: np.ndarray) -> dict:
    """Top-1 and top-k accuracy of an (n, k) array of predicted classes (-1 = no prediction)."""
    return {"top1": float(np.mean(top[:, 0] == y)), "top5": float(np.mean((top == y[:, None]).any(axis=1)))}


#: Repeated fits (``repeats`` > 1) stop once the fits so far took this many seconds.
REPEAT_SECONDS = 60.0


def minor_faults_mib() -> float | None:
    """MiB of memory this process has touched for the first time so far: its minor page faults times the page
    size (None where ``resource`` does not say). A transparent huge page counts as one fault, so this is
    the fresh memory of code on small pages, as skxc's fits are (``skxc._memory``). On a virtual machine that
    backs its memory on first touch, fresh pages are a large and variable part of a fit's time
    (docs/benchmarks.rst, "Stop 68")."""
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt * resource.getpagesize() / 2**20
    except (ImportError, OSError, AttributeError):
        return None


def timed_fit_top5(
    model, fit_args, Xt, predict=None, repeats: int = 1, runs: list | None = None, faults: list | None = None
):
    """``(fit seconds, predict seconds, predictions)``: ``model.fit(*fit_args)``, then the top 5 of ``Xt``
    (``predict(model, Xt)``, default ``model.predict_top_k(Xt, k=5)``, padded with -1 below 5 classes).

    ``repeats`` > 1 fits the model up to that many times, one after the other in this process (fewer once
    they total ``REPEAT_SECONDS``), and reports the median fit seconds, the predictions of the last fit;
    every fit's seconds are appended to ``runs`` (a list) if given, and the MiB of fresh pages it touched
    (:func:`minor_faults_mib`) to ``faults``. A single fit's time varies by 20-40 %
    on a shared machine; the median of three is steadier for the ratios of fit times between systems.
    """
    times = []
    while True:
        before = minor_faults_mib()
        t0 = time.perf_counter()
        model.fit(*fit_args)
        times.append(time.perf_counter() - t0)
        after = minor_faults_mib()
        if faults is not None and before is not None and after is not None:
            faults.append(after - before)
        if len(times) >= repeats or sum(times) >= REPEAT_SECONDS:
            break
    if runs is not None:
        runs.extend(times)
    t0 = time.perf_counter()
    top = top_k_padded(model, Xt, 5) if predict is None else predict(model, Xt)
    return float(np.median(times)), time.perf_counter() - t0, top


def napkinxc_top5(model, Xt):
    """napkinXC's top 5 of ``Xt`` as an (n, 5) class array (-1 pads rows with fewer)."""
    return pad_top(model.predict(Xt, top_k=5))


def skxc_fit_record(clf, X, y, Xt, yt, repeats: int = 1) -> tuple[dict, object]:
    """Fit skxc ``clf`` and predict the test top 5: the record every skxc runner starts from, and ``clf``
    (``repeats``: see :func:`timed_fit_top5`)."""
    runs, faults = [], []
    fit_s, predict_s, top = timed_fit_top5(clf, (X, y), Xt, repeats=repeats, runs=runs, faults=faults)
    rec = {
        "fit_seconds": fit_s,
        "fit_seconds_runs": runs,
        "fit_fault_mib_runs": faults,
        "predict_seconds": predict_s,
        "peak_memory_mib": own_peak_mib(),
        "params": {k: v for k, v in clf.get_params().items() if k != "verbose"},
        "n_test": int(Xt.shape[0]),
    }
    rec.update(topk_accuracy(top, yt))
    return rec, clf


def pad_top(lists, k: int = 5) -> np.ndarray:
    """List of per-row predicted-class lists (maybe shorter than k) -> (n, k) int array padded with -1."""
    out = np.full((len(lists), k), -1, dtype=np.int64)
    for i, r in enumerate(lists):
        r = list(r)[:k]
        out[i, : len(r)] = r
    return out


# -- fastText -------------------------------------------------------------------------------------------


def feature_names(data_dir, n_features: int) -> list[str]:
    """``features.txt`` of the dataset (one name per line), or f0, f1, ... if absent or of the wrong length."""
    path = Path(data_dir) / "features.txt"
    if path.exists():
        names = path.read_text(encoding="utf-8").split("\n")
        if len(names) == n_features + 1 and names[-1] == "":
            names = names[:-1]
        if len(names) == n_features:
            return names
    return [f"f{j}" for j in range(n_features)]


def fasttext_tokens(names: list[str]) -> list[str]:
    """Feature names as fastText words: separators -> "_", no word that fastText would read
    as a label (``__label__`` prefix) or as its end-of-line token, and no two columns merged."""
    toks = []
    for j, name in enumerate(names):
        t = _FASTTEXT_SEPARATORS.sub("_", name) or f"f{j}"
        if t.startswith(FASTTEXT_LABEL) or t == FASTTEXT_EOS:
            t = "_" + t
        toks.append(t)
    seen: dict[str, int] = {}
    for t in toks:
        seen[t] = seen.get(t, 0) + 1
    return [f"{t}#{j}" if seen[t] > 1 else t for j, t in enumerate(toks)]


def fasttext_lines(X, y, tokens: np.ndarray) -> list[str]:
    """One line per CSR row: its label words, then the words (``tokens[j]``) of its non-zero columns j
    in column order, each once (feature values are ignored).

    ``y`` is a class per row (one ``__label__<class>`` word), a sparse label-indicator matrix
    (multi-label: one ``__label__<j>`` word per non-zero column j of the row, in column order;
    a row without labels gets none) or None (no label words: text to predict)."""
    import scipy.sparse as sp

    n = X.shape[0]
    if y is None:
        heads = [""] * n
    elif sp.issparse(y):
        Y = sp.csr_matrix(y, copy=True)
        Y.eliminate_zeros()
        Y.sort_indices()
        heads = ["".join(f"{FASTTEXT_LABEL}{c} " for c in Y.indices[Y.indptr[i] : Y.indptr[i + 1]]) for i in range(n)]
    else:
        heads = [f"{FASTTEXT_LABEL}{c} " for c in y]
    indptr, indices = X.indptr, X.indices
    return [heads[i] + " ".join(tokens[indices[indptr[i] : indptr[i + 1]]]) for i in range(n)]


def write_fasttext_file(path, X, y, tokens: np.ndarray) -> None:
    """``fasttext_lines(X, y, tokens)`` to ``path``, one per line."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(fasttext_lines(X, y, tokens)))
        f.write("\n")


def write_fasttext_init(path, words, dim: int, seed: int) -> None:
    """A ``.vec`` file for ``train_supervised(pretrainedVectors=path)``: one row per word, drawn as fastText
    means to draw its input matrix, uniform on [-1/dim, 1/dim] (seeded here).

    Why: fastText's ``DenseMatrix::uniform`` fills the input matrix in ten blocks, one per thread, and
    runs only ``thread`` of them, so with ``thread=1`` about 90 % of the matrix (80 % with 2) keeps what
    the allocation held: mostly zeros, sometimes stale values far above 1/dim, which end some runs with
    "Encountered NaN" (measured with fasttext-numpy2 0.10.4: the input matrix after a ``lr=0`` fit).
    fastText still builds the dictionary from the training file, draws its own (partial) matrix, then
    overwrites the row of every word in this file; so ``words`` should be every word of the training
    file plus ``</s>`` (the end-of-line word fastText appends to each line), and no others (an extra
    word would be added to the dictionary with a random vector)."""
    words = list(words)
    V = np.random.default_rng(seed).uniform(-1.0 / dim, 1.0 / dim, size=(len(words), dim))
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{len(words)} {dim}\n")
        for word, row in zip(words, V, strict=True):
            f.write(word + " " + " ".join(f"{v:.8g}" for v in row) + "\n")


def fasttext_train_words(X, tokens: np.ndarray) -> list[str]:
    """The words of a training file written from ``X`` (its columns with a non-zero), and ``</s>``."""
    return [FASTTEXT_EOS] + [str(t) for t in tokens[np.unique(X.indices)]]


def write_fasttext_files(data_dir, out_dir, train_rows=None, test_rows=None, dim: int = 100, seed: int = 0) -> dict:
    """Write ``train.txt``/``test.txt`` for fastText into ``out_dir``, and ``init.vec``, its input vectors'
    start (:func:`write_fasttext_init`, ``dim`` wide, seeded by ``seed``); returns paths, seconds, notes."""
    t0 = time.perf_counter()
    X, y = load_split(data_dir, "train")
    Xt, yt = load_split(data_dir, "test")
    X, y = X[:train_rows], y[:train_rows]
    Xt, yt = Xt[:test_rows], yt[:test_rows]
    names = feature_names(data_dir, X.shape[1])
    tokens = fasttext_tokens(names)
    arr = np.array(tokens, dtype=object)
    paths = {}
    for split, (A, b) in {"train": (X, y), "test": (Xt, yt)}.items():
        paths[split] = str(Path(out_dir) / f"{split}.txt")
        write_fasttext_file(paths[split], A, b, arr)
    paths["init"] = str(Path(out_dir) / "init.vec")
    write_fasttext_init(paths["init"], fasttext_train_words(X, arr), dim, seed)
    binary = bool(np.all(X.data == 1) and np.all(Xt.data == 1))
    return {
        "paths": paths,
        "convert_seconds": time.perf_counter() - t0,
        "n_renamed_features": int(sum(a != b for a, b in zip(names, tokens, strict=True))),
        "binary_features": binary,
        "example_line": fasttext_lines(X[:1], y[:1], arr)[0],
        "init_dim": dim,
    }


def _read_lines(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    y = np.array([int(line.split(" ", 1)[0][len(FASTTEXT_LABEL) :]) for line in lines])
    text = [line.split(" ", 1)[1] if " " in line else "" for line in lines]
    return text, y


def fasttext_hs_tree(counts: np.ndarray):
    """fastText's Huffman tree of ``HierarchicalSoftmaxLoss::buildTree`` (loss.cc), rebuilt from the
    label counts in dictionary order. Returns, per label, the output-matrix rows of its path's
    inner nodes and the branch codes (True = right child, the sigmoid's positive side)."""
    osz = len(counts)
    n = 2 * osz - 1
    parent = np.full(n, -1, dtype=np.int64)
    binary = np.zeros(n, dtype=bool)
    count = np.full(n, 1e15)
    count[:osz] = counts
    leaf, node = osz - 1, osz
    for i in range(osz, n):
        mini = [0, 0]
        for j in range(2):
            if leaf >= 0 and count[leaf] < count[node]:
                mini[j] = leaf
                leaf -= 1
            else:
                mini[j] = node
                node += 1
        count[i] = count[mini[0]] + count[mini[1]]
        parent[mini[0]] = parent[mini[1]] = i
        binary[mini[1]] = True
    paths, codes = [], []
    for i in range(osz):
        p, c, j = [], [], i
        while parent[j] != -1:
            p.append(parent[j] - osz)
            c.append(binary[j])
            j = parent[j]
        paths.append(np.array(p, dtype=np.int64))
        codes.append(np.array(c, dtype=bool))
    return paths, codes


def fasttext_hs_log_proba(model, text: list[str], y: np.ndarray) -> np.ndarray:
    """Exact log p(y|x) of a fastText ``loss="hs"`` model: the sum of log-sigmoids along the
    Huffman path of y, with hidden = fastText's own sentence vector (mean of the input vectors,
    end-of-line token included). Equal to what fastText's predict computes, without its
    log(p + 1e-5) smoothing and without its pruning of labels below probability ~1e-5."""
    labels, counts = model.get_labels(include_freq=True)
    index = {lab: i for i, lab in enumerate(labels)}
    paths, codes = fasttext_hs_tree(np.asarray(counts))
    W = model.get_output_matrix().astype(np.float64)
    out = np.empty(len(text))
    for i, (line, c) in enumerate(zip(text, y, strict=True)):
        h = model.get_sentence_vector(line).astype(np.float64)
        lab = index[f"{FASTTEXT_LABEL}{c}"]
        z = W[paths[lab]] @ h
        z = np.where(codes[lab], z, -z)
        out[i] = -np.sum(np.logaddexp(0.0, -z))
    return out


def fasttext_fit_top(train_path, text: list[str], params: dict, k: int = 5):
    """``fasttext.train_supervised(input=train_path, verbose=0, **params)``, timed, then the top ``k``
    labels of each line of ``text`` by ``model.predict(text, k=k)``, timed: returns
    ``(model, fit seconds, predict seconds, (n, k) label array padded with -1)``."""
    import fasttext

    t0 = time.perf_counter()
    model = fasttext.train_supervised(input=str(train_path), verbose=0, **params)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    labels, _ = model.predict(text, k=k)
    predict_s = time.perf_counter() - t0
    top = pad_top([[int(s[len(FASTTEXT_LABEL) :]) for s in row] for row in labels], k)
    return model, fit_s, predict_s, top


def run_fasttext(spec: dict) -> dict:
    loss = spec["system"].split("-", 1)[1]
    params = {"loss": loss, "lr": 0.5 if loss == "hs" else 0.1, "epoch": 5, "dim": 100, "thread": spec["threads"]}
    params.update(spec.get("params") or {})
    text, yt = _read_lines(spec["fasttext"]["paths"]["test"])
    init = spec["fasttext"]["paths"].get("init")  # the input vectors' start (write_fasttext_init)
    if init is not None and params["dim"] == spec["fasttext"].get("init_dim", 100):
        params["pretrainedVectors"] = init
    model, fit_s, predict_s, top = fasttext_fit_top(spec["fasttext"]["paths"]["train"], text, params)
    rec = {
        "fit_seconds": fit_s,
        "predict_seconds": predict_s,
        "peak_memory_mib": own_peak_mib(),
        "params": params,
        "n_test": len(text),
    }
    rec.update(topk_accuracy(top, yt))
    rec["convert_seconds"] = spec["fasttext"]["convert_seconds"]
    if loss == "hs":
        known = np.array([int(s[len(FASTTEXT_LABEL) :]) for s in model.get_labels()])
        rows = ll_row_subset(yt, known, spec["ll_rows"], spec["seed"])
        t0 = time.perf_counter()
        lp = fasttext_hs_log_proba(model, [text[i] for i in rows], yt[rows])
        rec["ll_seconds"] = time.perf_counter() - t0
        rec.update(
            log_likelihood=float(lp.mean()),
            n_ll_rows=int(rows.size),
            log_likelihood_note="exact: Huffman-path log-sigmoids rebuilt from the model's output matrix",
        )
        # consistency with fastText's own probabilities (which are exp(sum log(sigmoid + 1e-5)))
        check = rows[:200]
        lab1, p1 = model.predict([text[i] for i in check], k=1)
        ours = fasttext_hs_log_proba(model, [text[i] for i in check], [int(r[0][len(FASTTEXT_LABEL) :]) for r in lab1])
        rec["ll_check_max_abs_diff_top1_prob"] = float(np.max(np.abs(np.exp(ours) - np.array([p[0] for p in p1]))))
    else:
        rec.update(
            log_likelihood=None,
            n_ll_rows=0,
            log_likelihood_note="not available: fastText's ns loss predicts an independent sigmoid per "
            "label (one-vs-all scores that do not sum to 1 over the classes)",
        )
    return rec


# -- napkinXC -------------------------------------------------------------------------------------------


def run_napkinxc(spec: dict) -> dict:
    from napkinxc.models import HSM, PLT

    kind = spec["system"].split("-", 1)[1]
    cls = HSM if kind == "hsm" else PLT
    X, y = load_split(spec["data_dir"], "train")
    Xt, yt = load_split(spec["data_dir"], "test")
    X, y = X[: spec["train_rows"]], y[: spec["train_rows"]]
    Xt, yt = Xt[: spec["test_rows"]], yt[: spec["test_rows"]]
    # napkinXC sizes its model by the largest label id: it trains on the classes' codes 0..C-1 (ids with gaps,
    # as in a subset of a set's classes, made it slower and less accurate), and its predictions map back
    classes = np.unique(y)
    codes = np.searchsorted(classes, y)
    # HSM is multi-class (a list of ints); PLT is multi-label (a list of label lists)
    Y = codes.tolist() if kind == "hsm" else [[int(v)] for v in codes]

    def top5(model, Xt):
        top = napkinxc_top5(model, Xt)
        return np.where(top >= 0, classes[np.clip(top, 0, classes.shape[0] - 1)], -1)

    params = {"threads": spec["threads"]}
    params.update(spec.get("params") or {})
    with tempfile.TemporaryDirectory(prefix="skxc_napkinxc_") as tmp:
        model = cls(tmp, **params)
        runs = []
        fit_s, predict_s, top = timed_fit_top5(model, (X, Y), Xt, top5, spec.get("repeats", 1), runs)
        rec = {
            "fit_seconds": fit_s,
            "fit_seconds_runs": runs,
            "predict_seconds": predict_s,
            "peak_memory_mib": own_peak_mib(),
            "params": {k: v for k, v in model.get_params().items() if k != "output"},
            "n_test": int(Xt.shape[0]),
        }
        rec.update(topk_accuracy(top, yt))
        if kind == "hsm":
            n_labels = classes.shape[0]
            rows = ll_row_subset(yt, classes, spec["ll_rows"], spec["seed"])
            t0 = time.perf_counter()
            lp, sums = np.empty(rows.size), []
            for start in range(0, rows.size, 250):
                block = rows[start : start + 250]
                truth = np.searchsorted(classes, yt[block])  # the rows' classes are known (ll_row_subset)
                for j, (r, c) in enumerate(zip(model.predict_proba(Xt[block], top_k=n_labels), truth, strict=True)):
                    probs = dict(r)
                    lp[start + j] = np.log(probs.get(int(c), 0.0))
                    if len(sums) < 100:
                        sums.append(sum(probs.values()))
            rec["ll_seconds"] = time.perf_counter() - t0
            rec.update(
                log_likelihood=float(lp.mean()),
                n_ll_rows=int(rows.size),
                log_likelihood_note="exact: predict_proba over all labels (top_k = number of labels)",
                proba_row_sum_min=float(min(sums)),
                proba_row_sum_max=float(max(sums)),
            )
        else:
            # how far the marginals are from a distribution over classes, on 100 test rows
            probs = model.predict_proba(Xt[:100], top_k=classes.shape[0])
            sums = [sum(p for _, p in r) for r in probs]
            rec.update(proba_row_sum_min=float(min(sums)), proba_row_sum_max=float(max(sums)))
            rec.update(
                log_likelihood=None,
                n_ll_rows=0,
                log_likelihood_note="not available: PLT estimates per-label marginals P(y_c = 1 | x) of a "
                "multi-label model, which do not sum to 1 over the classes",
            )
    return rec


# -- scikit-learn LogisticRegression ------------------------------------------------------------------------

LOGREG_MAX_CLASSES = 1000


def run_logreg(spec: dict) -> dict:
    from scipy.special import logsumexp
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    X, y = load_split(spec["data_dir"], "train")
    Xt, yt = load_split(spec["data_dir"], "test")
    X, y = X[: spec["train_rows"]], y[: spec["train_rows"]]
    Xt, yt = Xt[: spec["test_rows"]], yt[: spec["test_rows"]]
    params = {"max_iter": 200}
    params.update(spec.get("params") or {})
    clf = LogisticRegression(**params)
    with threadpool_limits(spec["threads"]):
        t0 = time.perf_counter()
        clf.fit(X, y)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        S = clf.decision_function(Xt)
        if S.ndim == 1:  # two classes: the log-odds of classes_[1]
            S = np.column_stack([np.zeros_like(S), S])
        top = clf.classes_[np.argsort(-S, axis=1)[:, :5]]
        predict_s = time.perf_counter() - t0
        rec = {
            "fit_seconds": fit_s,
            "predict_seconds": predict_s,
            "peak_memory_mib": own_peak_mib(),
            "params": {k: v for k, v in clf.get_params().items() if v is not None},
            "n_test": int(Xt.shape[0]),
            "n_iter": int(np.max(clf.n_iter_)),
            "converged": bool(np.max(clf.n_iter_) < clf.max_iter),
        }
        rec.update(topk_accuracy(top, yt))
        rows = ll_row_subset(yt, clf.classes_, spec["ll_rows"], spec["seed"])
        S = S[rows]
        codes = np.searchsorted(clf.classes_, yt[rows])
        rec.update(
            log_likelihood=float(np.mean(S[np.arange(rows.size), codes] - logsumexp(S, axis=1))),
            n_ll_rows=int(rows.size),
            log_likelihood_note="exact softmax",
        )
    return rec
