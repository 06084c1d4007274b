"""Report pieces the bias audit relies on: whiskers of biased statistics, whose percentile interval need not
contain the point estimate (a KL divergence of a 64-cell joint did exactly that in a real audit)."""

from __future__ import annotations

import numpy as np

from ganeval.report import plots
from ganeval.report.plots import Estimate


def test_a_whisker_is_the_interval_even_when_the_point_lies_outside_it():
    fig = plots.bar_figure(["l1", "kl"], {"generated": [Estimate(0.86, 0.83, 0.94), Estimate(0.80, 0.81, 1.45)]})
    ax = fig.axes[0]
    segments = [tuple(sorted((s[0][1], s[1][1]))) for coll in ax.collections for s in coll.get_segments()]
    np.testing.assert_allclose(sorted(segments), [(0.81, 1.45), (0.83, 0.94)], atol=1e-12)
    bars = [c for c in ax.containers if c.__class__.__name__ == "BarContainer"][0]
    assert [b.get_height() for b in bars] == [0.86, 0.80]
    assert plots.bar_chart(["kl"], {"g": [Estimate(0.80, 0.81, 1.45)]}).startswith(b"\x89PNG")
