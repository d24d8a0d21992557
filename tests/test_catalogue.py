"""The figure catalogue, the rules and the docs agree (run: pytest tests/test_catalogue.py).

Each catalogue entry's rule exists in rules/*.smk and one of its literal output patterns matches
the entry's file; each function imports; each config exists; every figure rule of
rules/figures.smk is catalogued; docs/figures.md and the README table equal the catalogue's render.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from randsae.figures.catalogue import (
    CATALOGUE,
    README_BEGIN,
    README_END,
    readme_block,
    render_doc,
)

ROOT = Path(__file__).resolve().parent.parent
DIRECTIVE = re.compile(
    r"^\s+(input|log|benchmark|params|conda|script|shell|threads|resources|message|run|"
    r"priority|wildcard_constraints|localrule|group):",
    re.M,
)


def rule_outputs() -> dict[str, list[str]]:
    """rule name -> the quoted path strings of its output: section, from rules/*.smk."""
    out: dict[str, list[str]] = {}
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        text = smk.read_text()
        starts = list(re.finditer(r"^\s*rule (\w+):", text, re.M))
        for k, m in enumerate(starts):
            block = text[m.end() : starts[k + 1].start() if k + 1 < len(starts) else len(text)]
            o = re.search(r"^\s+output:", block, re.M)
            if not o:
                out[m.group(1)] = []
                continue
            rest = block[o.end() :]
            d = DIRECTIVE.search(rest)
            section = rest[: d.start() if d else len(rest)]
            out[m.group(1)] = re.findall(r'"([^"]*results/[^"]*)"', section)
    return out


def pattern_regex(pattern: str) -> re.Pattern:
    pattern = pattern.replace("{{", "{").replace("}}", "}")
    parts = re.split(r"\{[^}]+\}", pattern)
    return re.compile("[^/]+".join(map(re.escape, parts)) + "$")


RULES = rule_outputs()


def test_rule_parser_sees_the_figure_rules():
    assert "results/figures/fig2_grid.{ext}" in RULES["plot_fig2_grid"]
    assert RULES["toy_2d"][0] == "results/figures/toy/fig3_toy_2d.pdf"


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda e: f"{e.ref}:{e.files[:1]}")
def test_entry_matches_a_rule_output(entry):
    if entry.rule is None:
        assert entry.note, f"{entry.ref}: an entry without a rule must say why (note)"
        return
    assert entry.rule in RULES, f"{entry.ref}: no rule {entry.rule!r} in rules/*.smk"
    regexes = [pattern_regex(p) for p in RULES[entry.rule]]
    assert entry.files
    for f in entry.files:
        candidate = f.replace("{ext}", "pdf")
        assert any(r.match(candidate) for r in regexes), (
            f"{entry.ref}: {f} matches no output of rule {entry.rule}: {RULES[entry.rule]}"
        )


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda e: f"{e.ref}:{e.function}")
def test_entry_function_and_config_exist(entry):
    if entry.function:
        mod, _, fn = entry.function.rpartition(".")
        assert callable(getattr(importlib.import_module(mod), fn))
    assert (ROOT / entry.config).is_file(), entry.config


def test_every_figure_rule_is_catalogued():
    catalogued = {e.rule for e in CATALOGUE}
    rules = re.findall(r"^rule (\w+):", (ROOT / "rules/figures.smk").read_text(), re.M)
    figure_rules = [r for r in rules if r.startswith("plot_")]
    assert figure_rules
    assert set(figure_rules) <= catalogued, set(figure_rules) - catalogued


def test_paper_items_are_all_listed():
    refs = {e.ref for e in CATALOGUE}
    need = {f"Fig {n}" for n in range(1, 30) if n != 5} | {"Fig 5a", "Fig 5b"}
    need |= {"Table 1", "App J", "App L"}
    assert need <= refs, need - refs


def test_docs_are_generated_from_the_catalogue():
    assert (ROOT / "docs/figures.md").read_text() == render_doc(), (
        "docs/figures.md is stale: python -m randsae.figures.catalogue --write"
    )
    readme = (ROOT / "README.md").read_text()
    i, j = readme.index(README_BEGIN), readme.index(README_END) + len(README_END)
    assert readme[i:j] == readme_block(), "README figure table is stale"
