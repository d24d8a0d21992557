"""Rule plot_sae_metric: one SAE metric against layer (results/figures/sae_<metric>_vs_layer)."""

from pathlib import Path

from randsae.report import steps
from randsae.runner import run


def main(smk):
    run(
        steps.plot_sae_metric,
        smk,
        sae_metrics_csv=smk.input.sae_metrics,
        metric=smk.wildcards.sae_metric,
        out_base=str(Path(smk.output[0]).with_suffix("")),
        formats=list(smk.params.formats),
    )


main(snakemake)  # noqa: F821
