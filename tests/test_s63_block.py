"""Stop 63: a fit's hashed epochs keep the weights on the negatives' insert features in a dense block
(``skxc._solver.Block``): the kernels that move them out of the table and back against Python references, the
epoch with a block against the epoch without (the same bits), and the estimator's fit with and without."""

import numpy as np
import pytest
import scipy.sparse as sp

import skxc._solver as solver_module
from skxc import AdversarialSoftmaxClassifier, AuxiliaryTree
from skxc._kernels.hashed import EMPTY, block_entries, block_to_table, gather, insert_all, move_to_block
from skxc._predict import log_noise_of
from skxc._solver import Block, Rows, SGDParams, run_epochs, sgd_epoch
from skxc._state import AdagradState
from skxc._weights import MAX_LOAD, HashedWeights, SparseWeightsMemoryError


def _table(n_classes, n_features, capacity, full, rng, n_keys=None):
    """A table holding random keys (some of weight exactly 0, some with a full-state sum of 0)."""
    table = HashedWeights((n_classes, n_features), capacity, full)
    n_keys = int(MAX_LOAD * capacity) if n_keys is None else n_keys
    keys = rng.choice(n_classes * n_features, size=n_keys, replace=False).astype(np.int64)
    vals = rng.standard_normal(n_keys).astype(np.float32)
    vals[:5] = 0.0
    sums = rng.random(n_keys).astype(np.float32) if full else np.zeros(0, np.float32)
    if full:
        sums[:2] = 0.0  # keys 0, 1: weight 0 and sum 0 (dropped by the round trip); 2-4: weight 0, a sum (kept)
    table.count = int(insert_all(keys, vals, sums, table.keys, table.vals, table.acc, table.shift))
    return table, keys, vals, sums


@pytest.mark.kernel
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_move_to_block_and_back(full, seed):
    """move_to_block on a nearly full table (long probe runs): the block holds exactly the entries on the mask's
    features at k * C + c, the table exactly the others, each reachable from its home (gather), with empty slots
    zeroed; block_to_table puts back every entry of non-zero weight (or full-state sum), so the table's CSR is
    the original's less the entries that were 0 in both."""
    rng = np.random.default_rng(seed)
    C, F = 9, 40
    table, keys, vals, sums = _table(C, F, 256, full, rng)
    before, acc_before = table.to_csr()
    columns = np.sort(rng.choice(F, size=12, replace=False)).astype(np.int64)
    colmap = np.full(F, -1, np.int32)
    colmap[columns] = np.arange(columns.size, dtype=np.int32)
    block = np.zeros(columns.size * C, np.float32)
    block_acc = np.zeros(block.size if full else 0, np.float32)
    on = colmap[keys % F] >= 0
    assert 0 < on.sum() < keys.size
    kept = move_to_block(table.keys, table.vals, table.acc, F, colmap, C, block, block_acc, table.shift)
    assert kept == np.count_nonzero(~on) == np.count_nonzero(table.keys != EMPTY)
    out = np.empty(keys.size, np.float32)
    gather(table.keys, table.vals, keys, out)
    np.testing.assert_array_equal(out, np.where(on, 0, vals))
    expected = np.zeros(block.size, np.float32)
    index = colmap[keys[on] % F].astype(np.int64) * C + keys[on] // F
    expected[index] = vals[on]
    np.testing.assert_array_equal(block, expected)
    if full:
        expected_acc = np.zeros(block.size, np.float32)
        expected_acc[index] = sums[on]
        np.testing.assert_array_equal(block_acc, expected_acc)
    empty = table.keys == EMPTY
    assert not table.vals[empty].any() and not (full and table.acc[empty].any())
    n_back = block_entries(block, block_acc)
    lost = on & (vals == 0) & ((sums == 0) if full else True)
    assert n_back == np.count_nonzero(on & ~lost)
    table.reserve(n_back)
    table.count += int(block_to_table(block, block_acc, columns, C, F, table.keys, table.vals, table.acc, table.shift))
    after, acc_after = table.to_csr()
    assert table.count == keys.size - lost.sum() == after.nnz
    np.testing.assert_array_equal(after.toarray(), before.toarray())
    keep = np.ones(before.nnz, bool)  # before's entries less the lost ones (CSR order: class, then feature)
    lost_keys = set(keys[lost].tolist())
    rows_ = np.repeat(np.arange(C), np.diff(before.indptr))
    keep[[i for i in range(before.nnz) if rows_[i] * F + before.indices[i] in lost_keys]] = False
    np.testing.assert_array_equal(after.indices, before.indices[keep])
    if full:
        np.testing.assert_array_equal(acc_after, acc_before[keep])


def _rows(multilabel, n=1200, F=300, C=30, seed=0):
    """Few rows per class with an insert mask on the most frequent features (about a third of them)."""
    rng = np.random.default_rng(seed)
    popular = rng.random(F) ** 3
    X = sp.random(n, F, density=0.05, random_state=seed, format="csr", dtype=np.float32,
                  data_rvs=lambda k: rng.random(k) + 0.1)  # fmt: skip
    X = sp.csr_matrix(X.multiply(sp.csr_matrix((popular > 0.05).astype(np.float32) + 0.0))) + sp.random(
        n, F, density=0.01, random_state=seed + 1, format="csr", dtype=np.float32
    )
    X.sort_indices()
    y = rng.integers(0, C, n).astype(np.int32)
    tree = AuxiliaryTree(n_components=3, random_state=0).fit(X, y)
    Z = tree.transform(X)
    df = np.bincount(X.indices, minlength=F)
    mask = (df >= np.quantile(df, 0.66)).astype(np.uint8)
    if not multilabel:
        rows = Rows(X.indptr.astype(np.int64), X.indices, X.data, 0, y, np.ones(n, np.float32), Z,
                    log_noise_of(Z, y, tree.arrays, 1))  # fmt: skip
    else:
        Y = sp.csr_matrix((np.ones(2 * n), (np.repeat(np.arange(n), 2), np.c_[y, (y + 7) % C].ravel())), shape=(n, C))
        Y.sum_duplicates()
        Y.sort_indices()
        example_row = np.repeat(np.arange(n), np.diff(Y.indptr)).astype(np.int64)
        codes = Y.indices.astype(np.int32)
        rows = Rows(X.indptr.astype(np.int64), X.indices, X.data, 0, codes, np.ones(codes.size, np.float32), Z,
                    log_noise_of(np.ascontiguousarray(Z[example_row]), codes, tree.arrays, 1), example_row,
                    Y.indptr.astype(np.int64), Y.indices.astype(np.int32))  # fmt: skip
    from dataclasses import replace

    return replace(rows, negative_inserts=mask), tree.arrays, (C, F)


@pytest.mark.kernel
@pytest.mark.parametrize("kind", ["factored", "full"])
@pytest.mark.parametrize("multilabel", [False, True])
def test_epochs_with_a_block_equal_epochs_without(kind, multilabel):
    """One thread, no truncation: two epochs on a table that holds a start's weights (on and off the mask) and
    must grow, once with the mask's weights in a block (handed back after the epochs: written into CSR along
    with the table's, or put into the table when it is read, the same either way) and once without, give the
    same table (CSR and full-state sums), biases and factored state, bit for bit, and the epochs' statistics
    to rounding."""
    rows, tree, (C, F) = _rows(multilabel)
    params = SGDParams(False, 3, 0.4, 3e-3, 0.01)
    start = sp.random(C, F, density=0.05, random_state=4, format="csr", dtype=np.float32)
    results = []
    for use_block in (True, False):
        table = HashedWeights.from_csr(start, np.ones(start.nnz, np.float32) if kind == "full" else None, extra=2000)
        capacity = table.capacity
        b = np.zeros(C, np.float32)
        state = AdagradState.zeros_sparse(kind, C, F)
        block = Block.wanted(table, rows) if use_block else None
        assert (block is not None) == use_block
        if block is not None:  # the start's weights on the mask's features left the table
            on = rows.negative_inserts[start.indices] != 0
            assert table.count == start.nnz - on.sum() and 0 < on.sum() < start.nnz
        stats = []
        for epoch in range(2):
            order = np.random.default_rng(5 + epoch).permutation(rows.n_samples).astype(np.int64)
            stats.append(sgd_epoch(table, b, state, params, rows, tree, order, np.random.default_rng(7 + epoch), 1,
                                   block=block))  # fmt: skip
        if block is not None:
            block.close()  # handed back, not yet in the table: to_csr writes both
            assert table.pending is not None
            written = table.to_csr()
            assert table.pending is not None
            n_stored = table.count  # reading the table puts the block's weights into it first
            assert table.pending is None and n_stored == written[0].nnz
            settled = table.to_csr()
            for a, b_ in ((written[0].indptr, settled[0].indptr), (written[0].indices, settled[0].indices),
                          (written[0].data, settled[0].data)):  # fmt: skip
                np.testing.assert_array_equal(a, b_)
            if kind == "full":
                np.testing.assert_array_equal(written[1], settled[1])
        assert table.capacity > capacity or use_block  # without a block the table grew
        results.append((table.to_csr(), b, state.factor_sums, stats))
    (coef1, acc1), b1, f1, s1 = results[0]
    (coef2, acc2), b2, f2, s2 = results[1]
    np.testing.assert_array_equal(coef1.indptr, coef2.indptr)
    np.testing.assert_array_equal(coef1.indices, coef2.indices)
    np.testing.assert_array_equal(coef1.data, coef2.data)
    if kind == "full":
        np.testing.assert_array_equal(acc1, acc2)
    np.testing.assert_array_equal(b1, b2)
    np.testing.assert_array_equal(f1, f2)
    for a, b in zip(s1, s2, strict=True):  # summed per kernel call: the calls stop at other rows to grow the table
        assert a.loss == pytest.approx(b.loss, rel=1e-12) and a.hardness == pytest.approx(b.hardness, rel=1e-12)


def test_block_wanted_only_where_it_pays_and_fits(monkeypatch):
    """No block without hashed weights, without a mask or with an empty one, where the block would take more
    bytes than the table, with BLOCK False, where the memory guard refuses it or its allocation fails; else
    one, with the table's mask entries in it."""
    rows, tree, (C, F) = _rows(False)
    from dataclasses import replace

    table = HashedWeights((C, F), 4096, False)
    assert Block.wanted(np.zeros((C, F), np.float32), rows) is None
    assert Block.wanted(table, replace(rows, negative_inserts=rows.negative_inserts[:0])) is None
    assert Block.wanted(table, replace(rows, negative_inserts=np.zeros(F, np.uint8))) is None
    small = HashedWeights((C, F), 64, False)  # 768 bytes against a block of about 100 features x 30 classes
    assert Block.wanted(small, rows) is None
    monkeypatch.setattr(solver_module, "BLOCK", False)
    assert Block.wanted(table, rows) is None
    monkeypatch.setattr(solver_module, "BLOCK", True)

    def refuse(*args):
        raise SparseWeightsMemoryError("no memory")

    monkeypatch.setattr(solver_module, "check_growth_memory", refuse)
    assert Block.wanted(table, rows) is None
    monkeypatch.undo()

    def no_map(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(solver_module, "zeros", no_map)  # the allocation itself fails: the table as it was
    count = table.count
    assert Block.wanted(table, rows) is None and table.count == count
    monkeypatch.undo()
    block = Block.wanted(table, rows)
    assert block is not None and block.args[1].size == np.count_nonzero(rows.negative_inserts) * C


def test_an_error_in_the_epochs_leaves_the_table_whole(monkeypatch):
    """An error after the first epoch (here from ``record``) leaves run_epochs with the block's weights back in
    the table: the same table as one epoch without a block."""
    rows, tree, (C, F) = _rows(False)
    params = SGDParams(False, 3, 0.4, 3e-3, 0.01)

    class Stop(Exception):
        pass

    def record(stats, score):
        raise Stop

    tables = []
    for use_block in (True, False):
        monkeypatch.setattr(solver_module, "BLOCK", use_block)
        table = HashedWeights((C, F), 1 << 14, False)
        schedule = solver_module.Schedule(n_epochs=3, n_threads=1, shuffle=True)
        with pytest.raises(Stop):
            run_epochs(table, np.zeros(C, np.float32), AdagradState.zeros_sparse("factored", C, F), params, rows,
                       tree, np.random.default_rng(0), schedule, record)  # fmt: skip
        tables.append(table.to_csr()[0])
    assert tables[0].nnz > 100
    np.testing.assert_array_equal(tables[0].toarray(), tables[1].toarray())


@pytest.mark.parametrize("adagrad", ["factored", "full"])
def test_fit_with_and_without_a_block(text_like, monkeypatch, adagrad):
    """fit with sparse weights on few rows per class (an insert mask), one thread, no pruning: the block is used
    (its epochs' blocks counted) and the model is the one without it, bit for bit; with pruning (which the
    table's truncation applies while training) the models agree on the test rows' top class."""
    X, y, Xt, _ = text_like
    made = []
    init = Block.__init__

    def counted(self, *args):
        made.append(1)
        init(self, *args)

    monkeypatch.setattr(Block, "__init__", counted)
    kw = dict(random_state=0, n_jobs=1, max_iter=4, weights="sparse", centroid_blend=0.0, adagrad=adagrad)
    models = {}
    for use_block in (True, False):
        monkeypatch.setattr(solver_module, "BLOCK", use_block)
        made.clear()
        models[use_block] = AdversarialSoftmaxClassifier(weight_threshold=0.0, **kw).fit(X, y)
        assert bool(made) == use_block
    np.testing.assert_array_equal(models[True].coef_.toarray(), models[False].coef_.toarray())
    np.testing.assert_array_equal(models[True].intercept_, models[False].intercept_)
    np.testing.assert_array_equal(models[True].predict_proba(Xt), models[False].predict_proba(Xt))
    pruned = {b: (monkeypatch.setattr(solver_module, "BLOCK", b), AdversarialSoftmaxClassifier(**kw).fit(X, y))[1]
              for b in (True, False)}  # fmt: skip
    assert np.mean(pruned[True].predict(Xt) == pruned[False].predict(Xt)) > 0.95
