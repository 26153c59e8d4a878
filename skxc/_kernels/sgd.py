"""Negative-sampling SGD with Adagrad: one pass over a list of rows.

The loss per positive (x, y) with negatives y'_1..y'_m ~ p_n(.|x) is the
paper's Eq. 6 with one term per negative (as word2vec sums its negatives):

    softplus(-xi_y) + alpha (xi_y + log p_n(y|x))^2
      + sum_j [softplus(xi_y'j) + alpha (xi_y'j + log p_n(y'j|x))^2]

Its minimiser is xi_c = log p(c|x) - log p_n(c|x) - log m: the bias-corrected
scores are off by the same constant for every class, which the softmax
cancels. (Averaging the negative terms instead gives each negative 1/m of the
gradient and trains worse: docs/benchmarks.rst.)

with xi_c = coef[c] @ x + intercept[c]. Only the rows of the positive and the
negatives change. Adagrad: acc += g^2; w -= lr g / sqrt(acc + ADAGRAD_EPS),
where a weight's g also holds ``l2 * w`` (an L2 penalty on the weights each
step touches: a weight is shrunk in proportion to how often it is used).

The accumulator ``acc`` of weight (c, j) is either stored ("full": one float32
per weight, as much memory as coef_) or factored as in Adafactor (Shazeer &
Stern, 2018): with R_c, S_j and T the sums of the squared gradients of class
c's weights, of feature j's weights and of all weights, acc_cj = R_c S_j / T
(the estimate if class and feature scaled the gradients independently). That
is C + K + 1 float64 numbers instead of C x K (accuracy against the full state:
docs/benchmarks.rst, "Measurements behind the defaults").

Multi-label training (pick-all-labels) visits *examples*: (row, label) pairs.
``example_row`` maps example e to its row of X (and of Z); ``y``,
``sample_weight`` and ``log_noise`` are per example. ``label_indptr`` /
``label_indices`` (CSR of the label indicator matrix Y) give each row's label
set, and a negative drawn from the row's own labels is redrawn, at most
``MAX_REDRAWS`` times; if the last draw is still one of the row's labels that
negative is dropped (its term and update are skipped and it is not counted in
the statistics). For single-label data the three arrays are empty: example e
is row e and nothing is redrawn (the paper's sampler, which Theorem 1 needs).

The positive's log p_n(y|x) does not change while the tree is fixed, so it is
computed once per call of the estimator (``log_noise``), not once per epoch.

Input rows come either as CSR ``(indptr int64, indices int32, data float32)``
or, when ``n_dense_features > 0``, as a C-contiguous dense float32 matrix
flattened into ``data`` (``indptr``/``indices`` are then ignored and may be empty).

The weight matrix is passed flat: element (c, j) of coef_ is
``coef_flat[c * stride_c + j * stride_j]``; the full Adagrad state ``acc_flat``
uses the same strides. This lets the model be stored class-major (C order,
best for dense rows) or feature-major (F order, best for sparse rows) with
one compiled kernel. In the factored mode ``acc_flat`` is empty and
``acc_factors`` float64 holds R (C values) then S (K values); T lives in a
(1,) float64 array ``acc_total`` of its own, so that each thread of a Hogwild
epoch can keep its own running total (written in place; the caller adds the
threads' increments together). A (2,) ``acc_total`` holds T and a share n: the
call is one of n threads' parts of a piece, each stepping its own copies of R,
S and T, and counts each squared gradient n times in them, so that R_c S_j / T
estimates the sums of all n parts (:func:`sum_share`; the caller adds the
increments divided by n to the state).
"""

import math

import numpy as np
from numba import njit

from .._config import NJIT, NJIT_HELPER, NJIT_NO_NRT
from .prefetch import prefetch
from .tree import SAMPLE_SCRATCH_ROWS, log_sigmoid, sample_leaves

#: Adagrad's initial accumulator. The reference implementation's 1e-8 makes a
#: weight's first steps move it by the full learning rate whatever the gradient
#: (a nearly classified negative moves as far as a misclassified one); 1 keeps
#: them in proportion to the gradient (measurements: docs/benchmarks.rst,
#: "Measurements behind the defaults").
ADAGRAD_EPS = 1.0
#: The full Adagrad state's float32 sums of squared gradients stop at the largest float32 instead of
#: overflowing to inf (a feature of about 1e19 or more squares past it), which would set every later step to 0.
ACC_MAX = float(np.finfo(np.float32).max)

#: Multi-label: redraws of a negative that is one of the row's own labels before
#: the negative is dropped. The chance of reaching it is p_n(Y|x)^(MAX_REDRAWS + 1),
#: negligible unless the tree puts nearly all its mass on the row's labels.
MAX_REDRAWS = 16


@njit(**NJIT_HELPER)
def _row_range(indptr, n_dense_features, r):
    if n_dense_features > 0:
        start = r * n_dense_features
        return start, start + n_dense_features
    return indptr[r], indptr[r + 1]


@njit(**NJIT_HELPER)
def row_score(indptr, indices, data, n_dense_features, r, coef_flat, stride_c, stride_j, intercept, c):
    """xi_c(x_r) = coef[c] @ x_r + intercept[c] in float64."""
    start, stop = _row_range(indptr, n_dense_features, r)
    s = np.float64(intercept[c])
    base = c * stride_c
    for p in range(start, stop):
        j = p - start if n_dense_features > 0 else indices[p]
        s += np.float64(data[p]) * np.float64(coef_flat[base + j * stride_j])
    return s


@njit(**NJIT_HELPER)
def adagrad_row_update(
    indptr,
    indices,
    data,
    n_dense_features,
    r,
    coef_flat,
    acc_flat,
    stride_c,
    stride_j,
    acc_factors,
    acc_total,
    intercept,
    acc_intercept,
    c,
    g,
    lr,
    l2,
):
    """Adagrad step on row c of coef_ and intercept_[c] for d loss / d xi_c = g.

    Each weight w_cj with x_j != 0 gets the gradient g x_j + l2 w_cj (the L2
    penalty applied to the weights a step touches; not to the intercept).
    The weights are visited in the row's feature order; with the factored
    state, R_c, S_j and T take each weight's g^2 before its step.
    Modifies ``coef_flat``, the Adagrad state, ``intercept``, ``acc_intercept`` in place.
    """
    if g == 0.0 and l2 == 0.0:
        return
    intercept_step(intercept, acc_intercept, c, g, lr)
    start, stop = _row_range(indptr, n_dense_features, r)
    base = c * stride_c
    full = acc_flat.shape[0] > 0
    s_base = intercept.shape[0]  # factored: R_c is acc_factors[c], S_j is acc_factors[C + j]
    row_sum = 0.0 if full else acc_factors[c]
    total = 0.0 if full else acc_total[0]
    share = sum_share(acc_total)
    for p in range(start, stop):
        v = data[p]
        if v == 0.0:
            continue
        j = p - start if n_dense_features > 0 else indices[p]
        row_sum, total = weight_step(
            coef_flat, acc_flat, base + j * stride_j, acc_factors, s_base + j, full, row_sum, total, g, v, lr, l2,
            share,
        )  # fmt: skip
    if not full:
        acc_factors[c] = row_sum
        acc_total[0] = total


@njit(**NJIT_HELPER)
def intercept_step(intercept, acc_intercept, c, g, lr):
    """Adagrad step of intercept[c] for the gradient g (no L2), in place."""
    acc_b = acc_intercept[c] + g * g
    acc_intercept[c] = acc_b
    intercept[c] -= lr * g / math.sqrt(acc_b + ADAGRAD_EPS)


@njit(**NJIT_HELPER)
def sum_share(acc_total):
    """How many times each squared gradient counts in the factored sums a kernel call adds to: ``acc_total[1]``
    where ``acc_total`` holds it (a call that is one of several threads' shares of a piece, each with its own
    sums: ``skxc._solver.THREAD_SUMS``), else 1."""
    return acc_total[1] if acc_total.shape[0] > 1 else 1.0


@njit(**NJIT_HELPER)
def weight_step(weights, acc, i, acc_factors, col, full, row_sum, total, g, v, lr, l2, share):
    """Adagrad step of ``weights[i]`` for d loss / d xi = g on a feature of value v (plus ``l2`` times the
    weight); returns the factored state's running ``(row_sum, total)``.

    Full state: ``acc[i]`` takes the squared gradient. Factored: R_c (``row_sum``), S_j
    (``acc_factors[col]``) and T (``total``) take it, ``share`` times (:func:`sum_share`: 1, or with n threads
    stepping their own copies of the sums, n, so that R_c S_j / T estimates what all the threads' steps add
    up to), and the weight uses R_c S_j / T. The one step both the dense and the hashed layout take (same
    arithmetic, same model).
    """
    gj = g * v + l2 * weights[i]
    if full:
        a = acc[i] + gj * gj  # float64: this step moves the weight by at most lr, as always
        # the float32 state saturates (squared gradients of features above ~1e19): inf would freeze the weight
        acc[i] = a if a <= ACC_MAX else ACC_MAX
    else:
        g2 = np.float64(gj) * np.float64(gj) * share
        row_sum += g2
        total += g2
        col_sum = acc_factors[col] + g2
        acc_factors[col] = col_sum
        a = row_sum * col_sum / total if total > 0.0 else 0.0
    weights[i] -= lr * gj / math.sqrt(a + ADAGRAD_EPS)
    return row_sum, total


@njit(**NJIT_HELPER)
def losses_and_gradients(xi_pos, lp_pos, neg_class, neg_xi, neg_lp, w, alpha):
    """Eq. 6 for one example and its gradients, from the scores before the step.

    Returns ``(loss, g_pos, hardness, n_negatives)`` (the example's unweighted loss, the weighted
    gradient of the positive's score, the sum of sigmoid(xi) over the negatives and their count);
    ``neg_xi[m]`` is overwritten with the weighted gradient of negative m's score (dropped negatives,
    class -1, are skipped).
    """
    u = xi_pos + lp_pos
    loss = softplus(-xi_pos) + alpha * u * u
    g_pos = w * (-sigmoid(-xi_pos) + 2.0 * alpha * u)
    hard = 0.0
    n = 0
    for m in range(neg_class.shape[0]):
        if neg_class[m] < 0:  # dropped after MAX_REDRAWS (multi-label only)
            continue
        un = neg_xi[m] + neg_lp[m]
        s = sigmoid(neg_xi[m])
        hard += s
        n += 1
        loss += softplus(neg_xi[m]) + alpha * un * un
        neg_xi[m] = w * (s + 2.0 * alpha * un)  # reuse as gradient
    return loss, g_pos, hard, n


@njit(**NJIT_HELPER)
def step_schedule(sample_weight, order, start, lr, lr_end):
    """``(slope, n_stepped)`` of the linear step-size schedule over ``order``, from position ``start``.

    The t-th of the m examples of non-zero weight in ``order`` steps with
    ``lr + slope * t``, ``slope = (lr_end - lr) / m``; ``n_stepped`` is how many
    of them come before ``start``. A constant step (``lr_end == lr``) counts nothing.
    """
    if lr_end == lr:
        return 0.0, 0
    n = 0
    before = 0
    for t in range(order.shape[0]):
        if sample_weight[order[t]] != 0.0:
            n += 1
            if t < start:
                before += 1
    return (lr_end - lr) / (n if n > 1 else 1), before  # not max(): one numba overload less to compile


@njit(**NJIT_HELPER)
def softplus(a):
    """log(1 + exp(a)), stable."""
    return -log_sigmoid(-a)


@njit(**NJIT_HELPER)
def sigmoid(a):
    if a >= 0.0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


@njit(**NJIT_HELPER)
def _is_label(label_indptr, label_indices, r, c):
    """Whether class ``c`` is one of row ``r``'s labels (CSR, sorted ``label_indices``); False without labels."""
    if label_indptr.shape[0] == 0:
        return False
    lo = label_indptr[r]
    hi = label_indptr[r + 1]
    while lo < hi:  # binary search
        mid = (lo + hi) // 2
        v = label_indices[mid]
        if v == c:
            return True
        if v < c:
            lo = mid + 1
        else:
            hi = mid
    return False


@njit(**NJIT_HELPER)
def prefetch_example(e, sample_weight, y, log_noise, indptr, example_row, mapped):
    """Prefetch example ``e``'s own entries (weight, class, log p_n, row pointer); return its row of X."""
    prefetch(sample_weight, e)
    prefetch(y, e)
    prefetch(log_noise, e)
    r = example_row[e] if mapped else e
    prefetch(indptr, r)
    return r


@njit(**NJIT_HELPER)
def _draw_negatives(
    z, node_weight, node_bias, leaf_class, label_indptr, label_indices, r, state, out_class, out_lp, scratch
):
    """Fill ``out_class``/``out_lp`` with negatives drawn from the tree at ``z`` and their log p_n.

    All negatives are drawn side by side (:func:`skxc._kernels.tree.sample_leaves`, the same negatives as
    drawing them in turn; ``scratch`` its float64 scratch). With labels (multi-label), each negative in
    turn that is one of row ``r``'s labels is then redrawn (``sample_leaves`` of one draw) up to
    ``MAX_REDRAWS`` times; if it still is, ``out_class`` is -1 (the negative is dropped). Each negative is
    a draw of p_n restricted to the other classes, as when each one's redraws followed its own first draw,
    and the first draws share the root's activation and overlap their descents: delicious's pick-all-labels
    epochs took 0.87-0.91x the time of redrawing before the next first draw (docs/benchmarks.rst, "Stop 62").
    """
    sample_leaves(z, node_weight, node_bias, state, out_class, out_lp, scratch)
    for m in range(out_class.shape[0]):
        out_class[m] = leaf_class[out_class[m]]
    if label_indptr.shape[0] == 0:
        return
    for m in range(out_class.shape[0]):
        c = out_class[m]
        redraws = 0
        while _is_label(label_indptr, label_indices, r, c):
            if redraws == MAX_REDRAWS:
                c = -1
                break
            sample_leaves(z, node_weight, node_bias, state, out_class[m : m + 1], out_lp[m : m + 1], scratch)
            c = np.int64(leaf_class[out_class[m]])  # int64 as out_class: one specialisation of _is_label
            redraws += 1
        out_class[m] = c


@njit(**NJIT_HELPER)
def _prefetch_row(indptr, indices, r, coef_flat, acc_flat, stride_c, stride_j, c):
    """Prefetch the weights and full Adagrad state of class ``c`` on CSR row ``r``'s features."""
    base = c * stride_c
    full = acc_flat.shape[0] > 0
    for p in range(indptr[r], indptr[r + 1]):
        pos = base + indices[p] * stride_j
        prefetch(coef_flat, pos)
        if full:
            prefetch(acc_flat, pos)


def sampling_scratch(n_negatives):
    """Scratch of one call of :func:`negative_sampling_epoch`: ``(class_scratch, score_scratch)``, the second
    with the sampler's rows below the kernel's three (``skxc._kernels.tree.SAMPLE_SCRATCH_ROWS``)."""
    return (
        np.empty((2, n_negatives), dtype=np.int64),
        np.empty((3 + SAMPLE_SCRATCH_ROWS, n_negatives), dtype=np.float64),
    )


@njit(**NJIT_NO_NRT)
def negative_sampling_epoch(
    indptr,
    indices,
    data,
    n_dense_features,
    y,
    sample_weight,
    example_row,
    label_indptr,
    label_indices,
    order,
    Z,
    log_noise,
    coef_flat,
    acc_flat,
    acc_factors,
    acc_total,
    stride_c,
    stride_j,
    intercept,
    acc_intercept,
    node_weight,
    node_bias,
    leaf_class,
    n_negatives,
    lr,
    lr_end,
    alpha,
    l2,
    state,
    out_stats,
    class_scratch,
    score_scratch,
):
    """One pass of negative-sampling Adagrad over the rows ``order`` (in that order).

    Parameters (dtypes are fixed so the kernel compiles once)
    ----------
    indptr : int64 (n+1,); indices : int32 (nnz,); data : float32 (nnz,) or (n*K,)
    n_dense_features : int, K for dense input, 0 for CSR
    y : int32 (e,) class codes of the examples; sample_weight : float32 (e,)
    example_row : int64 (e,) row of X of each example (multi-label), or empty: example e is row e
    label_indptr : int64 (n+1,), label_indices : int32 (nnz(Y),) sorted per row: each row's
        labels, never drawn as negatives (multi-label); both empty for single-label data
    order : int64 (m,) examples to visit
    Z : float32 (n, k) projected features of the rows for the tree (k may be 0)
    log_noise : float64 (e,) log p_n(y_e | x) of each example's own class
    coef_flat : float32, flat view of coef_ (in place)
    acc_flat : float32, flat view of the full Adagrad state, or empty for the factored one
    acc_factors : float64 (C + K,) the factored state's R then S, or empty (in place)
    acc_total : float64 (1,) the factored state's T, or (2,) T and the share (in place; unused for the full state)
    intercept, acc_intercept : float32 (n_classes,) (in place)
    node_weight, node_bias, leaf_class : the noise tree (read only)
    n_negatives : int; lr, alpha, l2 : float (step size, Eq. 6's lambda, L2 on touched weights)
    lr_end : float, the step size after the last example: the t-th of the m examples of
        non-zero weight in ``order`` (from 0) steps with ``lr + (lr_end - lr) * t / m`` (a linear
        schedule that rows of weight 0 do not advance; ``lr_end == lr``: constant)
    state : uint64 (1,) RNG state (advanced in place)
    out_stats : float64 (4,), incremented in place with
        [sum of weighted loss, sum of weights, sum of sigmoid(xi) over negatives,
        number of negatives (dropped ones not counted)].
    class_scratch : int64 (2, n_negatives); score_scratch : float64 (3 + SAMPLE_SCRATCH_ROWS, n_negatives):
        scratch (:func:`sampling_scratch`; one pair per concurrent call). The kernel
        allocates nothing, so it compiles no NumPy allocation code.
    """
    neg_class = class_scratch[0]
    next_class = class_scratch[1]
    neg_xi = score_scratch[0]
    neg_lp = score_scratch[1]
    next_lp = score_scratch[2]
    draw_scratch = score_scratch[3:]
    mapped = example_row.shape[0] > 0
    loss_sum = 0.0
    weight_sum = 0.0
    hard_sum = 0.0
    n_drawn = 0
    n_rows = order.shape[0]
    # Software pipeline: the negatives of the next example are drawn (the RNG sequence
    # is the same as drawing them in turn) and the model entries it will touch are
    # prefetched while this example is trained, so their cache misses overlap the work.
    if n_rows > 0 and sample_weight[order[0]] != 0.0:
        x0 = example_row[order[0]] if mapped else order[0]
        _draw_negatives(
            Z[x0], node_weight, node_bias, leaf_class, label_indptr, label_indices, x0, state, next_class, next_lp,
            draw_scratch,
        )  # fmt: skip
    # start 0 as int64, like the hashed kernel's: one specialisation of step_schedule, not two
    lr_slope, n_stepped = step_schedule(sample_weight, order, np.int64(0), lr, lr_end)
    for t in range(n_rows):
        e = order[t]
        r = example_row[e] if mapped else e
        w = np.float64(sample_weight[e])
        for m in range(n_negatives):
            neg_class[m] = next_class[m]
            neg_lp[m] = next_lp[m]
        if t + 1 < n_rows:
            e_next = order[t + 1]
            if sample_weight[e_next] != 0.0:
                r_next = example_row[e_next] if mapped else e_next
                _draw_negatives(
                    Z[r_next], node_weight, node_bias, leaf_class, label_indptr, label_indices, r_next, state,
                    next_class, next_lp, draw_scratch,
                )  # fmt: skip
                if n_dense_features == 0:
                    _prefetch_row(indptr, indices, r_next, coef_flat, acc_flat, stride_c, stride_j, np.int64(y[e_next]))
                    for m in range(n_negatives):
                        if next_class[m] >= 0:
                            _prefetch_row(
                                indptr, indices, r_next, coef_flat, acc_flat, stride_c, stride_j, next_class[m]
                            )
            if t + 2 < n_rows:
                r_after = prefetch_example(order[t + 2], sample_weight, y, log_noise, indptr, example_row, mapped)
                if Z.shape[1] > 0:
                    prefetch(Z[r_after], 0)
        if w == 0.0:
            continue
        lr_t = lr + lr_slope * n_stepped
        n_stepped += 1
        c_pos = np.int64(y[e])  # int64 like the negatives: one specialisation of the helpers
        lp_pos = log_noise[e]
        xi_pos = row_score(indptr, indices, data, n_dense_features, r, coef_flat, stride_c, stride_j, intercept, c_pos)
        for m in range(n_negatives):
            if neg_class[m] >= 0:
                neg_xi[m] = row_score(
                    indptr, indices, data, n_dense_features, r, coef_flat, stride_c, stride_j, intercept, neg_class[m]
                )
        # loss and gradients, all from the scores before this step's updates
        loss, g_pos, hard, n = losses_and_gradients(xi_pos, lp_pos, neg_class, neg_xi, neg_lp, w, alpha)
        hard_sum += hard
        n_drawn += n
        loss_sum += w * loss
        weight_sum += w
        adagrad_row_update(
            indptr, indices, data, n_dense_features, r, coef_flat, acc_flat, stride_c, stride_j, acc_factors,
            acc_total, intercept, acc_intercept, c_pos, g_pos, lr_t, l2,
        )  # fmt: skip
        for m in range(n_negatives):
            if neg_class[m] < 0:
                continue
            adagrad_row_update(
                indptr, indices, data, n_dense_features, r, coef_flat, acc_flat, stride_c, stride_j, acc_factors,
                acc_total, intercept, acc_intercept, neg_class[m], neg_xi[m], lr_t, l2,
            )  # fmt: skip
    out_stats[0] += loss_sum
    out_stats[1] += weight_sum
    out_stats[2] += hard_sum
    out_stats[3] += np.float64(n_drawn)


@njit(**NJIT)
def softmax_epoch(
    indptr,
    indices,
    data,
    n_dense_features,
    y,
    sample_weight,
    example_row,
    order,
    coef_flat,
    acc_flat,
    acc_factors,
    acc_total,
    stride_c,
    stride_j,
    intercept,
    acc_intercept,
    lr,
    lr_end,
    alpha,
    l2,
    out_stats,
):
    """One pass of exact (full) softmax Adagrad over the rows ``order``: O(nnz(x) C) per row.

    The reference the negative-sampling kernel approximates. Loss per row:
    ``logsumexp(xi) - xi_y + alpha / C * sum_c xi_c^2`` (the second term only
    pins the softmax's free shift). Every class row is updated with
    ``adagrad_row_update``, the same step the negative-sampling kernel uses.
    Multi-label: one term per (row, label) example (pick-all-labels with the
    exact softmax; other labels of the row are not excluded).
    Arguments (``lr_end`` too) as in :func:`negative_sampling_epoch`; ``out_stats`` float64 (4,)
    is incremented with [weighted loss, weights, 0, 0].
    """
    n_classes = intercept.shape[0]
    xi = np.empty(n_classes, dtype=np.float64)
    reg = alpha / n_classes
    loss_sum = 0.0
    weight_sum = 0.0
    mapped = example_row.shape[0] > 0
    # start 0 as int64, like the hashed kernel's: one specialisation of step_schedule, not two
    lr_slope, n_stepped = step_schedule(sample_weight, order, np.int64(0), lr, lr_end)
    for t in range(order.shape[0]):
        e = order[t]
        r = example_row[e] if mapped else e
        w = np.float64(sample_weight[e])
        if w == 0.0:
            continue
        lr_t = lr + lr_slope * n_stepped
        n_stepped += 1
        m = -np.inf
        sq = 0.0
        for c in range(n_classes):
            s = row_score(indptr, indices, data, n_dense_features, r, coef_flat, stride_c, stride_j, intercept, c)
            xi[c] = s
            sq += s * s
            if s > m:
                m = s
        z = 0.0
        for c in range(n_classes):
            z += math.exp(xi[c] - m)
        lse = m + math.log(z)
        c_pos = y[e]
        loss_sum += w * (lse - xi[c_pos] + reg * sq)
        weight_sum += w
        for c in range(n_classes):
            g = math.exp(xi[c] - lse) + 2.0 * reg * xi[c]
            if c == c_pos:
                g -= 1.0
            adagrad_row_update(
                indptr, indices, data, n_dense_features, r, coef_flat, acc_flat, stride_c, stride_j, acc_factors,
                acc_total, intercept, acc_intercept, c, w * g, lr_t, l2,
            )  # fmt: skip
    out_stats[0] += loss_sum
    out_stats[1] += weight_sum
