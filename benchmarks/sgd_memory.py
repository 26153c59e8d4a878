"""Memory traffic of one SGD step against the machine's streaming bandwidth and random-access rate.

    python -m benchmarks.sgd_memory ../shared/data/ptb-nextword [--rows N] [--n-jobs 1 2]

Side by side in one run:

- the machine: streaming bandwidth (copy and triad ``a += s b`` over two
  512 MiB float32 arrays, numba nogil loops on 1 and 2 threads, plus NumPy's
  ``copyto`` on one) and the random cache-line rate (reads, and reads+writes,
  of random 4-byte elements of a 1 GiB float32 array, each in a random line;
  also the latency of a dependent chain of such reads);
- the bytes one positive example touches in ``negative_sampling_epoch``,
  counted from its access pattern for the fitted model (mean nnz per row,
  ``n_negatives``, tree depth and k, the arrays' real addresses);
- training throughput (second epoch of ``fit`` with ``warm_start``) for
  uniform and adversarial noise with each ``--n-jobs``, set against both bounds;
- where an epoch's time goes (one thread, the kernel called directly): the
  epoch with the real tree, with a k=0 tree, with coef_ shrunk so it stays in
  cache, and the tree sampler and positive log-prob on their own.
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from numba import njit

from benchmarks._common import NOISES, check_data_dirs, check_out_dir, load_split, machine, positive_int, write_json
from skxc._config import NJIT

LINE = 64  # bytes per cache line
MiB = 2**20


# -- machine -------------------------------------------------------------------


def l3_bytes() -> int:
    """Size of the last-level cache (sysfs, then sysconf; 32 MiB if neither says)."""
    try:
        text = Path("/sys/devices/system/cpu/cpu0/cache/index3/size").read_text().strip()
        scale = {"K": 2**10, "M": 2**20}.get(text[-1], 1)
        return int(text.rstrip("KM")) * scale
    except (OSError, ValueError):
        pass
    try:
        size = os.sysconf("SC_LEVEL3_CACHE_SIZE")
        if size > 0:
            return int(size)
    except (ValueError, OSError):
        pass
    return 32 * MiB


@njit(**NJIT)
def _copy(src, dst, lo, hi):
    for i in range(lo, hi):
        dst[i] = src[i]


@njit(**NJIT)
def _triad(a, b, s, lo, hi):
    for i in range(lo, hi):
        a[i] = a[i] + s * b[i]


_X13 = np.uint64(13)
_X7 = np.uint64(7)
_X17 = np.uint64(17)
_X40 = np.uint64(40)
_LINE_ELEMS = np.uint64(LINE // 4)


@njit(**NJIT)
def _next_random_element(x, n_lines):
    """Advance the in-register xorshift64 state ``x``; return it and a random element index:
    a random 64 B line of ``n_lines``, and a random float32 within it."""
    x ^= x << _X13
    x ^= x >> _X7
    x ^= x << _X17
    return x, (x % n_lines) * _LINE_ELEMS + ((x >> _X40) % _LINE_ELEMS)


@njit(**NJIT)
def _random_reads(a, n_access, seed):
    """Sum of ``n_access`` float32 elements of ``a`` at independent random positions (xorshift64)."""
    n_lines = np.uint64(a.shape[0] // (LINE // 4))
    x = np.uint64(seed)
    s = 0.0
    for _ in range(n_access):
        x, i = _next_random_element(x, n_lines)
        s += a[np.int64(i)]
    return s


@njit(**NJIT)
def _random_updates(a, n_access, seed):
    """``a[i] += 1`` at ``n_access`` independent random positions: each line read, dirtied, written back."""
    n_lines = np.uint64(a.shape[0] // (LINE // 4))
    x = np.uint64(seed)
    for _ in range(n_access):
        x, i = _next_random_element(x, n_lines)
        a[np.int64(i)] += 1.0


@njit(**NJIT)
def _dependent_reads(a, n_access, seed):
    """Random reads where each address depends on the value read before (a is all zeros): latency."""
    n_lines = np.uint64(a.shape[0] // (LINE // 4))
    x = np.uint64(seed)
    for _ in range(n_access):
        x, i = _next_random_element(x, n_lines)
        x += np.uint64(a[np.int64(i)])
    return x


def _timed(n_threads: int, fn, *args_per_thread) -> float:
    """Wall-clock seconds of ``fn(*args_per_thread[t])`` run on ``n_threads`` threads at once."""
    if n_threads == 1:
        t0 = time.perf_counter()
        fn(*args_per_thread[0])
        return time.perf_counter() - t0
    with ThreadPoolExecutor(n_threads) as pool:
        t0 = time.perf_counter()
        list(pool.map(lambda a: fn(*a), args_per_thread))
        return time.perf_counter() - t0


def _halves(n, n_threads):
    cuts = np.linspace(0, n, n_threads + 1).astype(np.int64)
    return list(zip(cuts[:-1], cuts[1:], strict=True))


def stream_bandwidth(threads, mib=512, repeats=3) -> dict:
    """Best-of-``repeats`` GB/s (1e9 B/s) of copy (2 x size moved) and triad a += s b (3 x size)."""
    n = mib * MiB // 4
    a = np.ones(n, dtype=np.float32)
    b = np.full(n, 2.0, dtype=np.float32)
    _copy(a[:16], b[:16], 0, 16)
    _triad(a[:16], b[:16], np.float32(1e-7), 0, 16)
    out = {"array_mib": mib, "repeats": repeats}
    for t in threads:
        parts = _halves(n, t)
        best = min(_timed(t, np.copyto, *[(b[lo:hi], a[lo:hi]) for lo, hi in parts]) for _ in range(repeats))
        np_copy = 2 * a.nbytes / best / 1e9
        best = min(_timed(t, _copy, *[(a, b, lo, hi) for lo, hi in parts]) for _ in range(repeats))
        copy = 2 * a.nbytes / best / 1e9
        best = min(_timed(t, _triad, *[(a, b, np.float32(1e-7), lo, hi) for lo, hi in parts]) for _ in range(repeats))
        triad = 3 * a.nbytes / best / 1e9
        out[str(t)] = {
            "numpy_copyto_gb_s": np_copy,
            "copy_gb_s": copy,
            "triad_gb_s": triad,
            "best_gb_s": max(np_copy, copy, triad),
        }
        print(
            f"stream {t} thread(s): NumPy copyto {np_copy:.1f} GB/s, numba copy {copy:.1f} GB/s, "
            f"triad {triad:.1f} GB/s",
            flush=True,
        )
    return out


def random_access(threads, mib=1024, n_access=2**24, repeats=3) -> dict:
    """Best-of-``repeats`` random line accesses per second over a ``mib`` MiB float32 array."""
    a = np.zeros(mib * MiB // 4, dtype=np.float32)  # touched below, so every page is mapped
    a[::1024] = 0.0
    _random_reads(a, 16, 1)
    _random_updates(a, 16, 1)
    _dependent_reads(a, 16, 1)
    out = {"array_mib": mib, "accesses_per_thread": n_access, "repeats": repeats}
    n_lat = n_access // 8
    best = min(_timed(1, _dependent_reads, (a, n_lat, 12345)) for _ in range(repeats))
    out["dependent_read_latency_ns"] = best / n_lat * 1e9
    for t in threads:
        rec = {}
        for name, fn in (("read", _random_reads), ("read_write", _random_updates)):
            best = min(
                _timed(t, fn, *[(a, n_access, 1 + 7919 * (i + 1) + r) for i in range(t)]) for r in range(repeats)
            )
            rate = t * n_access / best
            rec[f"{name}_lines_per_s"] = rate
            rec[f"{name}_gb_s"] = rate * LINE / 1e9
        out[str(t)] = rec
        print(
            f"random {t} thread(s): reads {rec['read_lines_per_s'] / 1e6:.1f} M lines/s "
            f"({rec['read_gb_s']:.2f} GB/s), read+write {rec['read_write_lines_per_s'] / 1e6:.1f} M lines/s "
            f"({rec['read_write_gb_s']:.2f} GB/s)",
            flush=True,
        )
    print(f"random dependent read latency: {out['dependent_read_latency_ns']:.0f} ns", flush=True)
    return out


# -- bytes per positive example ------------------------------------------------


def _span_lines(start, nbytes):
    """Cache lines covered by byte spans [start, start + nbytes) (0 where nbytes == 0)."""
    start = np.asarray(start, dtype=np.int64)
    nbytes = np.asarray(nbytes, dtype=np.int64)
    lines = (start + np.maximum(nbytes, 1) - 1) // LINE - start // LINE + 1
    return np.where(nbytes > 0, lines, 0)


def traffic_per_positive(rows, order, coef, acc, intercept, acc_intercept, tree, n_negatives, l3) -> dict:
    """Bytes and cache lines one positive example touches in ``negative_sampling_epoch`` (CSR rows).

    Per visited row r (rows in random order): order[t], sample_weight[r], y[r],
    indptr[r:r+2], the row's indices and data, Z[r], log_noise[r] (the
    positive's log p_n, computed once per estimator call, not walked per step);
    one sampled path per negative (sample_leaf), D node visits each of
    node_weight[node] (k float32) and node_bias[node]; a leaf_class look-up
    per negative; for each of the 1 + n_negatives classes c, the
    score reads coef[c, j] and intercept[c], and the Adagrad update
    reads+writes coef[c, j], acc[c, j] (j over the row's nonzeros),
    intercept[c], acc_intercept[c]. With coef_ F-ordered (CSR input) element
    (c, j) is at j*C + c, so each touched coef/acc element is its own line.

    "useful" bytes count each element once per direction (read, and write if
    written); "lines" count distinct 64 B lines (exact spans from the arrays'
    addresses for the row data, node rows and Z); "dirty" lines are written and
    so also cost a write-back. Groups whose arrays together exceed the L3
    cache ("beyond_l3") are the ones that miss: coef_/acc always, the per-row
    arrays when the data is large.
    """
    n = rows.codes.shape[0]
    m = n_negatives
    nnz = np.diff(rows.indptr).astype(np.int64)
    nonzero = np.bincount(np.repeat(np.arange(n), nnz), weights=rows.data != 0, minlength=n)
    s, s_write = float(nnz.mean()), float(nonzero.mean())
    k = rows.Z.shape[1]
    node_weight, node_bias = tree.node_weight_, tree.node_bias_
    depth = int(np.log2(tree.leaf_class_.shape[0]))
    r = np.arange(n, dtype=np.int64)
    base = {name: getattr(rows, name).ctypes.data for name in ("indptr", "indices", "data", "Z")}
    node_lines = (
        float(
            _span_lines(
                node_weight.ctypes.data + np.arange(node_bias.shape[0]) * node_weight.strides[0],
                node_weight.shape[1] * 4,
            ).mean()
        )
        if k
        else 0.0
    )
    visits = m * depth - (m - 1)  # the negatives' paths share at least the root
    n_cls = 1 + m
    comp = [
        # name, group, useful bytes, lines, dirty lines, array bytes
        ("order[t]", "row", 8, 8 / LINE, 0, order.nbytes),
        ("sample_weight[r]", "row", 4, 1, 0, rows.sample_weight.nbytes),
        ("y[r]", "row", 4, 1, 0, rows.codes.nbytes),
        ("indptr[r:r+2]", "row", 16, float(_span_lines(base["indptr"] + 8 * r, 16).mean()), 0, rows.indptr.nbytes),
        (
            "row indices",
            "row",
            4 * s,
            float(_span_lines(base["indices"] + 4 * rows.indptr[:-1], 4 * nnz).mean()),
            0,
            rows.indices.nbytes,
        ),
        (
            "row data",
            "row",
            4 * s,
            float(_span_lines(base["data"] + 4 * rows.indptr[:-1], 4 * nnz).mean()),
            0,
            rows.data.nbytes,
        ),
        (
            "Z[r] (k floats)",
            "row",
            4 * k,
            float(_span_lines(base["Z"] + rows.Z.strides[0] * r, 4 * k).mean()) if k else 0.0,
            0,
            rows.Z.nbytes,
        ),
        ("log_noise[r]", "row", 8, 1, 0, rows.log_noise.nbytes),
        ("tree node weights (paths)", "tree", visits * 4 * k, visits * node_lines, 0, node_weight.nbytes),
        ("tree node biases (paths)", "tree", visits * 4, visits, 0, node_bias.nbytes),
        ("leaf_class", "tree", 4 * m, m, 0, tree.leaf_class_.nbytes),
        (
            "intercept, acc_intercept",
            "intercept",
            2 * 8 * n_cls,
            2 * n_cls,
            2 * n_cls,
            intercept.nbytes + acc_intercept.nbytes,
        ),
        ("coef_ elements", "model", 4 * n_cls * s + 4 * n_cls * s_write, n_cls * s, n_cls * s_write, coef.nbytes),
        ("Adagrad state of coef_", "model", 8 * n_cls * s_write, n_cls * s_write, n_cls * s_write, acc.nbytes),
    ]
    components = [
        dict(zip(("name", "group", "useful_bytes", "lines", "dirty_lines", "array_bytes"), c, strict=True))
        for c in comp
    ]
    groups = {}
    for c in components:
        g = groups.setdefault(c["group"], {"useful_bytes": 0.0, "lines": 0.0, "dirty_lines": 0.0, "array_bytes": 0})
        for key in ("useful_bytes", "lines", "dirty_lines", "array_bytes"):
            g[key] += c[key]
    for g in groups.values():
        g["beyond_l3"] = bool(g["array_bytes"] > l3)
    total = {key: sum(g[key] for g in groups.values()) for key in ("useful_bytes", "lines", "dirty_lines")}
    far = {
        key: sum(g[key] for g in groups.values() if g["beyond_l3"]) for key in ("useful_bytes", "lines", "dirty_lines")
    }
    # Zipf hint: share of row nonzeros in the features whose whole coef_ + acc columns would fit in L3 together
    n_classes = intercept.shape[0]
    n_hot = int(l3 // (2 * 4 * n_classes))
    counts = np.sort(np.bincount(rows.indices, minlength=1))[::-1]
    hot_share = float(counts[:n_hot].sum() / max(counts.sum(), 1))
    return {
        "mean_nnz_per_row": s,
        "n_negatives": m,
        "depth": depth,
        "k": k,
        "n_classes": n_classes,
        "l3_bytes": l3,
        "components": components,
        "groups": groups,
        "total": total,
        "beyond_l3": far,
        "hot_feature_columns_in_l3": n_hot,
        "hot_feature_nnz_share": hot_share,
    }


# -- throughput ----------------------------------------------------------------


def _kernel_args(clf, rows, order, indices=None, Z=None, coef=None, acc=None, tree_arrays=None, seed=0):
    from skxc._kernels.rng import seed_states
    from skxc._kernels.sgd import sampling_scratch
    from skxc._kernels.tree import log_noise_of_codes
    from skxc._solver import flat_view

    coef = clf.coef_ if coef is None else coef
    acc = clf._adagrad_state.coef_sums if acc is None else acc
    coef_flat, stride_c, stride_j = flat_view(coef)
    acc_flat, _, _ = flat_view(acc)
    tree = clf.tree_
    node_weight, node_bias, leaf_class, class_leaf = tree_arrays or (
        tree.node_weight_,
        tree.node_bias_,
        tree.leaf_class_,
        tree.class_leaf_,
    )
    Z = rows.Z if Z is None else Z
    log_noise = np.empty(rows.codes.shape[0])
    log_noise_of_codes(Z, rows.codes, node_weight, node_bias, class_leaf, log_noise)
    state = seed_states(np.random.default_rng(seed), 1)[0]
    return (
        rows.indptr,
        rows.indices if indices is None else indices,
        rows.data,
        rows.n_dense_features,
        rows.codes,
        rows.sample_weight,
        rows.example_row,
        rows.label_indptr,
        rows.label_indices,
        order,
        Z,
        log_noise,
        coef_flat,
        acc_flat,
        np.zeros(0),
        np.zeros(1),
        stride_c,
        stride_j,
        clf.intercept_.copy(),
        clf._adagrad_state.intercept_sums.copy(),
        node_weight,
        node_bias,
        leaf_class,
        clf.n_negatives_,
        float(clf.learning_rate_),
        float(clf.learning_rate_),  # lr_end: a constant step
        float(clf.alpha),
        float(clf.l2),
        state,
        np.zeros(4),
        *sampling_scratch(clf.n_negatives_),
    )


def _best_of(repeats, fn, *args) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best


def _time_epoch(clf, rows, order, repeats, **variant) -> float:
    from skxc._kernels.sgd import negative_sampling_epoch

    negative_sampling_epoch(*_kernel_args(clf, rows, order[:64], **variant))  # compile this signature
    return _best_of(repeats, negative_sampling_epoch, *_kernel_args(clf, rows, order, **variant))


def profile_epoch(clf, rows, small_columns=16, repeats=2) -> dict:
    """Best-of-``repeats`` seconds of one single-threaded epoch of the kernel and of its parts.

    The model is trained further in place (each epoch call is a real epoch).
    """
    from skxc._kernels.tree import log_noise_of_codes, sample_classes
    from skxc._tree import unconditional_tree_arrays

    n = rows.codes.shape[0]
    order = np.random.default_rng(1).permutation(n).astype(np.int64)
    tree = clf.tree_
    C = len(clf.classes_)
    out = {"rows": n, "repeats": repeats}
    out["epoch_seconds"] = _time_epoch(clf, rows, order, repeats)
    if tree.node_weight_.shape[1] > 0:
        flat = unconditional_tree_arrays(np.ones(C))
        out["epoch_k0_tree_seconds"] = _time_epoch(
            clf, rows, order, repeats, Z=np.zeros((n, 0), dtype=np.float32), tree_arrays=flat
        )
    # the same epoch with coef_/acc narrowed to ``small_columns`` feature columns: no misses on the model
    small = np.zeros((C, small_columns), dtype=np.float32, order="F")
    out["cached_model_bytes"] = 2 * small.nbytes
    out["epoch_cached_model_seconds"] = _time_epoch(
        clf, rows, order, repeats, indices=(rows.indices % small_columns).astype(np.int32), coef=small, acc=small.copy()
    )
    m = clf.n_negatives_
    state = np.array([12345], dtype=np.uint64)
    cls, lp = np.empty((n, m), dtype=np.int64), np.empty((n, m), dtype=np.float64)
    sample_classes(rows.Z[:8], m, tree.node_weight_, tree.node_bias_, tree.leaf_class_, state, cls[:8], lp[:8])
    out["sampling_seconds"] = _best_of(
        repeats, sample_classes, rows.Z, m, tree.node_weight_, tree.node_bias_, tree.leaf_class_, state, cls, lp
    )
    lp1 = np.empty(n, dtype=np.float64)
    log_noise_of_codes(rows.Z[:8], rows.codes[:8], tree.node_weight_, tree.node_bias_, tree.class_leaf_, lp1[:8])
    out["positive_log_prob_seconds"] = _best_of(
        repeats, log_noise_of_codes, rows.Z, rows.codes, tree.node_weight_, tree.node_bias_, tree.class_leaf_, lp1
    )
    # the positive's log p_n is computed once per estimator call (timed above for scale), not in the epoch
    out["scores_updates_rest_seconds"] = out["epoch_seconds"] - out["sampling_seconds"]
    out["model_miss_seconds"] = out["epoch_seconds"] - out["epoch_cached_model_seconds"]
    return out


def fit_epoch(X, y, noise, n_jobs, keep=False):
    from skxc import AdversarialSoftmaxClassifier

    # 1 negative per positive (the paper's setting), the full Adagrad state (one accumulator per
    # weight) and dense weights (a C x d coef_: what the byte model counts), whatever the estimator's
    # defaults ("auto" makes ptb-nextword's weights sparse)
    clf = AdversarialSoftmaxClassifier(
        noise=noise, max_iter=1, tol=None, random_state=0, n_jobs=n_jobs, n_negatives=1, adagrad="full",
        warm_start=True, weights="dense",
    )  # fmt: skip
    clf.fit(X, y)
    clf.fit(X, y)
    rec = {
        "noise": noise,
        "n_jobs": n_jobs,
        "epoch_seconds": clf.epoch_seconds_,
        "positives_per_second": X.shape[0] / clf.epoch_seconds_[-1],
        "tree_fit_seconds": clf.tree_fit_seconds_,
        "depth": int(clf.tree_.depth_),
        "k": int(clf.tree_.n_components_),
        "n_negatives": clf.n_negatives_,
        "n_classes": len(clf.classes_),
    }
    print(
        f"{noise:<12} n_jobs={n_jobs}: {rec['positives_per_second']:,.0f} positives/s (second epoch "
        f"{clf.epoch_seconds_[-1]:.2f} s)",
        flush=True,
    )
    return rec, (clf if keep else None)


def bounds(rate, traffic, stream, rand, threads) -> dict:
    """Throughput against the streaming and the random-line bounds for ``threads`` threads."""
    t, f = traffic["total"], traffic["beyond_l3"]
    bw = stream[str(threads)]["best_gb_s"] * 1e9
    rr = rand[str(threads)]
    clean = f["lines"] - f["dirty_lines"]
    # seconds per positive if every beyond-L3 line cost one access at the measured random rates
    t_random = f["dirty_lines"] / rr["read_write_lines_per_s"] + clean / rr["read_lines_per_s"]
    moved = LINE * (f["lines"] + f["dirty_lines"])  # with write-backs, as copy/triad count bytes
    return {
        "line_bytes_per_s_all": LINE * t["lines"] * rate,
        "line_bytes_per_s_beyond_l3": LINE * f["lines"] * rate,
        "moved_bytes_per_s_beyond_l3": moved * rate,
        "fraction_of_stream_bandwidth": moved * rate / bw,
        "stream_bound_positives_per_s": bw / moved if moved else float("inf"),
        "random_lines_per_s": f["lines"] * rate,
        "fraction_of_random_read_rate": f["lines"] * rate / rr["read_lines_per_s"],
        "random_bound_positives_per_s": 1.0 / t_random if t_random else float("inf"),
        "fraction_of_random_bound": rate * t_random,
    }


# -- report --------------------------------------------------------------------


def summary(record) -> str:
    mc, st, ra = record["machine"], record["stream"], record["random"]
    threads = record["threads"]
    lines = [
        f"# SGD step memory traffic: {record['dataset']} ({record['rows']:,} rows)",
        "",
        f"Machine: {mc['cpus']} CPUs, L3 {record['l3_bytes'] / MiB:.0f} MiB, load average "
        f"{record['load_before'][0]:.2f} before / {record['load_after'][0]:.2f} after.",
        "",
        "| threads | NumPy copyto GB/s | numba copy GB/s | numba triad GB/s | random reads M lines/s (GB/s) "
        "| random read+write M lines/s (GB/s) |",
        "|---|---|---|---|---|---|",
    ]
    for t in threads:
        s, r = st[str(t)], ra[str(t)]
        lines.append(
            f"| {t} | {s['numpy_copyto_gb_s']:.1f} | {s['copy_gb_s']:.1f} | {s['triad_gb_s']:.1f} | "
            f"{r['read_lines_per_s'] / 1e6:.1f} ({r['read_gb_s']:.2f}) | "
            f"{r['read_write_lines_per_s'] / 1e6:.1f} ({r['read_write_gb_s']:.2f}) |"
        )
    lines += [
        "",
        f"Dependent random read latency (1 thread): {ra['dependent_read_latency_ns']:.0f} ns. "
        "Stream bytes count reads + writes (copy 2x, triad 3x the array); the bounds below use the best "
        "of the three stream rates.",
        "",
    ]
    for noise, tr in record["traffic"].items():
        lines += [
            f"## Bytes per positive example, noise={noise!r} (nnz/row {tr['mean_nnz_per_row']:.2f}, "
            f"n_negatives {tr['n_negatives']}, depth {tr['depth']}, k {tr['k']}, C {tr['n_classes']:,})",
            "",
            "| component | useful B | lines | dirty lines | array MiB |",
            "|---|---|---|---|---|",
        ]
        for c in tr["components"]:
            lines.append(
                f"| {c['name']} | {c['useful_bytes']:.0f} | {c['lines']:.2f} | {c['dirty_lines']:.2f} | "
                f"{c['array_bytes'] / MiB:,.1f} |"
            )
        t, f = tr["total"], tr["beyond_l3"]
        far = ", ".join(g for g, v in tr["groups"].items() if v["beyond_l3"])
        lines += [
            f"| **total** | {t['useful_bytes']:.0f} | {t['lines']:.2f} | {t['dirty_lines']:.2f} | |",
            f"| **beyond L3** ({far}) | {f['useful_bytes']:.0f} | {f['lines']:.2f} | {f['dirty_lines']:.2f} | |",
            "",
            f"{tr['hot_feature_nnz_share']:.0%} of the row nonzeros fall in the "
            f"{tr['hot_feature_columns_in_l3']} most frequent features, whose whole coef_+acc columns "
            "would fit in L3 together (an upper bound on the model lines that can hit in cache).",
            "",
        ]
    lines += [
        "## Throughput against the bounds",
        "",
        "| noise | n_jobs | positives/s | line GB/s (all) | GB/s beyond L3 incl. write-backs | % of stream BW "
        "| random lines/s beyond L3 | % of random bound | random bound positives/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in record["runs"]:
        b = run["bounds"]
        lines.append(
            f"| {run['noise']} | {run['n_jobs']} | {run['positives_per_second']:,.0f} | "
            f"{b['line_bytes_per_s_all'] / 1e9:.2f} | {b['moved_bytes_per_s_beyond_l3'] / 1e9:.2f} | "
            f"{b['fraction_of_stream_bandwidth']:.1%} | {b['random_lines_per_s'] / 1e6:.1f} M | "
            f"{b['fraction_of_random_bound']:.1%} | {b['random_bound_positives_per_s']:,.0f} |"
        )
    repeats = max((p["repeats"] for p in record["profile"].values()), default=1)
    lines += [
        "",
        f"## Where an epoch's time goes (1 thread, kernel called directly, best of {repeats})",
        "",
        "| noise | epoch s | sampling | scores + updates + rest | positive log-prob, once per call | "
        "epoch, k=0 tree | "
        "epoch, coef_ in cache | model-miss s | ns per beyond-L3 model line |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for noise, p in record["profile"].items():
        e = p["epoch_seconds"]
        model_lines = record["traffic"][noise]["groups"]["model"]["lines"] * p["rows"]
        k0 = f"{p['epoch_k0_tree_seconds']:.2f}" if "epoch_k0_tree_seconds" in p else "(same tree)"
        lines.append(
            f"| {noise} | {e:.2f} | {p['sampling_seconds']:.2f} ({p['sampling_seconds'] / e:.0%}) | "
            f"{p['scores_updates_rest_seconds']:.2f} ({p['scores_updates_rest_seconds'] / e:.0%}) | "
            f"{p['positive_log_prob_seconds']:.2f} | {k0} | "
            f"{p['epoch_cached_model_seconds']:.2f} | {p['model_miss_seconds']:.2f} "
            f"({p['model_miss_seconds'] / e:.0%}) | {p['model_miss_seconds'] / model_lines * 1e9:.1f} |"
        )
    r1 = ra[str(threads[0])]
    lines += [
        "",
        f"For comparison ({threads[0]} thread): dependent-miss latency {ra['dependent_read_latency_ns']:.0f} "
        f"ns; one random read+write line every {1e9 / r1['read_write_lines_per_s']:.1f} ns, one random read "
        f"every {1e9 / r1['read_lines_per_s']:.1f} ns at full memory-level parallelism. Sampling and "
        "the positive's log-prob are timed on their own (rows in order); the rest is the epoch minus the "
        "sampling (the positive's log-prob is computed once per fit/partial_fit call, outside the epoch).",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data_dir")
    p.add_argument("--rows", type=positive_int, default=None, help="first N training rows only (default: all)")
    p.add_argument("--n-jobs", type=positive_int, nargs="+", default=[1, 2])
    p.add_argument("--noise", nargs="+", choices=NOISES, default=["uniform", "adversarial"])
    p.add_argument("--out", default="benchmarks/results")
    args = p.parse_args(argv)
    check_data_dirs(p, [args.data_dir])
    check_out_dir(p, args.out)

    threads = sorted(set(args.n_jobs))
    l3 = l3_bytes()
    record = {
        "machine": machine(),
        "args": vars(args),
        "l3_bytes": l3,
        "threads": threads,
        "load_before": list(os.getloadavg()),
    }
    record["stream"] = stream_bandwidth(threads)
    gc.collect()
    record["random"] = random_access(threads)
    gc.collect()

    X, y = load_split(args.data_dir, "train")
    if args.rows is not None:
        X, y = X[: args.rows], y[: args.rows]
    name = Path(args.data_dir).name
    record.update(dataset=name, rows=int(X.shape[0]))
    record["runs"], record["traffic"], record["profile"] = [], {}, {}
    for noise in args.noise:
        for n_jobs in args.n_jobs:
            first = noise not in record["traffic"]
            run, clf = fit_epoch(X, y, noise, n_jobs, keep=first)
            if first:
                codes = np.searchsorted(clf.classes_, y).astype(np.int32)
                rows = clf._rows(X, codes, np.ones(X.shape[0], dtype=np.float32))
                order = np.arange(X.shape[0], dtype=np.int64)
                record["traffic"][noise] = traffic_per_positive(
                    rows,
                    order,
                    clf.coef_,
                    clf._adagrad_state.coef_sums,
                    clf.intercept_,
                    clf._adagrad_state.intercept_sums,
                    clf.tree_,
                    clf.n_negatives_,
                    l3,
                )
                record["profile"][noise] = prof = profile_epoch(clf, rows)
                print(
                    f"{noise:<12} profile (1 thread): epoch {prof['epoch_seconds']:.2f} s, sampling "
                    f"{prof['sampling_seconds']:.2f} s, positive log-prob {prof['positive_log_prob_seconds']:.2f} s, "
                    f"coef_ in cache {prof['epoch_cached_model_seconds']:.2f} s",
                    flush=True,
                )
                del clf, rows
                gc.collect()
            run["bounds"] = bounds(
                run["positives_per_second"], record["traffic"][noise], record["stream"], record["random"], n_jobs
            )
            record["runs"].append(run)
    record["load_after"] = list(os.getloadavg())
    suffix = "" if args.rows is None else f"_rows{args.rows}"
    out = Path(args.out)
    write_json(out / f"sgd_memory_{name}{suffix}.json", record)
    text = summary(record)
    (out / f"sgd_memory_{name}{suffix}.md").write_text(text)
    print()
    print(text)
    print(f"wrote {out / f'sgd_memory_{name}{suffix}.json'} and .md")


if __name__ == "__main__":
    main()
