"""The multi-label (pick-all-labels) path of the negative-sampling kernel against references.

Examples are (row, label) pairs; a negative that is one of the row's own labels
is redrawn (at most ``MAX_REDRAWS`` times, then dropped).
"""

from __future__ import annotations

import _reference as ref
import numba
import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats
from test_kernels import N_CLASSES, _assert_same_state, _problem, _ref_state, _run_kernel

from skxc._kernels.sgd import MAX_REDRAWS
from skxc._kernels.sgd import _draw_negatives as _draw_negatives_helper
from skxc._kernels.tree import SAMPLE_SCRATCH_ROWS

pytestmark = pytest.mark.kernel


@numba.njit
def draw_negatives(z, node_weight, node_bias, leaf_class, label_indptr, label_indices, r, state, out_class, out_lp):
    scratch = np.empty((SAMPLE_SCRATCH_ROWS, out_class.shape[0]))  # only the draws without labels use it
    _draw_negatives_helper(z, node_weight, node_bias, leaf_class, label_indptr, label_indices, r, state, out_class,
                           out_lp, scratch)  # fmt: skip


# the rows' label sets of _problem's 4 rows (row 2 has three labels)
LABELS = sp.csr_matrix(np.array([[1, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 1, 1, 0, 1], [1, 0, 0, 0, 0]], dtype=np.int8))


def _examples(Y):
    example_row = np.repeat(np.arange(Y.shape[0]), np.diff(Y.indptr))
    return example_row.astype(np.int64), Y.indices.astype(np.int32)


def _tree_favouring(labels, k, rng):
    """A random 5-class tree whose biases are shifted until the classes ``labels`` hold most of p_n at z = 0."""
    for _ in range(1000):
        tree = ref.random_tree(N_CLASSES, k, rng, scale=2.0)
        p = np.exp(ref.class_log_proba(np.zeros(k), tree[0], tree[1], tree[2], N_CLASSES))
        if p[list(labels)].sum() > 0.6 and np.all(p > 1e-3):
            return tree, p
    raise AssertionError("no such tree")


def test_own_labels_are_never_drawn_and_the_rest_follow_the_tree():
    """Counting 30,000 draws at fixed seeds: none is a label of the row; the others follow
    p_n restricted to the non-labels and renormalised (chi-square)."""
    rng = np.random.default_rng(0)
    labels = {1, 2, 4}
    tree, p = _tree_favouring(labels, 3, rng)
    indptr = np.array([0, 0, 3], dtype=np.int64)  # row 1 has labels 1, 2, 4; row 0 none
    indices = np.array(sorted(labels), dtype=np.int32)
    z = np.zeros(3, dtype=np.float32)
    n = 30_000
    out_class = np.empty(n, dtype=np.int64)
    out_lp = np.empty(n, dtype=np.float64)
    draw_negatives(z, tree[0], tree[1], tree[2], indptr, indices, 1, np.array([12345], dtype=np.uint64), out_class,
                   out_lp)  # fmt: skip
    # a negative is dropped when MAX_REDRAWS + 1 draws in a row are labels: probability q^(MAX_REDRAWS + 1)
    q = p[sorted(labels)].sum()
    dropped = out_class < 0
    assert stats.binomtest(int(dropped.sum()), n, q ** (MAX_REDRAWS + 1)).pvalue > 1e-3
    counts = np.bincount(out_class[~dropped], minlength=N_CLASSES)
    assert counts[sorted(labels)].sum() == 0
    others = [c for c in range(N_CLASSES) if c not in labels]
    expected = p[others] / p[others].sum() * counts.sum()
    assert stats.chisquare(counts[others], expected).pvalue > 1e-3
    # log p_n returned is the tree's (unrestricted) log-probability of the drawn class
    np.testing.assert_allclose(out_lp[~dropped], np.log(p[out_class[~dropped]]), rtol=1e-6)
    # the same draws for a row without labels include the labels, as often as the tree says
    out_class[:] = -2
    draw_negatives(z, tree[0], tree[1], tree[2], indptr, indices, 0, np.array([12345], dtype=np.uint64), out_class,
                   out_lp)  # fmt: skip
    counts = np.bincount(out_class, minlength=N_CLASSES)
    assert stats.chisquare(counts, p * n).pvalue > 1e-3


def test_negatives_are_drawn_side_by_side_then_redrawn_in_turn():
    """One example's negatives: the first draws of all of them (side by side, the uniforms in turn), then the
    redraws of those among the row's labels, negative by negative: the reference's order, where the labels
    hold most of p_n (many redraws), and the RNG state after them."""
    rng = np.random.default_rng(0)
    labels = {1, 2, 4}
    tree, _ = _tree_favouring(labels, 3, rng)
    indptr = np.array([0, 0, 3], dtype=np.int64)
    indices = np.array(sorted(labels), dtype=np.int32)
    z = np.array([0.3, -0.2, 0.1], dtype=np.float32)
    for n_negatives in (1, 2, 5, 40):
        out_class = np.empty(n_negatives, dtype=np.int64)
        out_lp = np.empty(n_negatives, dtype=np.float64)
        state = np.array([2024 + n_negatives], dtype=np.uint64)
        draw_negatives(z, tree[0], tree[1], tree[2], indptr, indices, 1, state, out_class, out_lp)
        r = ref.XorShift64Star(2024 + n_negatives)
        want = ref.draw_negatives(z, tree[0], tree[1], tree[2], r, n_negatives, labels)
        assert out_class.tolist() == [-1 if c is None else c for c, _ in want]
        kept = out_class >= 0
        np.testing.assert_allclose(out_lp[kept], [lp for c, lp in want if c is not None], rtol=1e-12)
        assert int(state[0]) == r.state


def test_single_label_draws_are_not_redrawn():
    """Without label arrays the draws are the tree's, in the same RNG sequence as before."""
    rng = np.random.default_rng(1)
    tree = ref.random_tree(N_CLASSES, 3, rng)
    z = rng.normal(size=3).astype(np.float32)
    out_class, out_lp = np.empty(50, dtype=np.int64), np.empty(50)
    empty_ptr, empty_idx = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
    state = np.array([777], dtype=np.uint64)
    draw_negatives(z, tree[0], tree[1], tree[2], empty_ptr, empty_idx, 0, state, out_class, out_lp)
    r = ref.XorShift64Star(777)
    want = [int(tree[2][ref.sample_leaf(z, tree[0], tree[1], r)[0]]) for _ in range(50)]
    assert out_class.tolist() == want and int(state[0]) == r.state


def test_negative_dropped_after_max_redraws():
    """A row labelled with every class has no admissible negative: each is drawn
    MAX_REDRAWS + 1 times, then dropped; only the positive's row is updated."""
    Xin, _, Z, tree, coef, acc, intercept, acc_intercept = _problem(7, "C", 3, "dense")
    Y = sp.csr_matrix(np.ones((4, N_CLASSES), dtype=np.int8))
    before = coef.copy()
    n_negatives, seed, r = 2, 99, 1
    state, out_stats = _run_kernel(
        Xin, np.array([3], dtype=np.int32), 1.0, Z, tree, coef, acc, intercept, acc_intercept, [0], n_negatives,
        0.3, 0.05, seed, example_row=[r], labels=Y,
    )  # fmt: skip
    changed = np.flatnonzero(np.any(coef != before, axis=1))
    assert changed.tolist() == [3]
    assert out_stats[3] == 0 and out_stats[2] == 0  # no negative counted
    rng = ref.XorShift64Star(seed)
    for _ in range(n_negatives * (MAX_REDRAWS + 1)):
        ref.sample_leaf(Z[r], tree[0], tree[1], rng)
    assert int(state[0]) == rng.state


@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize("adagrad", ["full", "factored"])
def test_multilabel_epoch_matches_reference_steps(fmt, adagrad):
    """A pass over (row, label) examples (repeats, zero weights, shuffled) == the reference
    steps in turn, each excluding its row's labels from the negatives."""
    lr, alpha, n_negatives, seed = 0.3, 0.05, 3, 4242
    Xin, _, Z, tree, coef, acc, intercept, acc_intercept = _problem(5, "F", 3, fmt, adagrad)
    example_row, codes = _examples(LABELS)
    weight = np.array([0.5, 1.0, 1.5, 0.0], dtype=np.float32)[example_row]
    order = [4, 0, 2, 3, 3, 1, 5, 6, 2]
    params = [coef.astype(np.float64), _ref_state(acc), intercept.astype(np.float64), acc_intercept.astype(np.float64)]
    state, out_stats = _run_kernel(
        Xin, codes, weight, Z, tree, coef, acc, intercept, acc_intercept, order, n_negatives, lr, alpha, seed,
        example_row=example_row, labels=LABELS,
    )  # fmt: skip
    X = (Xin.toarray() if sp.issparse(Xin) else Xin).astype(np.float32).astype(np.float64)
    rng = ref.XorShift64Star(seed)
    loss_sum, n_neg = 0.0, 0
    for e in order:
        if weight[e] == 0:
            continue
        r = example_row[e]
        own = set(LABELS.indices[LABELS.indptr[r] : LABELS.indptr[r + 1]].tolist())
        loss, negs, _ = ref.sgd_step(
            X[r], codes[e], float(weight[e]), Z[r], *params, tree, n_negatives, lr, alpha, rng, exclude=own
        )
        assert not own & set(negs)
        loss_sum += loss
        n_neg += len(negs)
    for got, want in zip((coef, acc, intercept, acc_intercept), params, strict=True):
        _assert_same_state(got, want, rtol=1e-5, atol=1e-6)
    assert int(state[0]) == rng.state
    assert out_stats[0] == pytest.approx(loss_sum, rel=1e-6)
    assert out_stats[3] == n_neg


@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_multilabel_gradients_match_finite_differences(fmt):
    """The gradient a multi-label example applies == finite differences of its Eq. 6 term
    (the positive label, negatives drawn outside the row's label set)."""
    lr, alpha, weight, n_negatives = 0.1, 0.05, 0.75, 2
    Xin, _, Z, tree, coef, acc, intercept, acc_intercept = _problem(2, "C", 3, fmt)
    r, c_pos = 2, 2  # row 2 has labels {1, 2, 4}
    own = {1, 2, 4}
    x = (Xin.toarray() if sp.issparse(Xin) else Xin)[r].astype(np.float32).astype(np.float64)
    for seed in range(1, 1000):  # distinct negatives: every touched row gets exactly one gradient
        rng = ref.XorShift64Star(seed)
        draws = ref.draw_negatives(Z[r], tree[0], tree[1], tree[2], rng, n_negatives, own)
        negs = [c for c, _ in draws]
        if None not in negs and len(set(negs)) == n_negatives:
            break
    lp_neg = [lp for _, lp in draws]
    lp_pos = ref.leaf_log_proba(Z[r], tree[0], tree[1])[tree[3][c_pos]]
    acc[:] = 0.0
    acc_intercept[:] = 0.0
    coef0, intercept0 = coef.astype(np.float64), intercept.astype(np.float64)
    _, out_stats = _run_kernel(
        Xin, np.array([c_pos], dtype=np.int32), weight, Z, tree, coef, acc, intercept, acc_intercept, [0],
        n_negatives, lr, alpha, seed, example_row=[r], labels=LABELS,
    )  # fmt: skip

    eq6_args = (x, c_pos, lp_pos, negs, lp_neg, alpha, weight)
    fd_intercept = ref.check_step_gradients(
        coef0, intercept0, coef, intercept, acc, acc_intercept, out_stats[0], eq6_args
    )
    assert np.count_nonzero(fd_intercept) == 1 + n_negatives
    assert not own & set(np.flatnonzero(fd_intercept).tolist()) - {c_pos}
