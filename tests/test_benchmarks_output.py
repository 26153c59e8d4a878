"""``--out`` of the benchmark scripts that write one JSON file (``_common.json_output``): a directory
like every script's ``--out``, or a ``.json`` file; checked before the run."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks._common import json_output

ROOT = Path(__file__).resolve().parents[1]


def _parser():
    return argparse.ArgumentParser(prog="bench")


def test_a_directory_gets_the_stem_and_is_made(tmp_path):
    out = tmp_path / "results" / "new"
    assert json_output(_parser(), str(out), "data_parallel") == out / "data_parallel.json"
    assert out.is_dir()


def test_a_json_path_is_the_file(tmp_path):
    path = tmp_path / "sub" / "scaling.json"
    assert json_output(_parser(), str(path), "ignored") == path
    assert path.parent.is_dir() and not path.exists()


@pytest.mark.parametrize("case", ["file_as_directory", "directory_as_file"])
def test_bad_paths_fail_before_the_run(tmp_path, case, capsys):
    if case == "file_as_directory":
        (tmp_path / "plain").write_text("")
        out = tmp_path / "plain" / "results"
    else:
        out = tmp_path / "taken.json"
        out.mkdir()
    with pytest.raises(SystemExit) as exc:
        json_output(_parser(), str(out), "stem")
    assert exc.value.code == 2
    assert f"--out {out}" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["benchmarks.data_parallel", "benchmarks.scaling"])
def test_scripts_check_out_first(tmp_path, module):
    (tmp_path / "plain").write_text("")
    args = ["--out", str(tmp_path / "plain" / "results")]
    if module == "benchmarks.data_parallel":
        args = [str(tmp_path / "no-such-data"), *args]  # the data would fail later, when loaded
    proc = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "cannot make the directory" in proc.stderr


def test_a_name_goes_into_the_directory_file_name(tmp_path):
    assert json_output(_parser(), str(tmp_path), "scaling", "s33") == tmp_path / "scaling_s33.json"


def test_a_name_with_a_json_file_is_an_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        json_output(_parser(), str(tmp_path / "x.json"), "scaling", "s33")
    assert exc.value.code == 2
    assert "--name s33 would be ignored" in capsys.readouterr().err
