"""The model card (``README.md``) of a published run, generated from the run's own files.

It says what the repo holds, cites the paper, lists the grid, shows how to load an SAE and how to
regenerate the figures from the repo, reproduces the run's ``claims.csv`` verdicts and gives the
config's sha256 (the digest the run's report captions show). No timestamps: the same run gives
the same bytes, so republishing it sends no new card.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from randsae.publish import layout
from randsae.publish.settings import config_sha256
from randsae.sections import PublishConfig

PAPER = (
    'Heap, Lawson, Farnik, Aitchison: "Sparse Autoencoders Can Interpret Randomly Initialized '
    'Transformers" (arXiv [2501.17727](https://arxiv.org/abs/2501.17727); v2, ICLR 2026: '
    '"Automated Interpretability Metrics Do Not Distinguish Trained and Random Transformers")'
)
CLAIM_COLUMNS = ("claim", "sub", "model", "statistic", "value", "ci_low", "ci_high", "verdict")


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _num(text: str) -> str:
    try:
        x = float(text)
    except (TypeError, ValueError):
        return _cell(text)
    return "" if math.isnan(x) else f"{x:.3g}"


def claims_table(claims_csv: str | Path) -> str:
    """The claims verdicts as a markdown table (value and 95 % CI to 3 significant digits)."""
    path = Path(claims_csv)
    if not path.is_file():
        return "_This run wrote no claims.csv._\n"
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    lines = [
        "| claim | sub | model | statistic | value | 95 % CI | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ci = f"[{_num(r.get('ci_low', ''))}, {_num(r.get('ci_high', ''))}]"
        lines.append(
            "| "
            + " | ".join(
                [
                    _cell(r.get("claim", "")),
                    _cell(r.get("sub", "")),
                    _cell(r.get("model", "")),
                    _cell(r.get("statistic", "")),
                    _num(r.get("value", "")),
                    ci if ci != "[, ]" else "",
                    _cell(r.get("verdict", "")),
                ]
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def grid_table(config: Mapping[str, Any]) -> str:
    """One row per model: source, weights, layers studied."""
    lines = ["| model | source | weights | layers |", "|---|---|---|---|"]
    for name, m in config["models"].items():
        weights = m.get("hf_name") or (
            "trained in the run: "
            + ", ".join(f"{k} {v}" for k, v in sorted((m.get("arch") or {}).items()))
        )
        layers = ", ".join(str(x) for x in m["layers"])
        lines.append(f"| {name} | {m['source']} | {_cell(weights)} | {layers} |")
    return "\n".join(lines) + "\n"


def model_card(
    config: Mapping[str, Any], rows: Sequence[Mapping[str, str]], claims_csv: str | Path
) -> str:
    """The card's markdown (front matter for the Hub: ``library_name: saelens``)."""
    pub = PublishConfig.from_dict(config.get("publish"))
    repo, rev = pub.repo or "<namespace>/<name>", pub.revision
    ids = list(layout.sae_dirs(r["path"] for r in rows))
    sae, ai = config["sae"], config["autointerp"]
    width = sae.get("n_latents") or f"{sae['expansion_factor']} x d_model"
    in_order = [
        layout.sae_id(m, i, layer)
        for m, mcfg in config["models"].items()
        for i in config["inits"]
        for layer in mcfg["layers"]
    ]
    example_id = next((s for s in in_order if s in ids), "<model>/<init>/layer<L>")
    revision_note = (
        ""
        if rev == "main"
        else (
            f"\n`SAE.from_pretrained` reads the `main` branch; these files are on `{rev}`: "
            f'download them with `huggingface_hub.snapshot_download("{repo}", revision="{rev}", '
            f'allow_patterns=["{example_id}/*"])` and load the folder with `SAE.load_from_disk`.\n'
        )
    )
    sections = [
        "---\nlibrary_name: saelens\ntags:\n- sparse-autoencoders\n- sae-lens\n"
        "- interpretability\n- randsae\n---\n",
        "# Sparse autoencoders on trained and randomly initialized transformers\n",
        "TopK sparse autoencoders (SAEs) on the residual stream of each model variant below, "
        "with every metric, auto-interpretability score, table and figure of the run that "
        "trained them: a reproduction, by the randsae workflow, of "
        f"{PAPER}.\n",
        "## The grid\n",
        grid_table(config),
        f"\nVariants (`inits`): {', '.join(f'`{i}`' for i in config['inits'])}. "
        f"SAEs: `{sae.get('architecture', 'topk')}`, k = {sae['k']}, width {width}, "
        f"{sae['n_tokens']:,} training tokens each. Auto-interpretability: `{ai['backend']}` "
        f"judge, scorers {', '.join(ai['scorers'])}. {len(ids)} SAEs in all.\n",
        "## Load an SAE\n",
        "```python\nfrom sae_lens import SAE\n\n"
        f'sae = SAE.from_pretrained("{repo}", "{example_id}")\n```\n',
        "SAE ids are `<model>/<init>/layer<L>` (hook `blocks.<L>.hook_resid_post`).\n"
        + revision_note,
        "## Regenerate the figures and claims without training\n",
        "With the randsae workflow, download `config.yaml` from this repo, add\n\n"
        f'```yaml\nartifacts:\n  from: "hub:{repo}@{rev}"\n```\n\n'
        "and run `snakemake --cores all --configfile config.yaml`: every result is downloaded "
        "and checked against `manifest.tsv` (sha256), then the tables, figures, claims and "
        "pages are rebuilt on a CPU. `artifacts.recompute` re-evaluates chosen cells from the "
        "SAEs here.\n",
        "## Claims of the paper, checked on this run (`results/tables/claims.csv`)\n",
        claims_table(claims_csv),
        "\n## Files\n",
        "- `<model>/<init>/layer<L>/`: the SAEs (sae-lens `cfg.json` + `sae_weights.safetensors`)\n"
        "- `results/`: tables, figures (each with the CSV it plots), per-cell metrics, examples, "
        "explanations and scores, the `build_init` records\n"
        "- `config.yaml`: the merged config of the run; `manifest.tsv`: every file with its "
        "sha256, size, producing rule, params digest, git commit and package versions\n",
        f"\nConfig sha256 (of the run's settings, less `publish` and `artifacts`): "
        f"`{config_sha256(config)}`\n",
    ]
    return "\n".join(sections)
