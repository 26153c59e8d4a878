"""Stop 42: the data set arguments' ``@`` options and ``extreme_scale``'s generator parameters are checked
right after parsing. ``longtail DIR@min_rows=abc`` failed with a ValueError once the sets before it had run;
``extreme_scale --n-classes 1`` / ``--nnz 0`` / a bad ``--data-params`` failed a few seconds in, in the
child that generates the data."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from test_s41_benchmark_args import _fails  # argparse exits with code 2 at once

from benchmarks import calibration, epoch_curves, extreme_scale, longtail, streaming
from skxc._extreme_data import check_parameters
from skxc.datasets import make_extreme_classification


@pytest.fixture
def data_dir(tmp_path):
    X = sp.random(20, 5, density=0.5, format="csr", random_state=0, dtype=np.float32)
    for part in ("train", "test"):
        sp.save_npz(tmp_path / f"X_{part}.npz", X)
        np.save(tmp_path / f"y_{part}.npy", np.arange(20, dtype=np.int32) % 3)
    return tmp_path


@pytest.mark.parametrize(
    "spec, message",
    [
        ("min_rows=abc", "min_rows must be a positive integer; got 'abc'"),
        ("min_rows=0", "min_rows must be a positive integer; got '0'"),
        ("top=2.5", "top must be a positive integer; got '2.5'"),
        ("lsa=-3", "lsa must be a positive integer; got '-3'"),
        ("bag=", "bag must be a positive integer; got ''"),
        ("foo=3", "unknown option 'foo'"),
        ("min_rows=3,min_rows=4", "option 'min_rows' given twice"),
        ("rows=5", "expected DIR@min_rows=K or DIR@top=K"),
        ("min_rows=3,top=4", "expected DIR@min_rows=K or DIR@top=K"),
        ("bag=3,rows=5", "expected DIR@min_rows=K or DIR@top=K"),
    ],
)
@pytest.mark.parametrize("module", [longtail, epoch_curves, calibration, streaming])
def test_bad_spec_fails_at_parse_time(module, spec, message, data_dir, capsys, tmp_path):
    argv = [f"{data_dir}@{spec}"]
    if module is longtail:
        argv += ["--out", str(tmp_path)]
    assert message in _fails(module, argv, capsys)


@pytest.mark.parametrize(
    "spec, options",
    [
        ("", {}),
        ("@min_rows=8", {"min_rows": 8}),
        ("@top=1000,rows=200000", {"top": 1000, "rows": 200000}),
        ("@bag=17", {"bag": 17}),
        ("@bag=17,top=1200,rows=25000", {"bag": 17, "top": 1200, "rows": 25000}),
        ("@min_rows=8,lsa=384", {"min_rows": 8, "lsa": 384}),
        ("@lsa=384", {"lsa": 384}),
    ],
)
def test_good_specs_parse(spec, options):
    assert longtail.spec_options(f"/some/dir{spec}") == options
    assert longtail.spec_options("generated") == {}


def test_materialise_uses_the_parsed_options(data_dir, tmp_path):
    path, name = longtail.materialise(f"{data_dir}@min_rows=7", tmp_path / "out")
    assert (path / "X_train.npz").exists() and "min_rows=7" in name


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--n-classes", "1"], "'n_classes' parameter of make_extreme_classification"),
        (["--nnz", "0"], "'nnz_per_row' parameter"),
        (["--n-features", "1"], "'n_features' parameter"),
        (["--data-params", '{"class_signal": 2}'], "'class_signal' parameter"),
        (["--data-params", '{"foo": 1}'], "unexpected keyword argument(s) ['foo']"),
        (["--data-params", '{"class_signal": 0.6, "group_signal": 0.6}'], "must be at most 1"),
        (["--data-params", '{"n_groups": 10}', "--n-classes", "5"], "n_groups must be at most n_classes=5"),
        (["--n-train", "100000000000"], "memory"),
    ],
)
def test_extreme_scale_generator_checked_at_parse_time(argv, message, capsys, tmp_path):
    assert message in _fails(extreme_scale, [*argv, "--out", str(tmp_path)], capsys)


@pytest.mark.parametrize(
    "params",
    [
        {"n_classes": 1},
        {"nnz_per_row": 0.5},
        {"class_signal": 0.7, "group_signal": 0.4},
        {"n_groups": 20, "n_classes": 10},
        {"signature_size": 30, "n_features": 20},
        {"n_samples": True},
        {"n_samples": 10**12},
    ],
)
def test_check_parameters_raises_what_the_generator_raises(params):
    with pytest.raises(ValueError) as generator_error:
        make_extreme_classification(**params)
    with pytest.raises(type(generator_error.value)) as check_error:
        check_parameters(**params)
    assert str(check_error.value) == str(generator_error.value)


def test_check_parameters_accepts_the_defaults_and_refuses_unknown_names():
    check_parameters()
    check_parameters(n_samples=100, n_features=50, n_classes=10, nnz_per_row=5, class_signal=0.5)
    with pytest.raises(TypeError, match="unexpected keyword"):
        check_parameters(nnz=5)
