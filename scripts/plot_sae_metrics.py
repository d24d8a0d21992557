"""Rule plot_sae_metrics: SAE metrics against layer (results/figures/sae_<metric>_vs_layer)."""

from pathlib import Path

from randsae.figures import steps
from randsae.runner import run


def main(smk):
    run(
        steps.plot_sae_metrics,
        smk,
        sae_metrics_csv=smk.input.sae_metrics,
        metrics=list(smk.params.metrics),
        fig_dir=str(Path(smk.output[0]).parent),
        formats=list(smk.params.formats),
    )


main(snakemake)  # noqa: F821
