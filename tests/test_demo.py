"""The README's demo (``python -m skxc.demo``), on a small problem."""

from __future__ import annotations

import re

from skxc.demo import main


def test_demo_prints_the_three_noises_and_the_default(capsys):
    main(["--n-samples", "4000", "--n-classes", "100", "--n-features", "16", "--epochs", "2"])
    out = capsys.readouterr().out
    rows = re.findall(r"^(adversarial|frequency|uniform|adversarial \+ blend)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+(-?[\d.]+)$",
                      out, flags=re.MULTILINE)  # fmt: skip
    assert [r[0] for r in rows] == ["adversarial", "frequency", "uniform", "adversarial + blend"]
    for _, epochs, _, accuracy, log_lik in rows:
        assert epochs == "2" and 0.0 < float(accuracy) <= 1.0 and float(log_lik) < 0.0
