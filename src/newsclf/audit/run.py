"""`newsclf audit`: a dataset's likely label errors and repeated rows, written to a directory.

    newsclf audit --data train.csv --test-data test.csv      # writes audit/
    from newsclf.audit import audit; audit(TrainConfig(data="train.csv"))

Every split the data names is read whole (nothing carved or sampled: `newsclf.data.rows`), its
rows pooled and given out-of-sample probabilities by cross-fitting (`crossfit`), audited by
confident learning (`confident`), and checked for duplicates within and across splits
(`newsclf.data.duplicates`). The directory holds label_issues.csv, duplicates.csv,
summary.json and report.html (docs/audit.md); it is written under a temporary name and renamed
whole, so an interrupted audit leaves the previous one in place.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsclf import rundir
from newsclf.audit.confident import LabelIssues, find_label_issues, find_tag_issues
from newsclf.audit.crossfit import DEFAULT_FOLDS, DEFAULT_METHOD, CrossFit, check_method, cross_fit
from newsclf.data.duplicates import DuplicateGroup, count_duplicates, duplicate_groups
from newsclf.data.rows import LabelledRows, load_rows
from newsclf.paths import check_writable_dir
from newsclf.quiet import show_progress

if TYPE_CHECKING:
    import numpy as np

    from newsclf.config import TrainConfig

LABEL_ISSUES = "label_issues.csv"
DUPLICATES = "duplicates.csv"
SUMMARY = "summary.json"
REPORT = "report.html"


@dataclass
class Pooled:
    """The audited rows of every split, one after another."""

    texts: list[str]
    labels: np.ndarray
    where: list[tuple[str, int]]  # (split, data row) of each pooled row


@dataclass
class AuditResult:
    output_dir: Path
    summary: dict[str, Any]
    issues: LabelIssues
    groups: list[DuplicateGroup]
    crossfit: CrossFit
    files: list[Path] = field(default_factory=list)


def pool(rows: LabelledRows) -> Pooled:
    import numpy as np

    texts, labels, where = [], [], []
    for split, part in rows.splits.items():
        texts.extend(part.texts)
        labels.append(part.labels)
        where.extend((split, int(r)) for r in part.rows)
    return Pooled(texts, np.concatenate(labels), where)


def audit(
    cfg: TrainConfig,
    output_dir: str | Path = "audit",
    method: str = DEFAULT_METHOD,
    folds: int = DEFAULT_FOLDS,
    encoder: str | None = None,
    label_map: dict[str, str] | None = None,
) -> AuditResult:
    """Audit the data `cfg` names (its data flags: --data, --test-data, columns, task ...):
    likely label errors and duplicates, written to `output_dir`."""
    start = time.perf_counter()
    cfg = cfg.validate()
    check_method(method, folds)
    output_dir = Path(output_dir)
    check_writable_dir(output_dir, "--output directory")  # before any slow work
    rows = load_rows(cfg, label_map)
    pooled = pool(rows)
    fitted = cross_fit(pooled.texts, pooled.labels, method, folds, cfg.seed, encoder,
                       progress=show_progress(cfg.quiet))  # fmt: skip
    finder = find_tag_issues if rows.multi_label else find_label_issues
    issues = finder(pooled.labels, fitted.probabilities)
    groups = duplicate_groups(
        (split, row, text, rows.label_text(label))
        for (split, row), text, label in zip(pooled.where, pooled.texts, pooled.labels, strict=True)
    )
    summary = _summary(cfg, rows, issues, groups, fitted, time.perf_counter() - start)
    files = _write(output_dir, rows, pooled, issues, groups, summary)
    return AuditResult(output_dir, summary, issues, groups, fitted, files)


def _summary(
    cfg: TrainConfig,
    rows: LabelledRows,
    issues: LabelIssues,
    groups: list[DuplicateGroup],
    fitted: CrossFit,
    seconds: float,
) -> dict[str, Any]:
    n = len(issues.scores)
    off_diagonal = 0.0 if rows.multi_label else float(issues.joint.sum() - issues.joint.trace())
    return {
        "data": cfg.data,
        "task": rows.task,
        "label_names": rows.label_names,
        "rows": {split: len(part.texts) for split, part in rows.splits.items()},
        "probabilities": {"method": fitted.method, "folds": fitted.folds, "seed": cfg.seed},
        "label_issues": len(issues.rows),
        "label_issue_share": len(issues.rows) / n if n else 0.0,
        # Confident learning's estimate of the share of wrong labels (single-label).
        "estimated_noise": off_diagonal / n if n and not rows.multi_label else None,
        "duplicates": count_duplicates(groups),
        "seconds": {
            "total": round(seconds, 2),
            **{k: round(v, 2) for k, v in fitted.seconds.items()},
        },
    }


def issue_rows(rows: LabelledRows, pooled: Pooled, issues: LabelIssues) -> list[dict[str, Any]]:
    """label_issues.csv's rows, most likely first."""
    out = []
    for i in issues.rows:
        split, row = pooled.where[i]
        given, suggested = pooled.labels[i], issues.suggested[i]
        entry = {
            "split": split,
            "row": row,
            "text": pooled.texts[i],
            "given_label": rows.label_text(given),
            "suggested_label": rows.label_text(suggested),
            "score": round(float(issues.scores[i]), 4),
        }
        if rows.multi_label:
            names = rows.label_names
            missing = [names[c] for c in range(len(names)) if suggested[c] and not given[c]]
            wrong = [names[c] for c in range(len(names)) if given[c] and not suggested[c]]
            entry["issue"] = "; ".join(
                part for part in (_tags("likely missing", missing), _tags("likely wrong", wrong))
                if part
            )  # fmt: skip
        out.append(entry)
    return out


def _tags(what: str, names: list[str]) -> str:
    return f"{what}: {'|'.join(names)}" if names else ""


def duplicate_rows(groups: list[DuplicateGroup]) -> list[dict[str, Any]]:
    """duplicates.csv's rows: groups with conflicting labels first, then across splits."""
    ordered = sorted(groups, key=lambda g: (not g.conflicting, len(g.splits) == 1))
    out = []
    for number, group in enumerate(ordered, start=1):
        for (split, row), text, label in zip(group.members, group.texts, group.labels, strict=True):
            out.append({
                "group": number,
                "kind": "exact" if group.exact else "near-exact",
                "conflicting_labels": group.conflicting,
                "splits": "+".join(group.splits),
                "split": split,
                "row": row,
                "label": label,
                "text": text,
            })  # fmt: skip
    return out


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _write(
    output_dir: Path,
    rows: LabelledRows,
    pooled: Pooled,
    issues: LabelIssues,
    groups: list[DuplicateGroup],
    summary: dict[str, Any],
) -> list[Path]:
    """Every file into a temporary directory, renamed into place whole."""
    import shutil

    from newsclf.audit.page import render_audit

    found = issue_rows(rows, pooled, issues)
    columns = ["split", "row", "text", "given_label", "suggested_label", "score"]
    columns += ["issue"] if rows.multi_label else []
    doubles = duplicate_rows(groups)
    tmp = rundir.temporary(output_dir)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        rundir.write_files(tmp, {
            LABEL_ISSUES: _csv(found, columns),
            DUPLICATES: _csv(doubles, ["group", "kind", "conflicting_labels", "splits", "split",
                                       "row", "label", "text"]),
            REPORT: render_audit(summary, found, doubles).encode("utf-8"),
        })  # fmt: skip
        rundir.write_json(tmp / SUMMARY, summary)
        rundir.replace_dir(tmp, output_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [output_dir / name for name in (LABEL_ISSUES, DUPLICATES, SUMMARY, REPORT)]
