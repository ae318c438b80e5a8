"""The notebooks run headless on fresh builds of the bundled samples, so they cannot rot."""

from __future__ import annotations

import pytest

from tests.support.builds import PIPELINES, sample_build
from tests.support.paths import REPO

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = REPO / "notebooks"


def test_notebooks_are_saved_without_outputs():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(PIPELINES)
    for path in NOTEBOOKS.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name
                assert "def " not in cell.source and "class " not in cell.source, \
                    f"{path.name}: put helpers in zephyr_data/report.py"


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_notebook_executes_on_a_sample_build(name, tmp_path, tmp_path_factory, monkeypatch):
    out, dump = sample_build(tmp_path_factory, name)
    monkeypatch.setenv("ZEPHYR_DATASET", str(out))
    monkeypatch.setenv("ZEPHYR_DROPPED", str(dump))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 4
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "&mdash;" in html  # dropped rows were paged
    if name == "ultrachat":
        assert "<mark" in html  # truecasing before/after
