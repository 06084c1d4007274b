"""The bias audit of generators and attribute classifiers (docs/bias.md).

    ganeval.bias.classifier    load / save attribute classifiers (TorchScript or torch.export, safely)
    ganeval.bias.audit         the orchestration: audit(...) -> BiasAudit (RunResult + parts), the report
    ganeval.bias.associations  implicit associations through latent gradient steps (ganeval.latent_edit)
    ganeval.bias.cooccurrence  phi of every attribute pair: which attributes a set of images ties together

Group fairness math lives in ganeval.fairness (GroupMetrics is fairlearn's MetricFrame, re-exported here).
"""

from ganeval.bias.associations import (
    AssociationSettings, Associations, association_results, changes_to_associations, implicit_associations,
)
from ganeval.bias.audit import (
    BiasAudit, BiasConfig, FairnessAudit, PrevalenceAudit, audit, audit_fairness, audit_prevalence, bias_sections,
    summary_lines, write_bias_report,
)
from ganeval.bias.classifier import AttributeClassifier, load_attribute_classifier, save_attribute_classifier
from ganeval.bias.cooccurrence import Cooccurrence, cooccurrence, phi_matrix
from ganeval.fairness import GroupMetrics

__all__ = [
    "AssociationSettings", "Associations", "AttributeClassifier", "BiasAudit", "BiasConfig", "Cooccurrence",
    "FairnessAudit", "GroupMetrics", "PrevalenceAudit", "association_results", "audit", "audit_fairness",
    "audit_prevalence", "bias_sections", "changes_to_associations", "cooccurrence", "implicit_associations",
    "load_attribute_classifier", "phi_matrix", "save_attribute_classifier", "summary_lines", "write_bias_report",
]
