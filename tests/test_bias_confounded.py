"""Classifier bias (issue 4, section 4): a smiling classifier trained where smiling goes almost only with light
skin learns skin tone as a shortcut, and the audit shows it as a larger equal-opportunity gap on a balanced
evaluation set than for the same classifier trained on balanced data.

    synthfaces 3000 x 32 px, seed 11, --correlate skin_tone:smiling=-0.9  -> attr-classifier (2 epochs) -> conf.pt
    synthfaces 3000 x 32 px, seed 12, independent                         -> attr-classifier (2 epochs) -> bal.pt
    synthfaces 3000 x 32 px, seed 13, independent (the balanced evaluation set)
        -> ganeval.bias.audit(classifier, data=eval, target smiling, protected skin_tone)

With phi = -0.9 and both marginals 0.5, P(smiling | light) = 0.95 and P(smiling | dark) = 0.05: skin tone
alone predicts smiling 95% of the time, and skin colour is far easier to see at 32 px than the mouth.
docs/bias.md records the numbers this measured (EO difference 0.175 [0.145, 0.203] confounded vs 0.070
[0.051, 0.091] balanced; held-out smiling accuracy 98.3% and 97.3% on each one's own training distribution).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganeval.bias import BiasConfig, audit
from ganeval.datasets.attributes import read_attributes
from ganeval.datasets.synthfaces import SynthFacesConfig, write_synthfaces
from reference_models.attr_classifier import AttrClassifierConfig, train_attr_classifier


N, SIZE, EPOCHS, PHI = 3000, 32, 2.0, -0.9


pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]  # one_thread: conftest.py


@pytest.fixture(scope="module")
def audits(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("confounded")
    write_synthfaces(root / "conf", SynthFacesConfig(n=N, size=SIZE, seed=11,
                                                     correlations=((("skin_tone", "smiling"), PHI),)))
    write_synthfaces(root / "bal", SynthFacesConfig(n=N, size=SIZE, seed=12))
    write_synthfaces(root / "eval", SynthFacesConfig(n=N, size=SIZE, seed=13))
    out = {}
    for name in ("conf", "bal"):
        report = train_attr_classifier(root / name, root / f"{name}.pt",
                                       AttrClassifierConfig(size=SIZE, epochs=EPOCHS, seed=0))
        result = audit(root / f"{name}.pt", data=root / "eval",
                       config=BiasConfig(target="smiling", protected=("skin_tone",), n_boot=300))
        out[name] = (report, result)
    out["root"] = root
    return out


def _row(result, metric, group=None):
    rows = [r for r in result.run.results if r.metric == metric and r.details.get("group") == group]
    assert len(rows) == 1, (metric, group)
    return rows[0]


def test_the_training_sets_are_what_they_claim(audits):
    root = audits["root"]
    for name, lo, hi in (("conf", -0.95, -0.85), ("bal", -0.05, 0.05), ("eval", -0.05, 0.05)):
        table = read_attributes(root / name)
        cols = [table.names.index(a) for a in ("skin_tone", "smiling")]
        phi = np.corrcoef(table.values[:, cols].T.astype(float))[0, 1]
        assert lo < phi < hi, (name, phi)


def test_both_classifiers_can_see_smiling(audits):
    # The comparison is between competent classifiers: the balanced one learnt the mouth itself.
    bal_report, bal = audits["bal"]
    assert bal_report.accuracy["smiling"] > 0.95
    assert _row(bal, "classifier_accuracy", "smiling").value > 0.95


def test_the_confounded_classifier_has_the_larger_equal_opportunity_gap(audits):
    _, conf = audits["conf"]
    _, bal = audits["bal"]
    c, b = _row(conf, "equal_opportunity_difference"), _row(bal, "equal_opportunity_difference")
    assert c.value > b.value
    assert c.ci_low > b.ci_high, (c, b)  # the intervals do not overlap
    # the shortcut's direction: smiling dark-skinned faces are the ones it misses
    tpr_light = _row(conf, "true_positive_rate", "skin_tone=0").value
    tpr_dark = _row(conf, "true_positive_rate", "skin_tone=1").value
    assert tpr_light - tpr_dark == pytest.approx(c.value)
    gap = _row(conf, "true_positive_rate_gap")
    assert gap.details["high_group"] == "skin_tone=0" and gap.details["low_group"] == "skin_tone=1"
    assert gap.ci_low > 0


def test_equalized_odds_shows_the_shortcut_on_both_labels(audits):
    # Non-smiling light-skinned faces are called smiling too: the false positive rates split as well.
    _, conf = audits["conf"]
    _, bal = audits["bal"]
    c, b = _row(conf, "equalized_odds_difference"), _row(bal, "equalized_odds_difference")
    assert c.ci_low > b.ci_high
    fpr = _row(conf, "false_positive_rate_gap")
    assert fpr.details["high_group"] == "skin_tone=0" and fpr.ci_low > 0.3
