"""The memory guard's limits (stop 31 audit): a container's memory cgroup and ``ulimit -v`` count, and its
advice offers only options the estimator accepts."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import skxc._validation as validation
from skxc import AdversarialSoftmaxClassifier


def _files(tmp_path, limit, usage, stat=None, version=2):
    names = ("max", "current", "stat") if version == 2 else ("limit", "usage", "stat1")
    paths = [tmp_path / name for name in names]
    paths[0].write_text(f"{limit}\n")
    paths[1].write_text(f"{usage}\n")
    key = "inactive_file" if version == 2 else "total_inactive_file"
    paths[2].write_text("anon 1\n" + (f"{key} {stat}\n" if stat is not None else ""))
    return (*map(str, paths), key)


def test_cgroup_v2_limit_less_usage_without_inactive_cache(tmp_path):
    files = _files(tmp_path, 8 * 2**30, 3 * 2**30, stat=2**30)
    assert validation._cgroup_available((files,)) == 8 * 2**30 - 2 * 2**30
    assert validation._cgroup_available((_files(tmp_path, 8 * 2**30, 3 * 2**30),)) == 5 * 2**30  # no statistic
    assert validation._cgroup_available((_files(tmp_path, "max", 3 * 2**30),)) is None  # no limit
    missing = tuple(str(tmp_path / name) for name in ("a", "b", "c")) + ("inactive_file",)
    assert validation._cgroup_available((missing,)) is None


def test_cgroup_v1_and_its_no_limit_value(tmp_path):
    v1 = _files(tmp_path, 4 * 2**30, 2**30, stat=2**29, version=1)
    assert validation._cgroup_available((v1,)) == 4 * 2**30 - 2**29
    assert validation._cgroup_available((_files(tmp_path, 9223372036854771712, 2**30, version=1),)) is None


def test_the_least_of_the_limits_counts(monkeypatch):
    monkeypatch.setattr(validation, "_os_available", lambda: 20 * 2**30)
    monkeypatch.setattr(validation, "_cgroup_available", lambda: 3 * 2**30)
    monkeypatch.setattr(validation, "_address_space_available", lambda: None)
    assert validation.available_memory_bytes() == 3 * 2**30
    monkeypatch.setattr(validation, "_address_space_available", lambda: 2**30)
    assert validation.available_memory_bytes() == 2**30
    for name in ("_os_available", "_cgroup_available", "_address_space_available"):
        monkeypatch.setattr(validation, name, lambda: None)
    assert validation.available_memory_bytes() is None


def test_address_space_limit_less_the_virtual_size(monkeypatch):
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda which: (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    assert validation._address_space_available() is None
    with open("/proc/self/status") as f:
        vm_size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    limit = vm_size + 2**30
    monkeypatch.setattr(resource, "getrlimit", lambda which: (limit, resource.RLIM_INFINITY))
    assert validation._address_space_available() == pytest.approx(2**30, abs=2**26)  # VmSize moves a little


def test_a_model_beyond_the_cgroup_limit_gets_the_guard_error(monkeypatch, tmp_path):
    """A container's limit below the model: the guard's error before anything is allocated (the OS alone
    reports the host's memory, and the process would be killed instead)."""
    monkeypatch.setattr(validation, "CGROUP_FILES", (_files(tmp_path, 2**18, 0),))
    X = sp.random(200, 3000, density=0.01, format="csr", random_state=0, dtype=np.float32)
    y = np.arange(200) % 50
    clf = AdversarialSoftmaxClassifier(random_state=0, weights="dense")
    with pytest.raises(validation.ModelMemoryError, match="GiB of memory is available"):
        clf.fit(X, y)
    assert not hasattr(clf, "coef_")


def test_the_guard_offers_sparse_weights_only_with_negative_sampling(monkeypatch):
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: 16)
    X = sp.random(200, 300, density=0.05, format="csr", random_state=0, dtype=np.float32)
    y = np.arange(200) % 20
    with pytest.raises(validation.ModelMemoryError) as exact:
        AdversarialSoftmaxClassifier(random_state=0, noise=None).fit(X, y)
    assert 'weights="sparse"' not in str(exact.value) and "factored" in str(exact.value)
    with pytest.raises(validation.ModelMemoryError, match='weights="sparse"'):
        AdversarialSoftmaxClassifier(random_state=0, weights="dense").fit(X, y)


# -- stop 34: make_hierarchical_classification ------------------------------------------------------------------


def _generation_peak(**params):
    """tracemalloc's peak (NumPy reports its allocations to it) while the data are generated."""
    import tracemalloc

    from skxc.datasets import make_hierarchical_classification

    tracemalloc.start()
    try:
        make_hierarchical_classification(random_state=0, **params)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


#: Rows dominate; classes (their centres and offsets) dominate; unshuffled; one feature (per-row arrays count).
GENERATED = [
    {"n_samples": 20_000, "n_features": 32, "n_classes": 64},
    {"n_samples": 500, "n_features": 64, "n_classes": 5000},
    {"n_samples": 20_000, "n_features": 32, "n_classes": 64, "shuffle": False},
    {"n_samples": 100_000, "n_features": 1, "n_classes": 2},
]


@pytest.mark.parametrize("params", GENERATED)
def test_hierarchical_data_beyond_the_available_memory_gets_the_guard_error(monkeypatch, params):
    """A huge n_samples * n_features (or n_classes * n_features) was NumPy's MemoryError or, Linux overcommitting, a
    killed process: it is checked before anything is allocated."""
    from skxc.datasets import make_hierarchical_classification

    peak = _generation_peak(**params)
    monkeypatch.setattr(validation, "UNCHECKED_OUTPUT_BYTES", 0)
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: int(0.9 * peak / validation.MEMORY_HEADROOM))
    with pytest.raises(validation.ModelMemoryError) as err:
        make_hierarchical_classification(random_state=0, **params)
    assert isinstance(err.value, ValueError)
    names = f"n_samples={params['n_samples']:,}, n_features={params['n_features']:,}, n_classes={params['n_classes']:,}"
    assert names in str(err.value) and "Options: fewer rows (n_samples) or features (n_features)" in str(err.value)
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: int(1.3 * peak / validation.MEMORY_HEADROOM))
    X, y = make_hierarchical_classification(random_state=0, **params)
    assert X.shape == (params["n_samples"], params["n_features"]) and y.shape == (params["n_samples"],)


@pytest.mark.parametrize("params", GENERATED)
def test_the_hierarchical_data_guard_counts_the_real_peak(params):
    """The guard's count is at least the peak and at most 5 % above it (20 % with one feature)."""
    from skxc.datasets import _peak_bytes

    n_classes = params["n_classes"]
    count = _peak_bytes(params["n_samples"], params["n_features"], n_classes, max(1, (n_classes - 1).bit_length()))
    peak = _generation_peak(**params)
    assert peak <= count <= (1.2 if params["n_features"] == 1 else 1.05) * peak


#: sha256 (first 16 hex digits) of X's and y's bytes, recorded before the guard (stop 34): the same random streams.
HIERARCHICAL_HASHES = [
    ({"random_state": 42}, "f566e80e38ebdf44"),
    ({"n_samples": 500, "n_classes": 16, "random_state": 0}, "7bb8ef6f505c2e62"),
    ({"n_samples": 2000, "n_features": 7, "n_classes": 3, "imbalance": 0, "shuffle": False, "random_state": 1},
     "80f992659214fdaf"),
    ({"n_samples": 300, "n_features": 50, "n_classes": 1000, "class_sep": 0.5, "decay": 1.3, "noise": 0.2,
      "random_state": np.random.RandomState(5)}, "42573bfb38955770"),
    ({"n_samples": 1, "n_features": 1, "n_classes": 2, "random_state": 7}, "7fdfdbfe6f711322"),
    ({"n_samples": 10000, "n_features": 64, "n_classes": 257, "random_state": 3}, "9eb258c8ff11e6a5"),
]  # fmt: skip


@pytest.mark.parametrize(("params", "expected"), HIERARCHICAL_HASHES)
def test_hierarchical_data_are_bit_identical_to_before_the_guard(params, expected):
    import hashlib

    from skxc.datasets import make_hierarchical_classification

    if isinstance(params.get("random_state"), np.random.RandomState):
        params = {**params, "random_state": np.random.RandomState(5)}  # a fresh one for each run
    X, y = make_hierarchical_classification(**params)
    assert X.dtype == np.float64 and y.dtype == np.int64
    assert hashlib.sha256(X.tobytes() + y.tobytes()).hexdigest()[:16] == expected
