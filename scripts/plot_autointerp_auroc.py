"""Rule plot_autointerp_auroc: pooled AUROC of one scorer (or its control) against layer."""

from pathlib import Path

from randsae.figures import steps
from randsae.runner import run


def main(smk):
    run(
        steps.plot_autointerp_auroc,
        smk,
        autointerp_csv=smk.input.autointerp,
        scorers=list(smk.params.scorers),
        fig_dir=str(Path(smk.output[0]).parent),
        formats=list(smk.params.formats),
    )


main(snakemake)  # noqa: F821
