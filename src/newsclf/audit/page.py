"""The audit's report.html: the summary, the most likely label errors and the duplicate groups
on one offline page (templates/audit.html.j2, Jinja2 with autoescaping: texts from the data can
never become markup)."""

from __future__ import annotations

from typing import Any

# Rows shown on the page; the CSV files hold them all.
SHOWN = 200


def render_audit(
    summary: dict[str, Any], issues: list[dict[str, Any]], duplicates: list[dict[str, Any]]
) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("newsclf", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template("audit.html.j2").render(
        summary=summary,
        issues=issues[:SHOWN],
        duplicates=duplicates[:SHOWN],
        issues_total=len(issues),
        duplicate_rows_total=len(duplicates),
        shown=SHOWN,
    )
