"""Stop 41 (audit): every benchmark script checks its arguments right after parsing, before any work. An
``--out`` that is a file failed only when the results were written (a FileExistsError after the whole run);
counts of 0 or below and timeouts of 0 or below failed late or misbehaved (negative row limits cut rows from
the end); ``fidelity --methods`` dropped unknown names; ``compare`` ran its peers for half an hour before
skxc's child refused ``--skxc-epochs 0`` (and wrote over the committed files); a missing data directory was a
traceback, after up to 48 s of measurements; a malformed ``--variant`` a JSONDecodeError traceback."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import (
    calibration,
    compare,
    data_parallel,
    epoch_curves,
    extreme_scale,
    fidelity,
    headline,
    learning_curves,
    longtail,
    multilabel,
    scaling,
    sgd_memory,
    streaming,
    throughput,
)
from benchmarks._common import check_out_dir

ROOT = Path(__file__).resolve().parents[1]
NO_DIR = "/no/such/dir"


def _fails(module, argv, capsys) -> str:
    """The error message of ``module.main(argv)``, which must exit with argparse's code 2 at once."""
    t0 = time.perf_counter()
    with pytest.raises(SystemExit) as exit_info:
        module.main(argv)
    assert exit_info.value.code == 2
    assert time.perf_counter() - t0 < 2.0
    return capsys.readouterr().err


# each module's arguments with an existing data directory (DATA, replaced by one) and no --out
WITH_DATA = {
    calibration: ["DATA"],
    epoch_curves: ["DATA"],
    streaming: ["DATA"],
    headline: ["DATA"],
    learning_curves: ["DATA"],
    fidelity: ["DATA"],
    throughput: ["DATA"],
    sgd_memory: ["DATA"],
    multilabel: ["--data-root", "ROOT", "--datasets", "DATA"],
    compare: ["DATA"],
    longtail: ["DATA"],
    extreme_scale: [],
}


def _args(module, tmp_path, extra):
    (tmp_path / "data").mkdir(exist_ok=True)
    subs = {"DATA": str(tmp_path / "data"), "ROOT": str(tmp_path)}
    if module is multilabel:
        subs["DATA"] = "data"
    return [subs.get(a, a) for a in WITH_DATA[module]] + list(extra)


@pytest.mark.parametrize("module", list(WITH_DATA), ids=lambda m: m.__name__.split(".")[-1])
def test_out_that_is_a_file_stops_before_any_run(module, tmp_path, capsys):
    plain = tmp_path / "plain"
    plain.write_text("kept")
    err = _fails(module, _args(module, tmp_path, ["--out", str(plain)]), capsys)
    assert f"--out {plain}: {plain} exists and is not a directory" in err
    assert plain.read_text() == "kept"


def test_out_below_a_file_stops_before_any_run(tmp_path, capsys):
    (tmp_path / "plain").write_text("")
    out = tmp_path / "plain" / "results"
    err = _fails(headline, _args(headline, tmp_path, ["--out", str(out)]), capsys)
    assert f"--out {out}: {tmp_path / 'plain'} exists and is not a directory" in err


def test_check_out_dir_makes_nothing(tmp_path):
    out = tmp_path / "new" / "results"
    check_out_dir(None, out)  # a path to be made after the run: fine, and not made now
    check_out_dir(None, tmp_path)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    "module, extra, message",
    [
        (headline, ["--pieces", "0"], "argument --pieces: must be an integer >= 1; got 0"),
        (headline, ["--uniform-epochs", "0"], "argument --uniform-epochs: must be an integer >= 1; got 0"),
        (headline, ["--test-rows", "0"], "argument --test-rows: must be an integer >= 1; got 0"),
        (learning_curves, ["--epochs", "0"], "argument --epochs: must be an integer >= 1; got 0"),
        (learning_curves, ["--n-negatives", "0"], "argument --n-negatives: must be 'auto' or an integer >= 1; got 0"),
        (learning_curves, ["--noise", "foo"], "argument --noise: invalid choice: 'foo'"),
        (throughput, ["--epochs", "0"], "argument --epochs: must be an integer >= 1; got 0"),
        (throughput, ["--n-jobs", "0"], "argument --n-jobs: must be an integer >= 1; got 0"),
        (sgd_memory, ["--rows", "0"], "argument --rows: must be an integer >= 1; got 0"),
        (sgd_memory, ["--n-jobs", "0"], "argument --n-jobs: must be an integer >= 1; got 0"),
        (multilabel, ["--repeats", "0"], "argument --repeats: must be an integer >= 1; got 0"),
        (longtail, ["--timeout", "0"], "argument --timeout: must be a number > 0; got 0"),
        (longtail, ["--timeout", "-5"], "argument --timeout: must be a number > 0; got -5"),
        (compare, ["--ll-rows", "0"], "argument --ll-rows: must be an integer >= 1; got 0"),
        (extreme_scale, ["--n-train", "-5"], "argument --n-train: must be an integer >= 1; got -5"),
        (extreme_scale, ["--threads", "0"], "argument --threads: must be an integer >= 1; got 0"),
        (extreme_scale, ["--timeout", "0"], "argument --timeout: must be a number > 0; got 0"),
        (epoch_curves, ["--max-train-rows", "-10"], "argument --max-train-rows: must be an integer >= 1; got -10"),
        (epoch_curves, ["--budgets", "1", "0"], "argument --budgets: must be an integer >= 1; got 0"),
        (calibration, ["--max-test-rows", "-5"], "argument --max-test-rows: must be an integer >= 1; got -5"),
        (calibration, ["--threads", "0"], "argument --threads: must be an integer >= 1; got 0"),
        (fidelity, ["--methods", "adversarial", "foo"], "argument --methods: invalid choice: 'foo'"),
        (fidelity, ["--epochs", "0"], "argument --epochs: must be an integer >= 1; got 0"),
        (compare, ["--skxc-epochs", "0"], "argument --skxc-epochs: must be an integer >= 1; got 0"),
        (compare, ["--skxc-n-negatives", "0"], "argument --skxc-n-negatives: must be 'auto' or an integer >= 1"),
        (compare, ["--skxc-learning-rate", "-1"], "argument --skxc-learning-rate: must be 'auto' or a number > 0"),
        (compare, ["--skxc-n-negatives", "200000"], "argument --skxc-n-negatives: The 'n_negatives' parameter"),
        (compare, ["--skxc-alpha", "-1"], "argument --skxc-alpha: The 'alpha' parameter"),
        (compare, ["--skxc-tree-alpha", "-1"], "argument --skxc-tree-alpha: The 'tree_alpha' parameter"),
        (calibration, ["--variant", "x={bad"], "argument --variant: variant x: Expecting property name"),
        (epoch_curves, ["--variant", "x={bad"], "argument --variant: variant x: Expecting property name"),
        (streaming, ["--variant", "x={bad"], "argument --variant: variant x: Expecting property name"),
        (streaming, ["--variant", "x"], "argument --variant: expected NAME=JSON, got 'x'"),
        (calibration, ["--variant", "x=[1]"], "argument --variant: variant x: JSON must be an object"),
        # a variant's keys and values, checked before its run (they failed in its child, after the others)
        (streaming, ["--variant", 'x={"nosuch": 1}'], "variant x: ['nosuch'] are no parameters"),
        (calibration, ["--variant", 'x={"max_iter": 0}'], "variant x: The 'max_iter' parameter"),
        (epoch_curves, ["--variant", 'x={"skxc._blend.NOPE": 1}'], "key 'skxc._blend.NOPE': skxc._blend has no NOPE"),
        (longtail, ["--variant", 'x={"nosuch": 1}'], "variant x: ['nosuch'] are no parameters"),
        (longtail, ["--variant", 'x={"alpha": -1}'], "variant x: The 'alpha' parameter"),
    ],
)
def test_bad_values_stop_before_any_run(module, extra, message, tmp_path, capsys):
    out = tmp_path / "results"
    err = _fails(module, _args(module, tmp_path, [*extra, "--out", str(out)]), capsys)
    assert message in err
    assert not out.exists()


def test_data_parallel_epochs(tmp_path, capsys):
    for epochs in ("0", "-1"):
        err = _fails(data_parallel, [str(tmp_path), "--epochs", epochs, "--out", str(tmp_path)], capsys)
        assert f"argument --epochs: must be an integer >= 1; got {epochs}" in err


@pytest.mark.parametrize(
    "module, argv, missing",
    [
        (calibration, [NO_DIR], NO_DIR),
        (calibration, ["generated", f"{NO_DIR}@top=5"], f"{NO_DIR}@top=5"),
        (epoch_curves, [NO_DIR], NO_DIR),
        (headline, [NO_DIR], NO_DIR),
        (learning_curves, [NO_DIR], NO_DIR),
        (fidelity, [NO_DIR], NO_DIR),
        (throughput, [NO_DIR], NO_DIR),
        (sgd_memory, [NO_DIR], NO_DIR),
        (compare, [NO_DIR, "--systems", "skxc"], NO_DIR),
        (multilabel, ["--data-root", "/no/such", "--datasets", "dir"], NO_DIR),
        (data_parallel, [NO_DIR], NO_DIR),
        (scaling, ["--only", "frozen", "--frozen-data", NO_DIR], NO_DIR),
    ],
)
def test_missing_data_directory_stops_before_any_run(module, argv, missing, tmp_path, capsys):
    out = tmp_path / ("scaling.json" if module is scaling else "results")
    err = _fails(module, [*argv, "--out", str(out)], capsys)
    assert f"no such data set directory: {missing}" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["benchmarks.throughput", NO_DIR], "no such data set directory: /no/such/dir"),
        (["benchmarks.headline", "DATA", "--pieces", "0"], "argument --pieces: must be an integer >= 1; got 0"),
        (["benchmarks.longtail", "generated", "--timeout", "-5"], "argument --timeout: must be a number > 0; got -5"),
    ],
)
def test_command_line_exits_2_without_a_traceback(argv, message, tmp_path):
    argv = [str(tmp_path) if a == "DATA" else a for a in argv]
    proc = subprocess.run(
        [sys.executable, "-m", *argv, "--out", str(tmp_path / "results")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
