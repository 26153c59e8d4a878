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
