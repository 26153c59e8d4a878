"""Run every script in examples/ in a subprocess and check what it prints.

Each example generates its own data (no downloads). They run in a temporary
working directory with the Agg matplotlib backend, so nothing is left behind.
They are marked ``slow`` (about a minute in total, plus the one-off numba
compilation when the kernel cache is cold): ``pytest -m "not slow"`` skips them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TIMEOUT = 120  # seconds per example, including a cold numba compilation

pytestmark = pytest.mark.slow


def run_example(name: str, *args: str, cwd: Path) -> str:
    """Run ``examples/<name>`` with ``args``; return its stdout, fail with its output on error."""
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="error::DeprecationWarning:skxc")
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, f"{name} exited with {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def number_after(label: str, text: str) -> float:
    """The number printed right after ``label`` in ``text``."""
    match = re.search(re.escape(label) + r"\s*(-?[0-9.]+)", text)
    assert match, f"{label!r} not found in:\n{text}"
    return float(match.group(1))


def test_every_example_is_tested():
    tested = {
        "quick_start.py",
        "pipeline_grid_search.py",
        "streaming_partial_fit.py",
        "plot_learning_curves.py",
        "multilabel.py",
    }
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_quick_start(tmp_path):
    out = run_example("quick_start.py", cwd=tmp_path)
    assert "predict_proba shape (5, 512)" in out
    assert number_after("test accuracy:", out) > 0.3
    assert number_after("top-5 accuracy:", out) > number_after("test accuracy:", out)
    assert list(tmp_path.iterdir()) == []


def test_pipeline_grid_search(tmp_path):
    out = run_example("pipeline_grid_search.py", cwd=tmp_path)
    assert "256 classes" in out
    assert "grid search: 4 settings x 3 folds" in out
    assert "best params: {'centroid_blend': 'auto'" in out  # the blend's centroid term helps on these data
    adversarial = number_after("test accuracy (adversarial, best params):", out)
    assert adversarial > 0.6  # 0.74 on the tf-idf rows as they are (0.27 behind TruncatedSVD(64))
    # the centroid term carries this corpus: adversarial and uniform negatives end within 0.01 (0.742 / 0.741)
    assert abs(number_after("test accuracy (uniform negatives, same params):", out) - adversarial) < 0.02
    logreg = re.search(r"\(LogisticRegression C=100, [0-9.]+ s\): ([0-9.]+)", out)
    assert logreg and adversarial > float(logreg.group(1)) - 0.03  # about as accurate as the converged softmax
    assert "top-3 ['t" in out  # string class labels come back from predict_top_k


def test_streaming_partial_fit(tmp_path):
    out = run_example("streaming_partial_fit.py", cwd=tmp_path)
    assert "held-out accuracy" in out
    rows = [line.split() for line in out.splitlines() if re.match(r"^\s*\d+\s+\d+\s+[0-9.]+\s+[0-9.]+$", line)]
    assert len(rows) >= 3, out
    first, last = float(rows[0][2]), float(rows[-1][2])
    assert last > first  # accuracy improves as the stream goes by
    assert number_after("final held-out accuracy:", out) > 0.7  # 0.80 (0.52 behind the old random projection)
    assert "26 partial_fit calls" in out


def test_plot_learning_curves(tmp_path):
    pytest.importorskip("matplotlib")
    out = run_example(
        "plot_learning_curves.py", "--n-samples", "12000", "--n-classes", "128", "--epochs", "3", cwd=tmp_path
    )
    for noise in ("adversarial", "frequency", "uniform"):
        assert re.search(rf"^{noise}\s+after\s+\d+ epochs:.*accuracy [0-9.]+", out, flags=re.M), out
    # without --output the figure goes to a new temporary directory, not next to the script or into the cwd
    png = Path(re.search(r"figure written to (.+\.png)$", out, flags=re.M).group(1))
    try:
        assert png.is_file()
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size > 10_000
        assert not png.is_relative_to(tmp_path) and not png.is_relative_to(EXAMPLES)
    finally:
        png.unlink(missing_ok=True)
        png.parent.rmdir()
    assert list(tmp_path.iterdir()) == []


def test_multilabel(tmp_path):
    out = run_example("multilabel.py", cwd=tmp_path)
    assert "200 labels" in out

    def metrics_of(system):
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(system + ":"))
        return {m: float(v) for m, v in re.findall(r"(P@\d|nDCG@5|PSP@5) ([0-9.]+)", line)}

    skxc, frequent = metrics_of("skxc"), metrics_of("most frequent labels")
    assert set(skxc) == {"P@1", "P@3", "P@5", "nDCG@5", "PSP@5"}
    for k in skxc:
        assert skxc[k] > 2 * frequent[k], (k, skxc[k], frequent[k])
    assert number_after("score (precision@1):", out) == skxc["P@1"]
    assert number_after("predicted labels per row:", out) >= 1.0
    assert list(tmp_path.iterdir()) == []
