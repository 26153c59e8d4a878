"""Sparse class weights: the hash table's kernels against Python references, the hashed SGD kernel
against the dense one, and the estimator's two layouts against each other."""

import io
import pickle
from dataclasses import replace

import joblib
import numpy as np
import pytest
import scipy.sparse as sp

import skxc._solver as solver_module
import skxc._training as training_module
from skxc import AdversarialSoftmaxClassifier, AuxiliaryTree
from skxc._kernels.hashed import EMPTY, add_feature_major_scores, drop_small, gather, insert_all
from skxc._predict import log_noise_of
from skxc._solver import Rows, SGDParams, sgd_epoch
from skxc._state import AdagradState
from skxc._weights import MAX_LOAD, HashedWeights, by_feature, prune, to_dense


def _table_dict(table):
    used = table.keys != EMPTY
    return dict(zip(table.keys[used].tolist(), table.vals[used].tolist(), strict=True))


@pytest.mark.kernel
@pytest.mark.parametrize("n_keys", [8, 5000])
def test_table_matches_a_dict_with_collisions(n_keys):
    """Keys that collide (a small table) or not: every stored key is found with its weight, absent keys
    read 0, and linear probing's invariant holds (no empty slot between a key's home and its slot)."""
    rng = np.random.default_rng(0)
    wanted = rng.choice(10**6, size=n_keys, replace=False).astype(np.int64)
    coef = sp.csr_matrix((np.arange(1, n_keys + 1, dtype=np.float32), (np.zeros(n_keys, int), wanted)),
                         shape=(1, 10**6))  # fmt: skip
    table = HashedWeights.from_csr(coef)
    assert table.count == n_keys and table.count <= MAX_LOAD * table.capacity
    expect = dict(zip(coef.indices.tolist(), coef.data.tolist(), strict=True))
    assert _table_dict(table) == expect
    probe = np.concatenate([wanted, np.array([10**6 + 5, 10**7, 3], dtype=np.int64)])
    out = np.empty(probe.size, dtype=np.float32)
    gather(table.keys, table.vals, probe, out)
    np.testing.assert_array_equal(out, [expect.get(int(k), 0.0) for k in probe])
    cap, shift = table.capacity, table.shift
    displaced = 0
    for slot in np.flatnonzero(table.keys != EMPTY):
        key = int(table.keys[slot])
        i = ((key * 0x9E3779B97F4A7C15) % 2**64) >> shift  # Python ints: the kernel's wrapping product
        displaced += i != slot
        while i != slot:
            assert table.keys[i] != EMPTY
            i = (i + 1) % cap
    assert n_keys < 100 or displaced > 0  # collisions did happen


@pytest.mark.kernel
def test_growth_keeps_every_weight_and_state():
    """reserve() doubles and rehashes: the same weights and full Adagrad sums, load within MAX_LOAD."""
    rng = np.random.default_rng(1)
    coef = sp.random(50, 400, density=0.05, random_state=2, format="csr", dtype=np.float32)
    coef.sort_indices()
    acc = rng.random(coef.nnz).astype(np.float32)
    table = HashedWeights.from_csr(coef, acc)
    before = table.capacity
    table.reserve(10 * table.capacity)
    assert table.capacity > before and table.count <= MAX_LOAD * table.capacity
    back, acc_back = table.to_csr()
    assert (back != coef).nnz == 0
    np.testing.assert_array_equal(back.indices, coef.indices)
    np.testing.assert_array_equal(back.indptr, coef.indptr)
    np.testing.assert_array_equal(acc_back, acc)


@pytest.mark.kernel
@pytest.mark.parametrize("full", [False, True])
def test_add_csr_adds_to_stored_weights_and_inserts_the_rest(full):
    """add_csr (the add_all kernel): stored keys get the addend, absent ones are inserted with it and an
    Adagrad sum of 0, the others keep weight and sum; the table grows when the new keys need room."""
    rng = np.random.default_rng(3)
    coef = sp.random(40, 300, density=0.05, random_state=4, format="csr", dtype=np.float32)
    acc = rng.random(coef.nnz).astype(np.float32) if full else None
    delta = sp.random(40, 300, density=0.2, random_state=5, format="csr", dtype=np.float32)  # overlaps coef
    table = HashedWeights.from_csr(coef, acc)
    capacity = table.capacity
    table.add_csr(delta)
    expect = (coef + delta).tocsr()
    expect.sum_duplicates()
    back, acc_back = table.to_csr()
    assert table.capacity > capacity and table.count == expect.nnz <= MAX_LOAD * table.capacity
    np.testing.assert_array_equal(back.indptr, expect.indptr)
    np.testing.assert_array_equal(back.indices, expect.indices)
    np.testing.assert_array_equal(back.data, expect.data)  # one float32 addition each, as scipy's
    if full:  # the sums of coef's keys where they were, 0 on the inserted keys
        c = coef.tocoo()
        old = dict(zip(zip(c.row.tolist(), c.col.tolist(), strict=True), acc.tolist(), strict=True))
        e = expect.tocoo()
        want = [old.get(key, 0.0) for key in zip(e.row.tolist(), e.col.tolist(), strict=True)]
        np.testing.assert_array_equal(acc_back, np.array(want, dtype=np.float32))
    else:
        assert acc_back is None


def _kept_reference(coef, acc, scale):
    """The entries of ``coef`` (and ``acc``) with |w| >= scale x their row's largest |w| (float32 limits)."""
    coef = coef.tocoo()
    top = np.zeros(coef.shape[0], np.float32)
    np.maximum.at(top, coef.row, np.abs(coef.data))
    keep = np.abs(coef.data) >= np.float32(scale) * top[coef.row]
    kept = sp.csr_matrix((coef.data[keep], (coef.row[keep], coef.col[keep])), shape=coef.shape)
    return kept, (None if acc is None else acc[keep])


@pytest.mark.kernel
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("frees_enough", [True, False])
def test_truncating_growth_drops_exactly_the_small_weights(full, frees_enough):
    """With ``truncate`` > 0, a reserve() that would grow first drops the weights below truncate x their
    class's largest |w| (with their Adagrad sums), and keeps every other weight and sum; the capacity stays
    when that leaves the table at most TRUNCATE_ROOM full, else it doubles. A reserve() that fits drops
    nothing."""
    from skxc._weights import TRUNCATE_ROOM

    rng = np.random.default_rng(3)
    coef = sp.random(60, 3000, density=0.02, random_state=4, format="csr", dtype=np.float32)
    coef.data = (rng.standard_normal(coef.nnz) * rng.choice([1e-3, 1.0], coef.nnz)).astype(np.float32)
    coef.sort_indices()
    acc = rng.random(coef.nnz).astype(np.float32) if full else None
    table = HashedWeights.from_csr(coef, acc)
    table.truncate = 0.05
    table.reserve(table.free())  # fits: nothing dropped
    assert (table.to_csr()[0] != coef).nnz == 0
    kept, acc_kept = _kept_reference(coef, acc, 0.05)
    assert 0 < kept.nnz < 0.8 * coef.nnz
    cap = table.capacity
    extra = table.free() + 1  # must grow without truncation
    if not frees_enough:
        extra = int(TRUNCATE_ROOM * cap) - kept.nnz + 1
    table.reserve(extra)
    assert table.capacity == (2 * cap if not frees_enough else cap)
    assert table.count == kept.nnz and table.count + extra <= MAX_LOAD * table.capacity
    back, acc_back = table.to_csr()
    np.testing.assert_array_equal(back.indptr, kept.indptr)
    np.testing.assert_array_equal(back.indices, kept.indices)
    np.testing.assert_array_equal(back.data, kept.data)
    if full:
        np.testing.assert_array_equal(acc_back, acc_kept)


@pytest.mark.kernel
@pytest.mark.parametrize("seed", range(6))
def test_drop_small_keeps_every_kept_key_reachable(seed):
    """drop_small in place on a small, nearly full table (long probe runs, some wrapping around the end):
    each kept key is found by probing from its home (gather) with its weight, the stored keys are exactly
    the kept ones with their Adagrad sums, empty slots hold 0, and the count is the reference's."""
    rng = np.random.default_rng(seed)
    n_classes, n_features = 7, 50
    table = HashedWeights((n_classes, n_features), 64, full=True)
    keys = rng.choice(n_classes * n_features, size=int(MAX_LOAD * 64), replace=False).astype(np.int64)
    vals = (rng.standard_normal(keys.size) * rng.choice([1e-3, 1.0], keys.size)).astype(np.float32)
    sums = rng.random(keys.size).astype(np.float32)
    table.count = int(insert_all(keys, vals, sums, table.keys, table.vals, table.acc, table.shift))
    limits = (rng.random(n_classes) * 0.5).astype(np.float32)
    keep = np.abs(vals) >= limits[keys // n_features]
    assert 0 < keep.sum() < keys.size
    n = drop_small(table.keys, table.vals, table.acc, n_features, limits, table.shift)
    assert n == keep.sum() == np.count_nonzero(table.keys != EMPTY)
    out = np.empty(keys.size, np.float32)
    gather(table.keys, table.vals, keys, out)
    np.testing.assert_array_equal(out, np.where(keep, vals, 0))
    back, acc_back = table.to_csr()  # slot by slot, in key order
    order = np.argsort(keys[keep])
    np.testing.assert_array_equal(back.indices, (keys[keep] % n_features)[order])
    np.testing.assert_array_equal(acc_back, sums[keep][order])
    empty = table.keys == EMPTY
    assert not table.vals[empty].any() and not table.acc[empty].any()


def test_fit_truncates_the_table_at_its_pruning_threshold_partial_fit_never(monkeypatch):
    """fit's table drops the weights its pruning would drop whenever it would grow ("auto": 0.01 of the
    class's largest |w| for sparse weights; TRUNCATE_WHILE_TRAINING=False or weight_threshold=0: never);
    partial_fit's table never truncates. The fitted model predicts as the one pruned only after training
    does, to a few test rows (the dropped weights are at most 1 % of their class's largest). Without the block
    (``skxc._solver.BLOCK``), which holds the negatives' weights outside the table, so that it need not grow here."""
    monkeypatch.setattr(solver_module, "BLOCK", False)
    X = sp.random(2000, 20_000, density=0.003, random_state=0, format="csr")  # 60 non-zeros a row
    y = np.arange(2000) % 40
    seen = []
    real = HashedWeights._truncate

    def spy(table):
        seen.append(table.truncate)
        return real(table)

    monkeypatch.setattr(HashedWeights, "_truncate", spy)
    kw = dict(weights="sparse", random_state=0, n_jobs=1, max_iter=4, centroid_blend=0.0)
    clf = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    assert seen and set(seen) == {training_module.AUTO_WEIGHT_THRESHOLD}
    seen.clear()
    AdversarialSoftmaxClassifier(**kw, weight_threshold=0.0).fit(X, y)
    AdversarialSoftmaxClassifier(**kw).partial_fit(X, y, classes=np.arange(40)).partial_fit(X, y)
    monkeypatch.setattr(training_module, "TRUNCATE_WHILE_TRAINING", False)
    after = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    assert seen == []
    assert np.mean(clf.predict(X) == after.predict(X)) > 0.95
    assert clf.coef_.nnz <= after.coef_.nnz


@pytest.mark.kernel
@pytest.mark.parametrize("multilabel", [False, True])
def test_epoch_room_leaves_out_the_stored_positive_keys(multilabel):
    """epoch_room: (1 + n_negatives) nnz(x) per example of non-zero weight, less the examples' (class,
    feature) keys that are stored, counted the same from a table and from its CSR weights (and against a
    Python loop); with every positive key stored (as after the centroid start) that is n_negatives nnz(x)."""
    from skxc._weights import epoch_room

    rng = np.random.default_rng(8)
    C, K, n = 30, 500, 200
    X = sp.random(n, K, density=0.03, random_state=9, format="csr", dtype=np.float32)
    example_row = np.sort(rng.integers(0, n, 300)) if multilabel else np.zeros(0, dtype=np.int64)
    n_examples = example_row.size if multilabel else n
    codes = rng.integers(0, C, n_examples).astype(np.int32)
    weight = np.where(rng.random(n_examples) < 0.2, 0.0, 1.0).astype(np.float32)
    rows = Rows(X.indptr, X.indices, X.data, 0, codes, weight, np.zeros((n, 2), np.float32),
                np.zeros(n_examples), example_row=example_row)  # fmt: skip
    coef = sp.random(C, K, density=0.2, random_state=10, format="csr", dtype=np.float32)
    coef.sort_indices()
    stored = {(c, j) for c in range(C) for j in coef.indices[coef.indptr[c] : coef.indptr[c + 1]]}
    total = hits = 0
    for e in range(n_examples):
        if weight[e] == 0:
            continue
        r = example_row[e] if multilabel else e
        feats = X.indices[X.indptr[r] : X.indptr[r + 1]]
        total += feats.size
        hits += sum((int(codes[e]), int(j)) in stored for j in feats)
    assert 0 < hits < total
    expect = 3 * total - hits
    assert epoch_room(coef, rows, 2) == expect
    assert epoch_room(HashedWeights.from_csr(coef), rows, 2) == expect
    # every positive stored: the negatives' bound only
    full = sp.csr_matrix(np.ones((C, K), np.float32))
    assert epoch_room(HashedWeights.from_csr(full[:, :]), rows, 2) == 0  # nothing left to insert
    some = coef.tolil()
    for e in range(n_examples):
        r = example_row[e] if multilabel else e
        for j in X.indices[X.indptr[r] : X.indptr[r + 1]]:
            some[codes[e], j] = 1.0
    some = some.tocsr()
    assert epoch_room(some, rows, 2) == 2 * total
    # negatives that add weights on some features only: their bound counts those features' non-zeros
    mask = (rng.random(K) < 0.3).astype(np.uint8)
    on_mask = sum(
        int(mask[X.indices[X.indptr[r] : X.indptr[r + 1]]].sum())
        for e, r in enumerate(example_row if multilabel else range(n))
        if weight[e] != 0
    )
    assert 0 < on_mask < total
    masked = replace(rows, negative_inserts=mask)
    assert epoch_room(coef, masked, 2) == total + 2 * on_mask - hits
    assert epoch_room(HashedWeights.from_csr(coef), masked, 2) == total + 2 * on_mask - hits


@pytest.mark.parametrize("multilabel", [False, True])
def test_negative_insert_mask_against_a_loop(multilabel):
    """negative_insert_mask: feature j is set iff n_epochs * n_negatives * (examples of non-zero weight whose
    row holds j) >= NEGATIVE_INSERT_HITS * n_classes; a (row, label) example counts its row once per label."""
    from skxc._weights import NEGATIVE_INSERT_HITS, negative_insert_mask

    rng = np.random.default_rng(3)
    C, K, n = 200, 300, 400  # about 20 rows per feature: the mask's threshold (5 * 2 * df >= 200) splits them
    X = sp.random(n, K, density=0.05, random_state=4, format="csr", dtype=np.float32)
    example_row = np.sort(rng.integers(0, n, 700)) if multilabel else np.zeros(0, dtype=np.int64)
    n_examples = example_row.size if multilabel else n
    weight = np.where(rng.random(n_examples) < 0.2, 0.0, 1.0).astype(np.float32)
    rows = Rows(X.indptr, X.indices, X.data, 0, np.zeros(n_examples, np.int32), weight, np.zeros((n, 2), np.float32),
                np.zeros(n_examples), example_row=example_row)  # fmt: skip
    df = np.zeros(K)
    for e in range(n_examples):
        r = example_row[e] if multilabel else e
        if weight[e] != 0:
            df[X.indices[X.indptr[r] : X.indptr[r + 1]]] += 1
    mask = negative_insert_mask(rows, C, K, 2, 5)
    assert mask.dtype == np.uint8 and mask.shape == (K,)
    np.testing.assert_array_equal(mask, (5 * 2 * df >= NEGATIVE_INSERT_HITS * C).astype(np.uint8))
    assert 0 < mask.sum() < K  # the data have features on either side


def _class_support(X, Y):
    """Per class (column of the CSR indicator Y), the set of features that its rows hold."""
    support = [set() for _ in range(Y.shape[1])]
    for r in range(X.shape[0]):
        for c in Y.indices[Y.indptr[r] : Y.indptr[r + 1]]:
            support[c].update(X.indices[X.indptr[r] : X.indptr[r + 1]].tolist())
    return support


@pytest.mark.parametrize("hits", [np.inf, 3.0, 0.0])
def test_negatives_add_sparse_weights_only_on_the_mask(text_like, monkeypatch, hits):
    """fit with sparse weights on few rows per class: a weight outside its class's own rows' features (which
    the centroid start and the positives store) is one a negative added, so it lies on a feature of
    negative_insert_mask; with NEGATIVE_INSERT_HITS = inf no negative adds one, with 0 (every feature)
    negatives add many, and then the model is exactly the one that an empty mask (every feature) trains."""
    import skxc._weights as weights_module

    X, y, _, _ = text_like
    monkeypatch.setattr(weights_module, "NEGATIVE_INSERT_HITS", hits)
    kw = dict(random_state=0, n_jobs=1, max_iter=3, weights="sparse", weight_threshold=0.0, centroid_blend=0.0)
    clf = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    support = _class_support(
        X, sp.csr_matrix((np.ones(y.size), (np.arange(y.size), y)), shape=(y.size, len(clf.classes_)))
    )
    coef = clf.coef_.tocsr()
    outside = {(c, j) for c in range(coef.shape[0]) for j in coef.indices[coef.indptr[c] : coef.indptr[c + 1]]
               if j not in support[c]}  # fmt: skip
    df = np.bincount(X.indices, minlength=X.shape[1])
    mask = 3 * clf.n_negatives_ * df >= hits * len(clf.classes_)
    assert all(mask[j] for _, j in outside)
    if hits == np.inf:
        assert not outside
    elif hits == 0.0:
        assert len(outside) > 1000
        monkeypatch.setattr(training_module, "negative_insert_mask", lambda *a: np.zeros(0, np.uint8))
        every = AdversarialSoftmaxClassifier(**kw).fit(X, y)
        np.testing.assert_array_equal(every.coef_.toarray(), clf.coef_.toarray())
    else:
        assert 0 < mask.sum() < mask.size  # some features on either side


def test_the_model_does_not_depend_on_the_room_made_up_front(text_like, monkeypatch):
    """With less room up front than the first epoch's bound (here none) the epoch stops, grows the table and
    goes on; without truncation and with one thread the model is the same bits as with the whole bound
    reserved (the table only grew in more steps). Without the block (``skxc._solver.BLOCK``), with which the table
    holds the positives' weights alone and need not grow."""
    monkeypatch.setattr(solver_module, "BLOCK", False)
    X, y, _, _ = text_like
    kw = dict(random_state=0, n_jobs=1, max_iter=2, weights="sparse", weight_threshold=0.0, centroid_blend=0.0)
    grown = []
    reserve = HashedWeights.reserve

    def counted(table, extra):
        grown.append(table.capacity)
        return reserve(table, extra)

    monkeypatch.setattr(HashedWeights, "reserve", counted)
    whole = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    n_grown_whole = len(set(grown))
    monkeypatch.setattr(training_module, "first_epoch_room", lambda *a: 0)  # no room up front at all
    grown.clear()
    capped = AdversarialSoftmaxClassifier(**kw).fit(X, y)
    assert len(set(grown)) > n_grown_whole  # the table grew in more steps
    np.testing.assert_array_equal(capped.coef_.toarray(), whole.coef_.toarray())
    np.testing.assert_array_equal(capped.intercept_, whole.intercept_)


@pytest.mark.kernel
def test_first_epoch_room_is_the_bound_at_most_the_stored_keys_or_the_cap(monkeypatch):
    """first_epoch_room = min(epoch_room, max(keys stored, UPFRONT_ROOM_KEYS)), from CSR weights and a table,
    whether or not the cap is so far below the bound that the stored positive keys need not be counted."""
    import skxc._weights as weights_module
    from skxc._weights import epoch_room, first_epoch_room

    C, K, n = 30, 500, 200
    X = sp.random(n, K, density=0.03, random_state=9, format="csr", dtype=np.float32)
    codes = np.random.default_rng(8).integers(0, C, n).astype(np.int32)
    rows = Rows(X.indptr, X.indices, X.data, 0, codes, np.ones(n, np.float32), np.zeros((n, 2), np.float32),
                np.zeros(n), example_row=np.zeros(0, dtype=np.int64))  # fmt: skip
    coef = sp.random(C, K, density=0.05, random_state=10, format="csr", dtype=np.float32)
    coef.sort_indices()
    bound = epoch_room(coef, rows, 2)
    assert coef.nnz < bound
    # the cap binding without (0, nnz + 7) and with (bound - 1) the stored positives looked up; above the bound
    for cap, expect in [(0, coef.nnz), (coef.nnz + 7, coef.nnz + 7), (bound - 1, bound - 1), (10**9, bound)]:
        monkeypatch.setattr(weights_module, "UPFRONT_ROOM_KEYS", cap)
        assert first_epoch_room(coef, rows, 2) == expect
        assert first_epoch_room(HashedWeights.from_csr(coef), rows, 2) == expect
        # a table that does not truncate: GROWING_ROOM_KEYS in place of UPFRONT_ROOM_KEYS
        monkeypatch.setattr(weights_module, "UPFRONT_ROOM_KEYS", 10**9)
        monkeypatch.setattr(weights_module, "GROWING_ROOM_KEYS", cap)
        assert first_epoch_room(coef, rows, 2, truncating=False) == expect


@pytest.mark.parametrize("threshold", [0.0, 0.01])
def test_first_epoch_room_cap_follows_truncation(text_like, monkeypatch, threshold):
    """A fit whose table truncates (weight_threshold > 0) gets up to UPFRONT_ROOM_KEYS of room up front (its
    weights depend on when the table grows); one that does not (the automatic settings' pilots) gets up to
    GROWING_ROOM_KEYS or the keys it stores, and grows as it fills (the same weights: the test above)."""
    import skxc._training as training_module
    import skxc._weights as weights_module

    X, y, _, _ = text_like
    rooms = []
    room = weights_module.first_epoch_room

    def recorded(weights, rows, n_negatives, truncating=True):
        stored = weights.count if isinstance(weights, weights_module.HashedWeights) else weights.nnz
        rooms.append((truncating, room(weights, rows, n_negatives, truncating), int(stored)))
        return rooms[-1][1]

    monkeypatch.setattr(training_module, "first_epoch_room", recorded)
    monkeypatch.setattr(weights_module, "UPFRONT_ROOM_KEYS", 10**9)
    monkeypatch.setattr(weights_module, "GROWING_ROOM_KEYS", 7)
    kw = dict(random_state=0, n_jobs=1, max_iter=2, weights="sparse", centroid_blend=0.0, weight_threshold=threshold)
    AdversarialSoftmaxClassifier(**kw).fit(X, y)
    [(truncating, made, stored)] = rooms
    assert truncating == (threshold > 0)
    if truncating:  # the epoch's bound up front: no growth in the first epoch
        assert made > stored
    else:  # the keys stored (above GROWING_ROOM_KEYS): the table grows as it fills
        assert made == stored
    # partial_fit (no truncation) keeps the room up front: its calls' tables grow less often
    rooms.clear()
    clf = AdversarialSoftmaxClassifier(**kw)
    clf.partial_fit(X[:1000], y[:1000], classes=np.unique(y))
    clf.partial_fit(X[1000:], y[1000:])
    assert [truncating for truncating, _, _ in rooms] == [True, True]


@pytest.mark.parametrize("hits", [np.inf, 3.0])
def test_multilabel_negatives_add_sparse_weights_only_on_the_mask(text_like, monkeypatch, hits):
    """Multi-label (pick-all-labels) fit with sparse weights: a weight outside the features of its label's
    rows lies on negative_insert_mask, whose document frequencies count a row once per label."""
    import skxc._weights as weights_module

    X, y, _, _ = text_like
    n_labels = int(y.max()) + 1
    Y = sp.csr_matrix((np.ones(2 * y.size), (np.repeat(np.arange(y.size), 2), np.column_stack([y, (y + 1) % n_labels]).ravel())),
                      shape=(y.size, n_labels))  # fmt: skip
    monkeypatch.setattr(weights_module, "NEGATIVE_INSERT_HITS", hits)
    kw = dict(random_state=0, n_jobs=1, max_iter=3, weights="sparse", weight_threshold=0.0, centroid_blend=0.0)
    clf = AdversarialSoftmaxClassifier(**kw).fit(X, Y)
    support = _class_support(X, Y)
    coef = clf.coef_.tocsr()
    outside = {(c, j) for c in range(n_labels) for j in coef.indices[coef.indptr[c] : coef.indptr[c + 1]]
               if j not in support[c]}  # fmt: skip
    df = 2 * np.bincount(X.indices, minlength=X.shape[1])  # two labels, so two examples, per row
    mask = 3 * clf.n_negatives_ * df >= hits * n_labels
    assert all(mask[j] for _, j in outside)
    if hits == np.inf:
        assert not outside
    else:
        assert outside and 0 < mask.sum() < mask.size


def test_a_new_table_gets_its_room_when_memory_allows(monkeypatch):
    """table_with_room: room for the first epoch's keys at once, or, when that table would not fit in the
    memory the guard allows, a table of only the stored weights (it grows, checked, as it fills)."""
    import skxc._validation as validation
    from skxc._weights import table_with_room

    coef = sp.random(40, 2000, density=0.01, random_state=6, format="csr", dtype=np.float32)
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: 10**12)
    roomy = table_with_room(coef, None, 100_000)
    assert roomy.free() >= 100_000 and (roomy.to_csr()[0] != coef).nnz == 0
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: 10**6)  # 1 MB: the room would not fit
    tight = table_with_room(coef, None, 100_000)
    assert tight.free() < 100_000 and tight.count == coef.nnz
    assert (tight.to_csr()[0] != coef).nnz == 0


@pytest.mark.kernel
def test_huge_keys_beyond_int32():
    """class * n_features beyond 2**31 (and 2**32): keys are int64, to_csr gives them back in order."""
    n_classes, n_features = 700_000, 135_000  # C x K = 9.45e10
    rows = np.array([0, 15_000, 400_000, 699_999, 699_999])
    cols = np.array([134_999, 7, 99_999, 0, 134_999])
    coef = sp.csr_matrix((np.arange(1, 6, dtype=np.float32), (rows, cols)), shape=(n_classes, n_features))
    table = HashedWeights.from_csr(coef)
    assert int(table.keys.max()) > 2**36
    back, _ = table.to_csr()
    assert back.shape == coef.shape and (back != coef).nnz == 0
    assert back.has_sorted_indices


@pytest.mark.kernel
def test_iteration_order_is_class_then_feature():
    """to_csr is canonical (sorted indices, no duplicates) whatever the slot order of the table."""
    coef = sp.random(30, 1000, density=0.02, random_state=3, format="csr", dtype=np.float32)
    table = HashedWeights.from_csr(coef)
    back, _ = table.to_csr()
    assert back.has_canonical_format
    keys = np.repeat(np.arange(30), np.diff(back.indptr)) * 1000 + back.indices
    assert np.all(np.diff(keys) > 0)


@pytest.mark.kernel
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("n_features", [5000, 70_000])
def test_to_csr_sorts_rows_of_every_length(full, n_features):
    """table_to_csr's in-place row sort (insertion sort up to 16 weights, a radix sort of 2 or 3 bytes
    of the columns beyond) on rows of 0 to 300 weights: the canonical CSR of the same weights, Adagrad
    sums moved along with them."""
    rng = np.random.default_rng(5)
    lengths = np.r_[0, 1, 2, 15, 16, 17, 31, 64, 300, rng.integers(0, 40, 20)]
    rows = np.repeat(np.arange(lengths.size), lengths)
    cols = np.concatenate([rng.choice(n_features, size=n, replace=False) for n in lengths])
    coef = sp.csr_matrix(
        (rng.standard_normal(cols.size).astype(np.float32), (rows, cols)), shape=(lengths.size, n_features)
    )
    coef.sort_indices()
    acc = rng.random(coef.nnz).astype(np.float32) if full else None
    back, acc_back = HashedWeights.from_csr(coef, acc).to_csr()
    np.testing.assert_array_equal(back.indptr, coef.indptr)
    np.testing.assert_array_equal(back.indices, coef.indices)
    np.testing.assert_array_equal(back.data, coef.data)
    if full:
        np.testing.assert_array_equal(acc_back, acc)
    else:
        assert acc_back is None


@pytest.mark.kernel
def test_feature_major_scores_against_numpy():
    X = sp.random(40, 300, density=0.05, random_state=4, format="csr", dtype=np.float32)
    W = sp.random(25, 300, density=0.1, random_state=5, format="csr", dtype=np.float32)
    indptr, classes, data = by_feature(W)
    out = np.zeros((30, 25))
    add_feature_major_scores(X.indptr.astype(np.int64), X.indices, X.data, 5, 35, indptr, classes, data, out)
    np.testing.assert_allclose(out, (X[5:35] @ W.T).toarray(), rtol=1e-5, atol=1e-6)


def test_prune_against_reference():
    W = sp.csr_matrix(np.array([[0.0, 1.0, -0.05, 0.2], [0.0, 0.0, 0.0, 0.0], [3.0, -0.1, 0.0, 0.29]], np.float32))
    acc = np.arange(W.nnz, dtype=np.float32)
    pruned, acc_p = prune(W, 0.1, acc)
    np.testing.assert_array_equal(
        pruned.toarray(), np.array([[0, 1.0, 0, 0.2], [0, 0, 0, 0], [3.0, 0, 0, 0]], np.float32)
    )
    np.testing.assert_array_equal(acc_p, [0, 2, 3])  # entries 0 (1.0), 2 (0.2), 3 (3.0)
    dense = to_dense(W, np.array([1, 2, 3, 4], np.float32))
    np.testing.assert_array_equal(dense, W.toarray() + np.array([1, 2, 3, 4], np.float32))


@pytest.mark.kernel
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prune_keeps_exactly_the_weights_at_or_above_the_limit(dtype):
    """prune's kernels against NumPy: the limit is threshold * row max in the data's dtype (NumPy's
    weak Python scalar), and weights exactly at it (or one ulp below) are kept (dropped)."""
    rng = np.random.default_rng(3)
    W = sp.random(60, 300, density=0.2, random_state=3, format="csr", dtype=dtype)
    W.data = ((W.data - 0.5) * 1e3).astype(dtype)
    W.data[rng.random(W.nnz) < 0.1] = 0.0
    threshold = 0.3
    for r in range(0, 60, 2):  # plant the row's largest weight, one at the limit and one just below it
        a = W.indptr[r]
        W.data[a] = 2 * np.abs(W.data[a : W.indptr[r + 1]]).max()
        limit = threshold * W.data[a]
        W.data[a + 1], W.data[a + 2] = limit, -np.nextafter(limit, dtype(0))
    acc = rng.random(W.nnz).astype(np.float32)
    out, acc_out = prune(W, threshold, acc)
    rows = np.repeat(np.arange(60), np.diff(W.indptr))
    row_max = np.array([np.abs(W.data[W.indptr[r] : W.indptr[r + 1]]).max() for r in range(60)], dtype=dtype)
    keep = np.abs(W.data) >= threshold * row_max[rows]
    assert out.dtype == dtype and out.has_sorted_indices
    np.testing.assert_array_equal(out.indptr, np.r_[0, np.cumsum(np.bincount(rows[keep], minlength=60))])
    np.testing.assert_array_equal(out.indices, W.indices[keep])
    np.testing.assert_array_equal(out.data, W.data[keep])
    np.testing.assert_array_equal(acc_out, acc[keep])
    assert np.sum(keep) < W.nnz and np.all(keep[W.indptr[0:60:2] + 1]) and not np.any(keep[W.indptr[0:60:2] + 2])


def _rows(n=1500, K=300, C=30, multilabel=False, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n, K, density=0.04, random_state=seed, format="csr", dtype=np.float32)
    X.sort_indices()
    y = rng.integers(0, C, n).astype(np.int32)
    tree = AuxiliaryTree(n_components=3, random_state=0).fit(X, y)
    Z = tree.transform(X)
    if not multilabel:
        return Rows(X.indptr.astype(np.int64), X.indices, X.data, 0, y, np.ones(n, np.float32), Z,
                    log_noise_of(Z, y, tree.arrays, 1)), tree.arrays, (C, K)  # fmt: skip
    Y = sp.csr_matrix((np.ones(2 * n), (np.repeat(np.arange(n), 2), np.r_[y, (y + 7) % C].reshape(2, -1).T.ravel())),
                      shape=(n, C))  # fmt: skip
    Y.sum_duplicates()
    Y.sort_indices()
    example_row = np.repeat(np.arange(n), np.diff(Y.indptr)).astype(np.int64)
    codes = Y.indices.astype(np.int32)
    return (
        Rows(X.indptr.astype(np.int64), X.indices, X.data, 0, codes, np.ones(codes.size, np.float32), Z,
             log_noise_of(np.ascontiguousarray(Z[example_row]), codes, tree.arrays, 1), example_row,
             Y.indptr.astype(np.int64), Y.indices.astype(np.int32)),
        tree.arrays,
        (C, K),
    )  # fmt: skip


@pytest.mark.kernel
@pytest.mark.parametrize("kind", ["factored", "full"])
@pytest.mark.parametrize("multilabel", [False, True])
def test_hashed_epoch_equals_dense_epoch(kind, multilabel):
    """One thread: the same negatives and steps, so the same weights, biases and Adagrad state (bitwise
    here: the same float operations in the same order), starting from a small table that must grow."""
    rows, tree, (C, K) = _rows(multilabel=multilabel)
    params = SGDParams(False, 3, 0.4, 3e-3, 0.01)
    order = np.random.default_rng(5).permutation(rows.n_samples).astype(np.int64)
    dense = np.zeros((C, K), np.float32, order="F")
    b_dense = np.zeros(C, np.float32)
    acc = np.zeros((C, K), np.float32, order="F") if kind == "full" else None
    st_dense = AdagradState.zeros(kind, C, K, acc)
    s1 = sgd_epoch(dense, b_dense, st_dense, params, rows, tree, order, np.random.default_rng(7), 1)
    table = HashedWeights((C, K), 1024, kind == "full")
    b_hash = np.zeros(C, np.float32)
    st_hash = AdagradState.zeros_sparse(kind, C, K)
    s2 = sgd_epoch(table, b_hash, st_hash, params, rows, tree, order, np.random.default_rng(7), 1)
    assert table.capacity > 1024  # grew during the epoch
    coef, acc_h = table.to_csr()
    np.testing.assert_array_equal(coef.toarray(), dense)
    np.testing.assert_array_equal(b_hash, b_dense)
    assert s1.loss == pytest.approx(s2.loss, rel=1e-12) and s1.hardness == pytest.approx(s2.hardness, rel=1e-12)
    if kind == "full":
        rows_ = np.repeat(np.arange(C), np.diff(coef.indptr))
        np.testing.assert_array_equal(acc_h, st_dense.coef_sums[rows_, coef.indices])
    else:
        np.testing.assert_allclose(st_hash.factor_sums, st_dense.factor_sums, rtol=1e-12)
    # every touched weight is stored: the dense non-zeros are a subset of the table's keys
    assert coef.nnz >= np.count_nonzero(dense)


@pytest.mark.kernel
def test_hashed_epoch_with_two_threads_is_close():
    """Hogwild with concurrent inserts: not bitwise, but a sane model with as many stored weights."""
    rows, tree, (C, K) = _rows()
    params = SGDParams(False, 2, 0.4, 3e-3, 0.0)
    order = np.arange(rows.n_samples, dtype=np.int64)
    table = HashedWeights((C, K), 1024, False)
    stats = sgd_epoch(table, np.zeros(C, np.float32), AdagradState.zeros("factored", C, K), params, rows, tree,
                      order, np.random.default_rng(0), 2)  # fmt: skip
    coef, _ = table.to_csr()
    assert np.isfinite(stats.loss) and np.all(np.isfinite(coef.data))
    assert table.count >= coef.nnz > 0 and table.count <= MAX_LOAD * table.capacity


# -- the estimator --------------------------------------------------------------


@pytest.mark.parametrize("init", ["zeros", "centroid"])
@pytest.mark.parametrize("adagrad", ["factored", "full"])
def test_sparse_and_dense_layouts_give_the_same_model(text_like, init, adagrad, monkeypatch):
    """fit, partial_fit and a warm start: the same probabilities and decision values to float tolerance,
    and coef_ (+ the start's common term) equal to the dense coef_, when negatives may add sparse weights
    on every feature (NEGATIVE_INSERT_HITS = 0; the default adds them on frequent features only:
    test_negatives_add_sparse_weights_only_on_the_mask)."""
    import skxc._weights as weights_module

    monkeypatch.setattr(weights_module, "NEGATIVE_INSERT_HITS", 0.0)
    X, y, Xt, _ = text_like
    # centroid_blend=0: the layouts train the same model; the blend term of either layout: tests/test_blend.py
    kw = dict(
        random_state=0, n_jobs=1, init=init, adagrad=adagrad, max_iter=3, weight_threshold=0.0, centroid_blend=0.0
    )
    dense = AdversarialSoftmaxClassifier(weights="dense", **kw).fit(X, y)
    sparse = AdversarialSoftmaxClassifier(weights="sparse", **kw).fit(X, y)
    assert sp.issparse(sparse.coef_) and isinstance(dense.coef_, np.ndarray)
    if init == "centroid":
        assert sparse.init_scale_ > 0 and sparse.init_scale_ == dense.init_scale_
    for step in ("fit", "partial_fit", "warm_start"):
        if step == "partial_fit":
            dense.partial_fit(X[:500], y[:500])
            sparse.partial_fit(X[:500], y[:500])
        elif step == "warm_start":
            dense.set_params(warm_start=True, max_iter=1).fit(X, y)
            sparse.set_params(warm_start=True, max_iter=1).fit(X, y)
        np.testing.assert_allclose(sparse.predict_proba(Xt), dense.predict_proba(Xt), atol=1e-6)
        np.testing.assert_allclose(sparse.decision_function(Xt), dense.decision_function(Xt), atol=1e-4)
        np.testing.assert_array_equal(sparse.predict_top_k(Xt, 3), dense.predict_top_k(Xt, 3))
        np.testing.assert_allclose(to_dense(sparse.coef_, sparse._shared_coef), dense.coef_, atol=1e-5)
    if init == "zeros":  # every weight training changed is stored (and nothing else)
        assert np.count_nonzero(dense.coef_) <= sparse.coef_.nnz <= np.prod(sparse.coef_.shape)


def test_sparse_model_round_trips_and_continues(text_like, tmp_path):
    """pickle and joblib (also memory-mapped): same predictions; partial_fit continues the loaded model
    exactly as it continues the original."""
    X, y, Xt, _ = text_like
    clf = AdversarialSoftmaxClassifier(weights="sparse", random_state=0, n_jobs=1, max_iter=2).fit(X, y)
    assert clf.coef_.nnz > 0
    before = dict(clf.__dict__)
    clf.predict(Xt)  # builds the feature-major index, cached outside the estimator
    assert clf.__dict__.keys() == before.keys() and all(clf.__dict__[k] is v for k, v in before.items())
    p = clf.predict_proba(Xt)
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.predict_proba(Xt), p)
    path = tmp_path / "m.joblib"
    joblib.dump(clf, path)
    mapped = joblib.load(path, mmap_mode="r")
    np.testing.assert_array_equal(mapped.predict_proba(Xt), p)
    clf.partial_fit(X[:300], y[:300])
    mapped.partial_fit(X[:300], y[:300])
    np.testing.assert_array_equal(mapped.predict_proba(Xt), clf.predict_proba(Xt))
    buf = io.BytesIO()
    joblib.dump(clf, buf)
    assert sp.issparse(joblib.load(io.BytesIO(buf.getvalue())).coef_)


def test_sparsify_densify_and_pruning(text_like):
    """sparsify/densify keep predictions; weight_threshold drops small weights (fewer stored, similar
    accuracy); pruning keeps each class's largest weight."""
    X, y, Xt, yt = text_like
    kw = dict(random_state=0, n_jobs=1, max_iter=3, init="zeros")
    dense = AdversarialSoftmaxClassifier(weights="dense", **kw).fit(X, y)
    p = dense.predict_proba(Xt)
    dense.sparsify()
    assert sp.issparse(dense.coef_)
    np.testing.assert_allclose(dense.predict_proba(Xt), p, atol=1e-7)
    dense.densify()
    assert isinstance(dense.coef_, np.ndarray) and dense.coef_.flags.f_contiguous
    np.testing.assert_allclose(dense.predict_proba(Xt), p, atol=1e-7)
    full = AdversarialSoftmaxClassifier(weights="sparse", weight_threshold=0.0, **kw).fit(X, y)
    pruned = AdversarialSoftmaxClassifier(weights="sparse", weight_threshold=0.1, **kw).fit(X, y)
    auto = AdversarialSoftmaxClassifier(weights="sparse", **kw).fit(X, y)  # "auto": 0.01 for sparse weights
    np.testing.assert_array_equal(auto.coef_.toarray(), sparsified_copy(full, 0.01).coef_.toarray())
    dense_auto = AdversarialSoftmaxClassifier(weights="dense", **kw).fit(X, y)  # "auto": no pruning when dense
    np.testing.assert_array_equal(dense_auto.coef_, AdversarialSoftmaxClassifier(weights="dense",
                                  weight_threshold=0.0, **kw).fit(X, y).coef_)  # fmt: skip
    assert pruned.coef_.nnz < 0.8 * full.coef_.nnz
    assert pruned.score(Xt, yt) >= full.score(Xt, yt) - 0.05
    row_max = np.abs(full.coef_).max(axis=1).toarray().ravel()
    np.testing.assert_array_equal(np.abs(pruned.coef_).max(axis=1).toarray().ravel(), row_max)
    with pytest.raises(ValueError, match="threshold must be a number in \\[0, 1\\); got 2"):
        full.sparsify(2)


def sparsified_copy(clf, threshold):
    import copy

    return copy.deepcopy(clf).sparsify(threshold)


def test_layout_choice_and_errors(text_like, monkeypatch):
    X, y, _, _ = text_like
    clf = AdversarialSoftmaxClassifier(random_state=0, max_iter=1)
    assert isinstance(clf.fit(X, y).coef_, np.ndarray)  # small: dense
    monkeypatch.setattr(training_module, "AUTO_SPARSE_BYTES", 1)
    assert sp.issparse(clf.fit(X, y).coef_)
    assert isinstance(clf.fit(X.toarray(), y).coef_, np.ndarray)  # dense X keeps dense weights
    with pytest.raises(ValueError, match='weights="sparse" needs sparse X'):
        AdversarialSoftmaxClassifier(weights="sparse").fit(X.toarray(), y)
    with pytest.raises(ValueError, match='weights="sparse" needs negative sampling'):
        AdversarialSoftmaxClassifier(weights="sparse", noise=None).fit(X, y)
    with pytest.raises(ValueError, match="weights"):
        AdversarialSoftmaxClassifier(weights="csr").fit(X, y)


def test_sparse_weights_multilabel_and_dense_batches(text_like):
    """Multi-label training on sparse weights matches dense; a dense partial_fit batch is accepted."""
    X, y, Xt, _ = text_like
    Y = sp.csr_matrix((np.ones(2 * len(y)), (np.repeat(np.arange(len(y)), 2), np.c_[y, (y + 3) % 40].ravel())))
    Y.data[:] = 1
    kw = dict(random_state=0, n_jobs=1, max_iter=2, weight_threshold=0.0)
    dense = AdversarialSoftmaxClassifier(weights="dense", **kw).fit(X, Y)
    sparse = AdversarialSoftmaxClassifier(weights="sparse", **kw).fit(X, Y)
    np.testing.assert_allclose(sparse.predict_proba(Xt), dense.predict_proba(Xt), atol=1e-6)
    single = AdversarialSoftmaxClassifier(weights="sparse", **kw).fit(X, y)
    single.partial_fit(X[:100].toarray(), y[:100])
    assert sp.issparse(single.coef_) and np.all(np.isfinite(single.coef_.data))


@pytest.mark.kernel
def test_feature_major_top_k_is_exact():
    """The branch and bound on sparse weights returns the k best of all corrected scores (brute force),
    with the common per-row term included in the scores."""
    X = sp.random(1200, 80, density=0.08, random_state=6, format="csr", dtype=np.float64)
    y = np.arange(1200) % 12
    clf = AdversarialSoftmaxClassifier(weights="sparse", random_state=0, max_iter=1, n_components=3).fit(X, y)
    assert clf.init_scale_ > 0 and clf._shared_coef.shape == (80,)  # the centroid start's common term
    top, scores = clf.predict_top_k(X[:50], 4), clf.decision_function(X[:50])
    brute = np.argsort(-scores, axis=1, kind="stable")[:, :4]
    np.testing.assert_array_equal(top, clf.classes_[brute])
    _, proba = clf.predict_top_k(X[:50], 4, return_scores=True)
    np.testing.assert_allclose(proba, np.take_along_axis(clf.predict_proba(X[:50]), brute, axis=1), rtol=1e-9)


def test_fit_makes_room_for_the_first_epoch_up_front(monkeypatch):
    """The table is grown before the first epoch for its bound, (1 + n_negatives) nnz(x) per example:
    the epoch runs in one kernel call, with no stop to grow the table (the table built for nnz(X) more
    weights would have to grow: most negatives' weights here are new)."""
    import skxc._solver as solver

    X = sp.random(2000, 20_000, density=0.003, random_state=0, format="csr")  # 60 non-zeros a row
    y = np.arange(2000) % 40
    calls = []
    kernel = solver.negative_sampling_epoch_hashed

    def counted(*args):
        calls.append(args[9])  # the position the call starts from
        return kernel(*args)

    monkeypatch.setattr(solver, "negative_sampling_epoch_hashed", counted)
    clf = AdversarialSoftmaxClassifier(
        weights="sparse", random_state=0, n_jobs=1, max_iter=1, init="zeros", centroid_blend=0.0
    ).fit(X, y)
    assert calls == [0] and 0 < clf.coef_.nnz <= 3 * X.nnz


def test_table_growth_checks_memory_and_leaves_a_usable_model(text_like, monkeypatch):
    """A doubling of the table that would not fit stops training with an error naming the options; the
    estimator keeps the weights trained so far, as CSR, and predicts."""
    import skxc._validation as validation
    from skxc._weights import SparseWeightsMemoryError

    del text_like
    X = sp.random(2000, 20_000, density=0.003, random_state=0, format="csr")  # 60 non-zeros a row
    y = np.arange(2000) % 40
    Xt = X[:100]
    answers = iter([10**12])  # the up-front guard passes; every later question gets 1 MB
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: next(answers, 10**6))
    # centroid_blend=0: 50 rows per class would train the blend's pilot first, under the same guard
    clf = AdversarialSoftmaxClassifier(
        weights="sparse", random_state=0, n_jobs=1, max_iter=5, init="zeros", centroid_blend=0.0
    )
    with pytest.raises(
        SparseWeightsMemoryError, match=r"need a table of .* GiB to grow.*Training stopped.*n_negatives"
    ):
        clf.fit(X, y)
    assert sp.issparse(clf.coef_) and clf.coef_.nnz > 0 and np.all(np.isfinite(clf.coef_.data))
    assert clf.predict(Xt).shape == (Xt.shape[0],)


def test_partial_fit_keeps_the_training_table_between_calls(text_like):
    """Streaming: the hash table stays between partial_fit calls (no CSR round trip per call) and coef_
    is built from it when read; the model equals one that goes through CSR (a pickle) between calls."""
    X, y, Xt, _ = text_like
    kw = dict(weights="sparse", random_state=0, n_jobs=1, adagrad="full")
    kept = AdversarialSoftmaxClassifier(**kw).partial_fit(X[:500], y[:500], classes=np.unique(y))
    table = kept.__dict__["_table"]
    kept.partial_fit(X[500:1000], y[500:1000])
    assert kept.__dict__["_table"] is table and kept.__dict__["_coef"] is None  # no conversion in between
    assert sp.issparse(kept.coef_) and kept.__dict__["_coef"] is not None and kept.__dict__["_table"] is table
    kept.partial_fit(X[1000:1500], y[1000:1500])  # reading coef_ kept the table; training makes coef_ stale
    assert kept.__dict__["_coef"] is None

    converted = AdversarialSoftmaxClassifier(**kw).partial_fit(X[:500], y[:500], classes=np.unique(y))
    for batch in (slice(500, 1000), slice(1000, 1500)):
        assert converted.__dict__["_table"] is not None
        converted = pickle.loads(pickle.dumps(converted))  # pickles coef_ as CSR, not the table
        assert "_table" not in converted.__dict__
        converted.partial_fit(X[batch], y[batch])
    np.testing.assert_array_equal(kept.coef_.toarray(), converted.coef_.toarray())
    np.testing.assert_array_equal(kept._adagrad_state.coef_sums, converted._adagrad_state.coef_sums)
    np.testing.assert_array_equal(kept.predict_proba(Xt), converted.predict_proba(Xt))
    pickle.dumps(kept)
    assert kept.__dict__["_table"] is table  # pickling leaves the pickled estimator's table alone
    kept.fit(X, y)  # fit converts at its end and keeps no table
    assert "_table" not in kept.__dict__ and sp.issparse(kept.coef_)
