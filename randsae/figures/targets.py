"""Which LM figure files a run makes (the figure rules' outputs with their wildcards filled)."""

from __future__ import annotations

from randsae.autointerp.measures import ROC_SCORERS

#: SAE metrics drawn as ``sae_<metric>_vs_layer`` (labels: randsae.figures.style.METRIC_LABELS).
FIGURE_METRICS = (
    "explained_variance",
    "ce_loss_score",
    "ce_loss_increase",
    "kl_div_score",
    "l0",
    "frac_dead",
)


def figure_targets(
    fig_dir: str,
    scorers: list[str],
    formats: list[str],
    init_sweep: bool = False,
    models: list[str] | None = None,
) -> list[str]:
    """Every LM figure file of a run (the figure rules' outputs with their wildcards filled)."""
    names = [f"sae_{m}_vs_layer" for m in FIGURE_METRICS]
    names += ["sae_density_histograms", "abstractness_vs_layer"]
    names += [
        f"autointerp_{s}{c}_auroc_vs_layer" for s in scorers for c in ("", "_random_explanation")
    ]
    if init_sweep:
        names.append("init_sweep")
    for model in models or []:
        names += [f"roc_{s}_{model}" for s in scorers if s in ROC_SCORERS]
        if "fuzzing" in scorers:
            names.append(f"entropy_vs_fuzzing_auroc_{model}")
    if models:
        names.append("fig2_grid")
    return [f"{fig_dir}/{n}.{ext}" for n in names for ext in [*formats, "csv"]]
