"""examples/agnews_walkthrough.ipynb runs top to bottom (tiny settings), so it cannot rot."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "agnews_walkthrough.ipynb"
LABELS = ["World", "Sports", "Business", "Sci/Tech"]


def outputs(nb, mime: str) -> list[str]:
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if mime in data:
                found.append(data[mime])
    return found


def test_notebook_is_stored_without_outputs():
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert "parameters" in code[0].metadata.get("tags", [])


def test_walkthrough_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("NEWSCLF_NOTEBOOK_TINY", "1")
    monkeypatch.setenv("NEWSCLF_NOTEBOOK_OUTPUT", str(tmp_path / "runs"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, if a cell fails

    run_dir = tmp_path / "runs" / "walkthrough"
    assert (run_dir / "report.html").is_file()
    assert len(outputs(nb, "image/png")) == 2  # training curves, confusion matrix
    plots = [h for h in outputs(nb, "text/html") if "3D t-SNE Visualization of Embeddings" in h]
    assert len(plots) == 1
    markdown = outputs(nb, "text/markdown")
    new_articles = next(m for m in markdown if m.startswith("| article | predicted"))
    rows = new_articles.splitlines()[2:]
    assert len(rows) == 5 and all(any(f"| {label} |" in r for label in LABELS) for r in rows)
    assert any("TF-IDF (word 1-2 grams) + LinearSVC" in m for m in markdown)
