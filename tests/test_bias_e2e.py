"""Planted bias end to end through the real command line (issue 4, section 4): hats and glasses tied in a
generator's training data are found tied by `ganeval bias`; with independent training data they are not.

    ganeval data synthfaces --n 8000 --size 32 --seed 1 --correlate hat:glasses=0.8 --out corr
    ganeval data synthfaces --n 8000 --size 32 --seed 2                             --out indep
    ganeval train-reference attr-classifier --data indep --out attr.pt --size 32 --epochs 2
    ganeval train-reference cgan --dataset corr|indep --condition-on hat --image-size 32 --steps 600 ...
    ganeval bias --generator cg-corr|indep/final.pt --classifier attr.pt --real corr|indep
                 --target glasses --protected hat -n 500

The classifier is trained on the independent set, so it has no reason of its own to tie the two attributes:
what the audit finds is the generator's. Why a conditional generator: docs/bias.md ("Planted-bias evidence")
shows that unconditional DCGANs trained this briefly tie hats, glasses and dark hair to each other whatever
their data (their implicit associations and co-occurrence are positive for the independent data too), so the
planted tie is not separable there. Conditioned on hat, the generator's class is the ground truth of hat,
and the planted tie becomes P(glasses | hat class 1) - P(glasses | hat class 0): the signed selection-rate
gap of the fairness part (glasses across the hat groups), which must be large for the tied data and absent
for the independent data (a small spurious gap remains there: 0.065 with 2,000 samples per class).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

N, SIZE, STEPS = 8000, 32, 600
GAP_INDEP, GAP_MARGIN = 0.1, 0.05  # margins around the measurements in docs/bias.md


def _command(*args):
    return [sys.executable, "-m", "ganeval", *map(str, args)]


def ganeval(*commands, cwd):
    """Run the commands at the same time (the machine's cores are shared out), each to completion."""
    env = dict(os.environ, GANEVAL_REPORTS_DIR=str(cwd / "reports"))
    procs = [subprocess.Popen(_command(*c), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for c in commands]
    for proc in procs:
        out, err = proc.communicate(timeout=3600)
        assert proc.returncode == 0, err[-2000:]


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("bias-e2e")
    ganeval(("data", "synthfaces", "--n", N, "--size", SIZE, "--seed", 1, "--correlate", "hat:glasses=0.8",
             "--out", "corr", "-q"),
            ("data", "synthfaces", "--n", N, "--size", SIZE, "--seed", 2, "--out", "indep", "-q"), cwd=root)
    ganeval(("train-reference", "attr-classifier", "--data", "indep", "--out", "attr.pt", "--size", SIZE,
             "--epochs", 2, "--threads", 1, "-q"),
            *[("train-reference", "cgan", "--dataset", name, "--condition-on", "hat", "--image-size", SIZE,
               "--steps", STEPS, "--eval-every", 0, "--sample-every", 0, "--checkpoint-every", 0, "--threads", 1,
               "--seed", 0, "--out", f"cg-{name}", "-q") for name in ("corr", "indep")], cwd=root)
    ganeval(*[("bias", "--generator", f"cg-{name}/final.pt", "--classifier", "attr.pt", "--real", name,
               "--target", "glasses", "--protected", "hat", "-n", 500, "--threads", 1, "-q", "--out", f"rep-{name}")
              for name in ("corr", "indep")], cwd=root)
    return {name: json.loads((root / f"rep-{name}" / "results.json").read_text()) for name in ("corr", "indep")}


def _row(data, metric, group=None):
    rows = [r for r in data["results"] if r["metric"] == metric and r["details"].get("group") == group]
    assert len(rows) == 1, (metric, group)
    return rows[0]


def test_the_real_data_carries_the_planted_tie_and_only_there(reports):
    corr = _row(reports["corr"], "phi_real", "hat:glasses")
    indep = _row(reports["indep"], "phi_real", "hat:glasses")
    assert 0.75 < corr["value"] < 0.85 and corr["ci_low"] > 0.7
    assert indep["ci_low"] < 0 < indep["ci_high"]


def test_the_hat_class_draws_glasses_more_only_when_the_training_data_tied_them(reports):
    # P(glasses predicted | hat class 1) - P(glasses predicted | hat class 0), hat groups from the labels.
    # Measured (docs/bias.md): 0.166 [0.114, 0.220] tied, 0.042 [-0.018, 0.102] independent.
    corr = _row(reports["corr"], "selection_rate_gap")
    indep = _row(reports["indep"], "selection_rate_gap")
    assert corr["details"]["high_group"] == "hat=1" and corr["ci_low"] > 0, corr
    assert abs(indep["value"]) < GAP_INDEP, indep
    assert corr["value"] > indep["value"] + GAP_MARGIN and corr["ci_low"] > indep["value"]
    assert reports["corr"]["provenance"]["ground_truth"] == {"hat": "conditioning label"}


def test_every_number_has_an_interval_and_provenance(reports):
    for data in reports.values():
        prov = data["provenance"]
        assert prov["kind"] == "bias" and prov["seeds"] == {"sample_seed": 0, "metric_seed": 0}
        assert prov["inputs"]["generator"]["n"] == 1000  # 500 per class
        missing = [r["metric"] for r in data["results"] if r["value"] is not None and r["ci_low"] is None]
        assert not missing, missing
