"""docs/architecture.md shows the house: every rule file, package and rule, kept in sync.

Run: ``pytest tests/test_architecture.py``.
"""

from __future__ import annotations

import re

from dagtools import ROOT, house_table, rule_blocks

DOC = ROOT / "docs" / "architecture.md"


def test_house_table_is_current():
    text = DOC.read_text()
    m = re.search(r"<!-- house-table:start -->\n(.*?)\n<!-- house-table:end -->", text, re.S)
    assert m, "docs/architecture.md lost its house-table markers"
    expected = house_table()
    assert m.group(1) == expected, "regenerate the table in docs/architecture.md:\n" + expected


def test_picture_names_every_rule_file_and_stage_package():
    text = DOC.read_text()
    picture = text.split("```mermaid", 1)[1].split("```", 1)[0]
    for smk in (ROOT / "rules").glob("*.smk"):
        if smk.stem not in ("common", "toy_common"):
            assert f"{smk.name}" in picture, smk.name
    for pkg in ROOT.joinpath("randsae").iterdir():
        if (pkg / "steps.py").is_file():
            assert f"{pkg.name}/" in picture, pkg.name
            assert (ROOT / "rules" / f"{pkg.name}.smk").is_file() or pkg.name == "evaluate"


def test_every_script_is_a_runner_adapter():
    """Every rule's script calls one stage function through randsae.runner.run."""
    for rule, block in rule_blocks().items():
        if "script" in block:
            script = (ROOT / "rules" / block["script"].strip('"')).resolve()
            text = script.read_text()
            assert "from randsae.runner import run" in text, rule
            assert re.search(r"\brun\(", text), rule
            assert "basicConfig" not in text and "set_num_threads" not in text, rule
