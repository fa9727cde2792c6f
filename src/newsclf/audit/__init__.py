"""Audit: a dataset's likely label errors (confident learning on cross-fitted, out-of-sample
probabilities) and its repeated rows, written by `newsclf audit` (docs/audit.md).

    from newsclf.audit import audit
    result = audit(TrainConfig(data="train.csv"), "audit")   # audit/label_issues.csv, ...
"""

from newsclf.audit.confident import LabelIssues, find_label_issues, find_tag_issues
from newsclf.audit.crossfit import METHODS, CrossFit, cross_fit
from newsclf.audit.run import AuditResult, audit

__all__ = [
    "METHODS",
    "AuditResult",
    "CrossFit",
    "LabelIssues",
    "audit",
    "cross_fit",
    "find_label_issues",
    "find_tag_issues",
]
