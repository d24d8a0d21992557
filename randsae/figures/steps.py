"""Stage glue for rules/figures.smk: every LM figure from the tables."""

from __future__ import annotations

from randsae.sections import ModelConfig


def plot_sae_metrics(
    sae_metrics_csv: str, metrics: list[str], fig_dir: str, formats: list[str]
) -> None:
    """``fig_dir/sae_<metric>_vs_layer`` for each metric."""
    import pandas as pd

    from randsae.figures.plotting import metric_vs_layer
    from randsae.figures.style import metric_label

    sm = pd.read_csv(sae_metrics_csv)
    for metric in metrics:
        metric_vs_layer(
            sm,
            metric,
            f"{fig_dir}/sae_{metric}_vs_layer",
            ylabel=metric_label(metric),
            formats=formats,
        )


def plot_density_histograms(density_csv: str, out_base: str, formats: list[str]) -> None:
    import pandas as pd

    from randsae.figures.plot_metrics import plot_density_histograms as plot

    plot(pd.read_csv(density_csv), out_base, formats)


def plot_abstractness(abstractness_csv: str, out_base: str, formats: list[str]) -> None:
    import pandas as pd

    from randsae.figures.plot_metrics import plot_abstractness as plot

    ab = pd.read_csv(abstractness_csv)
    plot(ab[ab["row"] == "summary"], out_base, formats)


def plot_autointerp_auroc(
    autointerp_csv: str, scorers: list[str], fig_dir: str, formats: list[str]
) -> None:
    """``fig_dir/autointerp_<scorer>_auroc_vs_layer``: pooled elicited-probability AUROC vs layer
    of each scorer (``fuzzing``, ``detection`` and their ``*_random_explanation`` controls)."""
    import pandas as pd

    from randsae.figures.plotting import metric_vs_layer

    ai = pd.read_csv(autointerp_csv)
    for scorer in scorers:
        metric_vs_layer(
            ai[ai["scorer"] == scorer],
            "auroc_pooled",
            f"{fig_dir}/autointerp_{scorer}_auroc_vs_layer",
            ylabel=f"{scorer.replace('_', ' ')}: elicited-probability AUROC",
            ci=("auroc_pooled_ci_low", "auroc_pooled_ci_high"),
            formats=formats,
            chance=0.5,
        )


def plot_init_sweep(
    sae_metrics_csv: str, abstractness_csv: str, out_base: str, formats: list[str]
) -> None:
    import pandas as pd

    from randsae.figures.plotting import init_sweep_figure

    ab = pd.read_csv(abstractness_csv)
    init_sweep_figure(
        pd.read_csv(sae_metrics_csv), ab[ab["row"] == "summary"], out_base, formats=formats
    )


def plot_roc_curves(
    roc_csv: str, model: str, scorers: list[str], fig_dir: str, formats: list[str]
) -> None:
    """``fig_dir/roc_<scorer>_<model>`` for each scorer (v2 Figs 1, 6-14)."""
    import pandas as pd

    from randsae.figures.roc import plot_roc_curves as plot

    roc = pd.read_csv(roc_csv)
    for scorer in scorers:
        sub = roc[(roc["model"] == model) & (roc["scorer"] == scorer)]
        plot(
            sub,
            f"{fig_dir}/roc_{scorer}_{model}",
            title=f"{model}: {scorer} ROC, pooled over latents",
            formats=formats,
        )


def plot_fig2_grid(
    sae_metrics_csv: str,
    autointerp_csv: str,
    latents_csv: str,
    models: dict[str, ModelConfig],
    n_bootstrap: int,
    seed: int,
    out_base: str,
    formats: list[str],
) -> None:
    """The Fig-2 grid; SAE variants of a model (``models.<m>.variant_of``) become columns, or
    bands when they differ only by seed (randsae.figures.grid.variant_columns)."""
    import pandas as pd

    from randsae.figures.grid import grid_long_table, plot_grid, variant_columns
    from randsae.tables.latents import entropy_summary

    sm = pd.read_csv(sae_metrics_csv)
    order = list(dict.fromkeys(sm.sort_values("n_params", kind="stable")["model"]))
    columns = variant_columns({name: m.to_dict() for name, m in models.items()})
    long = grid_long_table(
        sm,
        pd.read_csv(autointerp_csv),
        entropy_summary(pd.read_csv(latents_csv), n_bootstrap, seed),
    )
    plot_grid(
        long,
        out_base,
        columns=columns,
        column_order=list(dict.fromkeys(columns.get(m, m) for m in order)),
        formats=formats,
    )


def plot_entropy_vs_auroc(latents_csv: str, model: str, out_base: str, formats: list[str]) -> None:
    import pandas as pd

    from randsae.figures.latents import plot_entropy_vs_auroc as plot

    lat = pd.read_csv(latents_csv)
    plot(
        lat[lat["model"] == model],
        out_base,
        title=f"{model}: token entropy vs fuzzing AUROC per latent",
        formats=formats,
    )
