"""Shared helpers of the benchmark scripts: data loading, evaluation, JSON output."""

from __future__ import annotations

import importlib
import json
import os
import platform
import resource
import shlex
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import scipy.sparse as sp

#: The sampling noise distributions a ``--noise`` option may name (the estimator's ``noise`` strings).
NOISES = ("adversarial", "uniform", "frequency")


def positive_int(text: str) -> int:
    """argparse type of a count that must be at least 1 (threads, rows, batches, passes, repeats)."""
    import argparse

    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1; got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type of a duration or amount that must be above 0 (seconds, e.g. ``--timeout``)."""
    import argparse

    value = float(text)
    if not value > 0.0:
        raise argparse.ArgumentTypeError(f"must be a number > 0; got {text}")
    return value


def unit_fraction(text: str) -> float:
    """argparse type of a fraction in (0, 1]."""
    import argparse

    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1]; got {text}")
    return value


def missing_data_dirs(data, generated=()) -> list[str]:
    """The data set arguments whose directory (the part before any ``@`` options) does not exist, the names in
    ``generated`` aside: checked before any system runs, not after the sets before them have."""
    return [d for d in data if d.split("@")[0] not in generated and not Path(d.split("@")[0]).is_dir()]


def check_data_dirs(parser, data, generated=None) -> None:
    """``parser.error`` naming the data set directories among ``data`` that do not exist, right after parsing
    (not once the sets before them have run, or after the work that precedes loading). ``generated``: the
    names of generated sets, with ``DIR@SPEC`` arguments, as in :func:`missing_data_dirs`; None: plain
    directories, checked as given."""
    if generated is None:
        missing = [str(d) for d in data if not Path(d).is_dir()]
    else:
        missing = missing_data_dirs(data, generated)
    if missing:
        parser.error(f"no such data set directory: {', '.join(missing)}")


def check_out_dir(parser, out: str | os.PathLike) -> None:
    """``parser.error`` if ``--out`` (the directory the results are written to after the run) cannot be one:
    checked right after parsing, so that a bad path fails at once rather than after the measurements. Nothing is
    made: the nearest existing path of ``out`` and its parents must be a writable directory."""
    path = Path(out)
    existing = next((q for q in (path, *path.parents) if q.exists()), None)
    if existing is None:  # a relative path whose parents do not exist either: the working directory's
        existing = Path.cwd()
    if not existing.is_dir():
        parser.error(f"--out {out}: {existing} exists and is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        parser.error(f"--out {out}: {existing} is not writable")


def learning_rate_arg(text: str):
    """argparse type of ``--learning-rate``: "auto" or a positive float."""
    import argparse

    if text == "auto":
        return text
    value = float(text)
    if not value > 0.0:
        raise argparse.ArgumentTypeError(f"must be 'auto' or a number > 0; got {text}")
    return value


def n_negatives_arg(text: str):
    """argparse type of ``--n-negatives``: "auto" or a positive integer."""
    import argparse

    if text == "auto":
        return text
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 'auto' or an integer >= 1; got {text}")
    return value


def load_split(data_dir: str | os.PathLike, split: str):
    """X (CSR float32) and y (int) of one split of a dataset directory in the
    format of ``shared/data/*/`` (X_<split>.npz, y_<split>.npy); rows with y < 0 dropped."""
    d = Path(data_dir)
    X = sp.csr_matrix(sp.load_npz(d / f"X_{split}.npz"))  # a file saved from a csr_array loads as one
    y = np.load(d / f"y_{split}.npy")
    keep = y >= 0
    if not keep.all():
        X, y = X[keep], y[keep]
    return X, y


def warmup_rows(n_rows: int, n: int = 2000, seed: int = 0) -> np.ndarray:
    """Sorted random rows (at most ``n``) for the small fit that loads the numba kernels before the timed one:
    a random subset, not the first rows, which in a file sorted by class may hold one class."""
    if n_rows <= n:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, n, replace=False))


def warm_kernels(X, y, Xt, **params) -> float:
    """Load (or compile) skxc's numba kernels on a small fit (``max_iter=1`` on :func:`warmup_rows`) and its top 5
    of ``Xt[:10]``, so that no timed fit pays for it; seconds taken. ``params``: the estimator's. With sparse X,
    negative sampling and ``weights="auto"``, once with each weights layout (the small fit may choose the other
    one than the full fit)."""
    from skxc import AdversarialSoftmaxClassifier

    t0 = time.perf_counter()
    layouts = [params.get("weights", "auto")]
    if layouts == ["auto"] and sp.issparse(X) and params.get("noise", "adversarial") is not None:
        layouts = ["dense", "sparse"]
    few = warmup_rows(X.shape[0])
    for layout in layouts:
        Xw, Xtw = X[few], Xt[:10]
        cols = warmup_columns(Xw, y[few]) if layout == "dense" else None
        if cols is not None:  # dense weights of few classes x all features can dwarf the timed fit's memory
            Xw, Xtw = Xw[:, cols], Xtw[:, cols]
        warm = AdversarialSoftmaxClassifier(**dict(params, max_iter=1, weights=layout)).fit(Xw, y[few])
        top_k_padded(warm, Xtw, 5)
    return time.perf_counter() - t0


#: The most dense weights (classes x features) of the warm-up fit: 16 MiB of float32.
WARMUP_WEIGHTS = 2**22


def warmup_columns(X, y, seed: int = 0):
    """Sorted random columns of sparse ``X`` for the warm-up fit with dense weights, so that its classes x
    columns stay within ``WARMUP_WEIGHTS`` (None: all of them). Random columns keep the rows' density, so the
    warm-up loads the kernels of the same weight order (``skxc._validation.mostly_dense``). Without this, the
    warm-up of gcide-reverse (2,000 rows of about 1,900 classes x 102,148 features: 780 MB of weights) set the
    process's peak memory that the tables report, above the timed fit's."""
    if not sp.issparse(X) or np.ndim(y) != 1:
        return None
    width = max(64, WARMUP_WEIGHTS // max(len(np.unique(y)), 1))
    if width >= X.shape[1]:
        return None
    return np.sort(np.random.default_rng(seed).choice(X.shape[1], width, replace=False))


def top_k_padded(clf, X, k: int = 5) -> np.ndarray:
    """``clf.predict_top_k(X, k)`` for a model of fewer than ``k`` classes too: its top ``n_classes``, padded
    with -1 (no prediction) to k columns."""
    top = clf.predict_top_k(X, k=min(k, len(clf.classes_)))
    if top.shape[1] < k:
        top = np.concatenate([top, np.full((top.shape[0], k - top.shape[1]), -1, dtype=top.dtype)], axis=1)
    return top


def evaluate(clf, X, y, k: int = 5, ll_rows: int | None = None, seed: int = 0) -> dict:
    """Top-1 / top-k accuracy on all rows, and mean test log-likelihood (nats) of the model's own
    probabilities (``predict_log_proba``, with its temperature and top-label map) on ``ll_rows`` random rows
    (all if None). Rows whose label is not in ``classes_`` count as errors and are left out of the
    log-likelihood."""
    t0 = time.perf_counter()
    top = top_k_padded(clf, X, k)
    predict_s = time.perf_counter() - t0
    top1 = float(np.mean(top[:, 0] == y))
    topk = float(np.mean((top == y[:, None]).any(axis=1)))
    rows = np.arange(X.shape[0])
    if ll_rows is not None and ll_rows < X.shape[0]:
        rows = np.sort(np.random.default_rng(seed).choice(X.shape[0], ll_rows, replace=False))
    known = rows[np.isin(y[rows], clf.classes_)]
    ll = float("nan")
    if known.size:
        log_proba = clf.predict_log_proba(X[known])
        codes = np.searchsorted(clf.classes_, y[known])
        ll = float(np.mean(log_proba[np.arange(known.size), codes]))
    return {
        "top1": top1,
        f"top{k}": topk,
        "log_likelihood": ll,
        "predict_seconds": predict_s,
        "n_test": int(X.shape[0]),
        "n_ll_rows": int(known.size),
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine() -> dict:
    return {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()}


def json_output(parser, out: str | os.PathLike, stem: str, name: str | None = None) -> Path:
    """The JSON file of a script that writes one: ``out`` itself if it ends in ``.json``, else
    ``out/<stem>[_<name>].json`` (``out`` a directory, as every script's ``--out``); ``parser.error`` if
    both a ``.json`` file and ``--name`` are given (the name would be ignored).

    Checked before the run, so that a bad path fails at once rather than after the measurements:
    the directory is made if missing, and ``parser.error`` exits if it cannot be made or written to,
    or if the file's path is a directory."""
    path = Path(out)
    if path.suffix == ".json" and name:
        parser.error(f"--out {out} names the file, so --name {name} would be ignored: give one of them")
    if path.suffix != ".json":
        path = path / (f"{stem}_{name}.json" if name else f"{stem}.json")
    if path.is_dir():
        parser.error(f"--out {out}: {path} is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(f"--out {out}: cannot make the directory {path.parent}: {exc}")
    if not os.access(path.parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        parser.error(f"--out {out}: {path} is not writable")
    return path


def write_json(path: str | os.PathLike, record) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        json.dump(record, f, indent=2)


def run_child(
    module: str, child_flag: str, system: str, spec: dict, tmp, threads: int, timeout: float | None = None
) -> dict:
    """Run ``python -m <module> <child_flag> SPEC OUT`` in a fresh interpreter for one system.

    The spec (a JSON-able dict, given ``system``) goes to a file in ``tmp``; the child writes its
    record to another. BLAS/OpenMP/numba threads are limited to ``threads``. Returns the child's
    record, or an error record if it failed or ran longer than ``timeout`` seconds (then it is
    killed), with the wall-clock and the 1-minute load average before and after."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    spec = dict(spec, system=system)
    tag = f"{system}_{time.monotonic_ns()}".replace("/", "_")
    spec_path, out_path = Path(tmp) / f"{tag}.spec.json", Path(tmp) / f"{tag}.out.json"
    spec_path.write_text(json.dumps(spec))
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = str(threads)
    env["PYTHONPATH"] = os.pathsep.join([str(root)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    try:  # the child's stderr is passed on once it ends, and its last line names a failure's reason
        proc = subprocess.run(
            [sys.executable, "-m", module, child_flag, str(spec_path), str(out_path)],
            cwd=root,
            env=env,
            timeout=timeout,
            stderr=subprocess.PIPE,
            text=True,
        )
        code, err = proc.returncode, proc.stderr or ""
    except subprocess.TimeoutExpired as expired:
        code, err = None, expired.stderr or ""
        err = err.decode(errors="replace") if isinstance(err, bytes) else err
    sys.stderr.write(err)
    wall = time.perf_counter() - t0
    last = next((line.strip() for line in reversed(err.splitlines()) if line.strip()), "")
    if code == 0 and out_path.exists():
        rec = json.loads(out_path.read_text())
    elif code is None:
        rec = {"error": f"timeout: killed after {timeout:.0f} s"}
    else:
        rec = {"error": f"child process exited with code {code}" + (f": {last}" if last else "")}
    return {
        "system": system,
        **rec,
        "child_wall_seconds": wall,
        "threads": threads,
        "loadavg_1min_before": load_before[0],
        "loadavg_1min_after": os.getloadavg()[0],
    }


def variant_error(params: dict) -> str | None:
    """Why a variant's ``params`` would fail in its run, or None: a module constant ``"skxc.<module>.<NAME>"``
    that does not exist, a key that is no parameter of ``AdversarialSoftmaxClassifier``, or a value its
    parameter constraints refuse (checked when the arguments are read, not in the run's child process)."""
    from skxc import AdversarialSoftmaxClassifier

    estimator_params = {}
    for key, value in params.items():
        if key.startswith("skxc."):
            module_name, _, name = key.rpartition(".")
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                return f"key {key!r}: no module {module_name}"
            if not hasattr(module, name):
                return f"key {key!r}: {module_name} has no {name}"
        else:
            estimator_params[key] = value
    unknown = sorted(set(estimator_params) - set(AdversarialSoftmaxClassifier().get_params()))
    if unknown:
        return f"{unknown} are no parameters of AdversarialSoftmaxClassifier (nor skxc.<module>.<NAME> constants)"
    try:
        AdversarialSoftmaxClassifier(**estimator_params)._validate_params()
    except (TypeError, ValueError) as exc:
        return str(exc)
    return None


def parse_variants(texts, parser=None) -> dict:
    """``{NAME: params}`` of ``--variant NAME=JSON`` arguments (params: estimator parameters and/or module
    constants ``"skxc.<module>.<NAME>"``, see :func:`set_module_constants`). With ``parser``, an argument that
    is not ``NAME=JSON`` with a JSON object is a ``parser.error`` (called right after parsing, before any run)."""
    variants = {}
    for text in texts:
        name, sep, params = text.partition("=")
        if parser is None:
            variants[name] = json.loads(params)
            continue
        if not sep or not name:
            parser.error(f"argument --variant: expected NAME=JSON, got {text!r}")
        try:
            variants[name] = json.loads(params)
        except json.JSONDecodeError as e:
            parser.error(f"argument --variant: variant {name}: {e}")
        if not isinstance(variants[name], dict):
            parser.error(f"argument --variant: variant {name}: JSON must be an object")
        error = variant_error(variants[name])
        if error:
            parser.error(f"argument --variant: variant {name}: {error}")
    return variants


def run_record(module: str, argv, columns: dict, **fields) -> dict:
    """The start of a per-column benchmark's result: the command that ran (``argv``, or the process's), the
    UTC date, the machine, ``fields`` in their order, then ``columns`` and an empty ``data_sets``."""
    args = argv or sys.argv[1:]
    return {
        "command": f"python -m benchmarks.{module} " + " ".join(shlex.quote(x) for x in args),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": json.dumps(machine()),
        **fields,
        "columns": columns,
        "data_sets": {},
    }


def columns_line(result: dict) -> str:
    """The markdown line naming each column's parameters."""
    return "Columns: " + "; ".join(f"{k}: `{json.dumps(v)}`" for k, v in result["columns"].items())


def set_module_constants(params: dict) -> tuple[dict, dict]:
    """Set the module constants among ``params`` (keys ``"skxc.<module>.<NAME>"``); returns ``(the other
    params, the constants' previous values)``, the latter to restore them with another call."""
    params, previous = dict(params), {}
    for key in [k for k in params if k.startswith("skxc.")]:
        module_name, name = key.rsplit(".", 1)
        module = importlib.import_module(module_name)
        if not hasattr(module, name):
            raise ValueError(f"variant key {key!r}: {module_name} has no {name}")
        previous[key] = getattr(module, name)
        value = params.pop(key)
        if isinstance(previous[key], np.ndarray):  # JSON gives a list: keep the constant's type and dtype
            value = np.asarray(value, dtype=previous[key].dtype)
        setattr(module, name, value)
    return params, previous


@contextmanager
def module_constants(params: dict):
    """Within the block, the module constants among ``params`` set (:func:`set_module_constants`); yields the
    other params (estimator parameters); the constants' previous values are restored on leaving it."""
    params, previous = set_module_constants(params)
    try:
        yield params
    finally:
        set_module_constants(previous)


def write_results(out, stem: str, name, result, text: str, echo: bool = True) -> None:
    """Write ``result`` as ``STEM[_NAME].json`` and ``text`` (its markdown table) as ``.md`` in ``out``; print it
    (``echo``). The scripts also write after each data set (``echo=False``), so a crash keeps the sets before."""
    stem = stem + (f"_{name}" if name else "")
    write_json(Path(out) / f"{stem}.json", result)
    (Path(out) / f"{stem}.md").write_text(text)
    if echo:
        print(text)
