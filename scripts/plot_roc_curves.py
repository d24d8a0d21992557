"""Rule plot_roc_curves: ROC per layer of one model and scorer (v2 Figs 1, 6-14)."""

from pathlib import Path

from randsae.figures import steps
from randsae.runner import run


def main(smk):
    run(
        steps.plot_roc_curves,
        smk,
        roc_csv=smk.input.roc,
        model=smk.wildcards.model,
        scorers=list(smk.params.scorers),
        fig_dir=str(Path(smk.output[0]).parent),
        formats=list(smk.params.formats),
    )


main(snakemake)  # noqa: F821
