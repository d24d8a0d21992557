"""Rule figures: render every figure from the tables alone (no model, no GPU)."""

from pathlib import Path

from randsae.report import steps
from randsae.runner import run


def main(smk):
    run(
        steps.figures,
        smk,
        sae_metrics_csv=smk.input.sae_metrics,
        autointerp_csv=smk.input.autointerp,
        abstractness_csv=smk.input.abstractness,
        density_csv=smk.input.density,
        fig_dir=str(Path(smk.output[0]).parent),
        scorers=list(smk.params.scorers),
        formats=list(smk.params.formats),
        init_sweep=bool(smk.params.init_sweep),
    )


main(snakemake)  # noqa: F821
