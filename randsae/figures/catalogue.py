"""The figure catalogue: every item of the paper (v2) -> file -> rule -> function -> config.

One list, edited here; ``docs/figures.md`` and the README's figure table are generated from it
(``python -m randsae.figures.catalogue --write``) and ``tests/test_catalogue.py`` keeps catalogue,
rules and docs in sync: each entry's rule exists in ``rules/*.smk``, its file matches one of that
rule's output patterns, its function imports, its config exists, and the docs equal the render.

File paths are shown as the paper-scale config names them (e.g. Pythia model names); ``{ext}``
stands for the configured formats (``figures.formats``) and ``csv`` (the plotted data).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

PAPER = "configs/paper.yaml"
DEFAULT = "config.yaml"
FUZZ, DETECT = "fuzzing", "detection"


@dataclass(frozen=True)
class Entry:
    """One paper item. ``rule`` None = no rule produces it (a code listing, or not built yet);
    ``note`` says which."""

    ref: str
    content: str
    files: tuple[str, ...]
    rule: str | None
    function: str | None
    tables: tuple[str, ...] = ()
    config: str = PAPER
    note: str = ""
    extra: bool = field(default=False)  # beyond the paper


def _roc(ref: str, scorer: str, model: str, size: str) -> Entry:
    return Entry(
        ref,
        f"{scorer.capitalize()} ROC per layer, Pythia-{size}, 5 variants, AUC + bootstrap CI",
        (f"results/figures/roc_{scorer}_{model}.{{ext}}",),
        "plot_roc_curves",
        "randsae.figures.roc.plot_roc_curves",
        ("results/tables/roc_curves.csv",),
    )


def _grid(ref: str, content: str, config: str) -> Entry:
    return Entry(
        ref,
        content,
        ("results/figures/fig2_grid.{ext}",),
        "plot_fig2_grid",
        "randsae.figures.grid.plot_grid",
        (
            "results/tables/sae_metrics.csv",
            "results/tables/autointerp.csv",
            "results/tables/latents.csv",
        ),
        config,
    )


TOY_SUMMARY = "results/toy/summary/{toy_dataset}_summary.csv"

CATALOGUE: tuple[Entry, ...] = (
    _roc("Fig 1", FUZZ, "pythia-6.9b-deduped", "6.9b"),
    _grid(
        "Fig 2",
        "Main grid: models as columns; EV, cosine sim., L1, fuzzing/detection AUROC, CE-loss "
        "score, token entropy vs layer",
        PAPER,
    ),
    Entry(
        "Fig 3",
        "Toy 2-D picture: sparse inputs, dense inputs, random-MLP outputs",
        ("results/figures/toy/fig3_toy_2d.{ext}",),
        "toy_2d",
        "randsae.toy.plotting.plot_2d",
        (),
        PAPER,
    ),
    Entry(
        "Fig 4",
        "MMCS vs L1 coefficient per latent count (toy superposition data)",
        ("results/figures/toy/fig4_mmcs.{ext}",),
        "toy_fig4",
        "randsae.toy.plotting.plot_fig4",
        (TOY_SUMMARY.format(toy_dataset="sharkey"),),
        PAPER,
    ),
    Entry(
        "Fig 5a",
        "Pareto frontiers EV vs sparsity, toy data and Gaussian control, before/after random MLP",
        ("results/figures/toy/fig5_frontiers.{ext}",),
        "toy_fig5",
        "randsae.toy.plotting.plot_fig5",
        (TOY_SUMMARY.format(toy_dataset="sharkey"),),
        PAPER,
        "panel a of the figure (EV vs L0 at the largest latent count)",
    ),
    Entry(
        "Fig 5b",
        "The same frontiers for word vectors (GloVe at paper scale)",
        ("results/figures/toy/fig5_frontiers.{ext}",),
        "toy_fig5",
        "randsae.toy.plotting.plot_fig5",
        (TOY_SUMMARY.format(toy_dataset="glove50"),),
        PAPER,
        "panel b (offline default: word2vec vectors trained in the DAG)",
    ),
    _roc("Fig 6", FUZZ, "pythia-70m-deduped", "70m"),
    _roc("Fig 7", DETECT, "pythia-70m-deduped", "70m"),
    _roc("Fig 8", FUZZ, "pythia-160m-deduped", "160m"),
    _roc("Fig 9", DETECT, "pythia-160m-deduped", "160m"),
    _roc("Fig 10", FUZZ, "pythia-410m-deduped", "410m"),
    _roc("Fig 11", DETECT, "pythia-410m-deduped", "410m"),
    _roc("Fig 12", FUZZ, "pythia-1b-deduped", "1b"),
    _roc("Fig 13", DETECT, "pythia-1b-deduped", "1b"),
    _roc("Fig 14", DETECT, "pythia-6.9b-deduped", "6.9b"),
    _grid(
        "Fig 15",
        "App C: Fig-2 metrics, SAEs on 1B tokens, Pythia-70m and 410m",
        "configs/app-c-1b-tokens.yaml",
    ),  # fmt: skip
    _grid(
        "Fig 16",
        "App D: Pythia-1b SAEs on 1M vs 1B tokens (one column each)",
        "configs/app-d-1m-vs-1b.yaml",
    ),  # fmt: skip
    _grid(
        "Fig 17",
        "App E: five SAE seeds, Pythia-70m, drawn as min-max bands",
        "configs/app-e-seeds.yaml",
    ),  # fmt: skip
    _grid(
        "Fig 18",
        "App F: R in {16,32,64,128} x k in {16,32}, Pythia-160m (a column each)",
        "configs/app-f-hyperparameters.yaml",
    ),  # fmt: skip
    _grid(
        "Fig 19", "App G: tiny SAE R=2, k=4 vs default, Pythia-1b", "configs/app-g-tiny-sae.yaml"
    ),  # fmt: skip
    Entry(
        "Fig 20",
        "App H: per-latent token entropy vs fuzzing AUROC, per layer and variant, Spearman rho",
        ("results/figures/entropy_vs_fuzzing_auroc_pythia-6.9b-deduped.{ext}",),
        "plot_entropy_vs_auroc",
        "randsae.figures.latents.plot_entropy_vs_auroc",
        ("results/tables/latents.csv",),
    ),
    Entry(
        "Fig 21",
        "App I: listing of the Sharkey data generator (code, not a figure)",
        ("randsae/toy/data.py",),
        None,
        "randsae.toy.data.generate_sharkey",
        (),
        PAPER,
        "a code listing: the generator itself",
    ),
    *(
        Entry(
            f"Fig {n}",
            f"Toy frontiers: EV vs {m}",
            ("results/figures/toy/sharkey_frontiers.{ext}",),
            "toy_frontiers",
            "randsae.toy.plotting.plot_frontiers",
            (TOY_SUMMARY.format(toy_dataset="sharkey"),),
            PAPER,
            "one column per sparsity measure, one row per latent count",
        )
        for n, m in ((22, "L0"), (23, "L1"), (24, "L1/sqrt(L2)"), (25, "Hoyer"))
    ),
    *(
        Entry(
            f"Fig {n}",
            f"GloVe {d}-d frontiers (latents 2x, 4x, 8x, 16x the dimension)",
            (f"results/figures/toy/glove{d}_frontiers.{{ext}}",),
            "toy_frontiers",
            "randsae.toy.plotting.plot_frontiers",
            (TOY_SUMMARY.format(toy_dataset=f"glove{d}"),),
            PAPER,
            "offline default: results/figures/toy/word2vec50_frontiers.*",
        )
        for n, d in ((26, 50), (27, 100), (28, 200), (29, 300))
    ),
    Entry(
        "§4.3",
        "SAEs on token-embedding matrices (embedded W_E offline, Pythia via the Hub)",
        ("results/figures/toy/embed_tiny-neox_frontiers.{ext}",),
        "toy_frontiers",
        "randsae.toy.plotting.plot_frontiers",
        (TOY_SUMMARY.format(toy_dataset="embed_tiny-neox"),),
        "config.yaml",
        "paper scale: embed_pythia-{70m,160m,410m}-deduped_frontiers.* (configs/paper.yaml)",
    ),
    Entry(
        "Table 1",
        "App K: compute per rule and model from the benchmark files, paper hours beside",
        ("results/tables/compute.csv",),
        "compute_table",
        "randsae.tables.compute.compute_table",
        ("benchmarks/runs/**.tsv",),
    ),
    Entry(
        "App J",
        "Three random latents per variant and layer: explanation and top windows",
        (
            "results/tables/app_j_examples.csv",
            "results/tables/app_j_examples.md",
            "results/tables/app_j_examples.html",
        ),
        "app_j_examples",
        "randsae.tables.app_j.write_app_j",
        ("results/examples/{model}/{init}/layer{layer}.json",),
    ),
    Entry(
        "App L",
        "Latent dashboards: windows, explanation, entropy, AUROCs, small ROC, activation histogram",
        ("results/pages/{model}/layer{layer}.html",),
        "latent_page",
        "randsae.autointerp.pages.write_page",
        ("results/examples/{model}/{init}/layer{layer}.json",),
    ),
    # beyond the paper
    Entry(
        "extra",
        "An SAE metric vs layer (EV, CE score/increase, KL score, L0, dead fraction)",
        ("results/figures/sae_{sae_metric}_vs_layer.{ext}",),
        "plot_sae_metrics",
        "randsae.figures.plotting.metric_vs_layer",
        ("results/tables/sae_metrics.csv",),
        DEFAULT,
        extra=True,
    ),
    Entry(
        "extra",
        "Latent firing-density histograms",
        ("results/figures/sae_density_histograms.{ext}",),
        "plot_density_histograms",
        "randsae.figures.plot_metrics.plot_density_histograms",
        ("results/tables/density_histograms.csv",),
        DEFAULT,
        extra=True,
    ),
    Entry(
        "extra",
        "Held-out abstractness measures vs layer (entropy_all/weighted/topN, token R²)",
        ("results/figures/abstractness_vs_layer.{ext}",),
        "plot_abstractness",
        "randsae.figures.plot_metrics.plot_abstractness",
        ("results/tables/abstractness.csv",),
        DEFAULT,
        extra=True,
    ),
    Entry(
        "extra",
        "Pooled AUROC vs layer per scorer and random-explanation control",
        ("results/figures/autointerp_{ai_scorer}_auroc_vs_layer.{ext}",),
        "plot_autointerp_auroc",
        "randsae.figures.plotting.metric_vs_layer",
        ("results/tables/autointerp.csv",),
        DEFAULT,
        extra=True,
    ),
    Entry(
        "extra",
        "Init-scale / distribution sweep",
        ("results/figures/init_sweep.{ext}",),
        "plot_init_sweep",
        "randsae.figures.plotting.init_sweep_figure",
        ("results/tables/sae_metrics.csv", "results/tables/abstractness.csv"),
        "configs/init-sweep.yaml",
        extra=True,
    ),
)


def _cell(s: str) -> str:
    return s.replace("|", "\\|")


def render_table(entries: tuple[Entry, ...] = CATALOGUE) -> str:
    """The Markdown table "paper item -> file -> rule -> function -> config"."""
    lines = [
        "| paper item | content | file | rule | function | config (paper scale) |",
        "|---|---|---|---|---|---|",
    ]
    for e in entries:
        files = "<br>".join(f"`{f}`" for f in e.files) or "—"
        content = e.content + (f" *({e.note})*" if e.note else "")
        lines.append(
            "| "
            + " | ".join(
                _cell(x)
                for x in (
                    e.ref,
                    content,
                    files,
                    f"`{e.rule}`" if e.rule else "—",
                    f"`{e.function}`" if e.function else "—",
                    f"`{e.config}`",
                )
            )
            + " |"
        )
    return "\n".join(lines)


DOC_HEADER = """# Figures and tables of the paper

Generated from `randsae/figures/catalogue.py` (`python -m randsae.figures.catalogue --write`);
`tests/test_catalogue.py` fails when this file, the catalogue or the rules drift apart.

Each row: the paper item (v2, ICLR 2026), what it shows, the file the workflow writes, the rule
(one per figure family, output names literal in `rules/*.smk`), the plotting function and the
config that produces it at paper scale. `{ext}` = each of `figures.formats` (pdf, png) plus
`csv`, the data the figure plots. The default `config.yaml` writes the same files for its
embedded model (`tiny-neox` in place of the Pythia names).

Colours (`randsae/figures/style.py`, every figure): trained gray, control (noise inputs) black,
Step-0 green, re-randomized (excl. embeddings) blue, re-randomized (incl. embeddings) orange,
chance dotted.

Appendix experiments (Figs 15–19) are the Fig-2 grid drawn from a run of their config: SAE
variants are extra entries under `models:` with `variant_of: <model>` and an `sae:` block of
overrides (App D, F, G: one column each); entries without overrides are seed replicates (App E),
pooled into their base model's column as min–max bands.
"""

README_BEGIN = "<!-- figure-catalogue:begin -->"
README_END = "<!-- figure-catalogue:end -->"


def render_doc() -> str:
    return DOC_HEADER + "\n" + render_table() + "\n"


def readme_block() -> str:
    return README_BEGIN + "\n" + render_table() + "\n" + README_END


def update_readme(text: str) -> str:
    """The README with the catalogue block (between the markers) replaced by the current render."""
    i, j = text.index(README_BEGIN), text.index(README_END) + len(README_END)
    return text[:i] + readme_block() + text[j:]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="rewrite docs/figures.md and README")
    ap.add_argument("--root", default=".", help="repository root")
    args = ap.parse_args(argv)
    root = Path(args.root)
    if args.write:
        (root / "docs" / "figures.md").write_text(render_doc())
        readme = root / "README.md"
        readme.write_text(update_readme(readme.read_text()))
    else:
        print(render_doc())  # noqa: T201


if __name__ == "__main__":
    main()
