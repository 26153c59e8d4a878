"""Stop 70: the single-label faster pilot (``skxc._blend.FASTER``) wins on a higher mean held-out
log-likelihood per row (paired z above ``FASTER_Z`` = 0, as the other pilots are compared), not only one
standard error above it; docs/benchmarks.rst, "Stop 70"."""

import numpy as np

from skxc import _blend as blend


def _shifted(z: float, n: int = 2000, seed: int = 0):
    """Per-row values ``(faster, chosen)`` whose paired difference has mean ``z`` standard errors exactly."""
    rng = np.random.default_rng(seed)
    chosen = rng.normal(-4.0, 1.0, size=n)
    noise = rng.normal(0.0, 1.0, size=n)
    noise -= noise.mean()
    se = noise.std(ddof=1) / np.sqrt(n)
    return chosen + noise + z * se, chosen


def test_a_higher_mean_log_likelihood_wins_within_one_standard_error():
    for z in (0.2, 0.5, 0.95):  # below the one-standard-error bar of stops 46-69, above the mean's
        faster, chosen = _shifted(z)
        assert np.isclose(blend.paired_z(faster - chosen), z)
        assert blend.faster_wins(faster, chosen)
    for z in (-0.5, -0.05):
        assert not blend.faster_wins(*_shifted(z))
    faster, chosen = _shifted(0.5)
    hits_chosen = np.zeros(2000)
    hits_chosen[:200] = 1.0  # the top-1 veto still holds: far fewer held-out hits lose
    assert not blend.faster_wins(faster, chosen, np.zeros(2000), hits_chosen)
    assert blend.faster_wins(faster, chosen, hits_chosen.copy(), hits_chosen)
