"""Stop 40 (audit): the benchmark scripts reject counts below 1, fractions outside (0, 1] and missing data
directories before any system runs (``--passes 0`` used to fail after the whole run, writing nothing;
``compare --train-rows 0`` wrote over the full run's files; a missing directory failed only once the sets
before it had run)."""

from __future__ import annotations

import pytest

from benchmarks import compare, longtail, streaming
from benchmarks._common import missing_data_dirs


@pytest.mark.parametrize(
    "module, argv, message",
    [
        (streaming, ["generated", "--passes", "0", "1"], "--passes: must be an integer >= 1; got 0"),
        (streaming, ["generated", "--batches", "0"], "--batches: must be an integer >= 1; got 0"),
        (streaming, ["generated", "--sample", "1.5"], "--sample: must be in (0, 1]; got 1.5"),
        (streaming, ["generated", "/no/such/dir"], "no such data set directory: /no/such/dir"),
        (longtail, ["generated", "--repeats", "0"], "--repeats: must be an integer >= 1; got 0"),
        (longtail, ["generated", "--max-test-rows", "0"], "--max-test-rows: must be an integer >= 1; got 0"),
        (longtail, ["generated", "/no/such/dir@min_rows=5"], "no such data set directory: /no/such/dir@min_rows=5"),
        (compare, ["/tmp", "--train-rows", "0"], "--train-rows: must be an integer >= 1; got 0"),
        (compare, ["/tmp", "--threads", "0"], "--threads: must be an integer >= 1; got 0"),
    ],
)
def test_bad_arguments_stop_before_any_run(module, argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        module.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_data_dirs(tmp_path):
    (tmp_path / "a").mkdir()
    data = [str(tmp_path / "a"), str(tmp_path / "a") + "@min_rows=5", "generated", str(tmp_path / "b") + "@top=3"]
    assert missing_data_dirs(data, {"generated"}) == [str(tmp_path / "b") + "@top=3"]
