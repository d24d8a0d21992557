"""Rule plot_autointerp_auroc: pooled AUROC of one scorer (or its control) against layer."""

from pathlib import Path

from randsae.report import steps
from randsae.runner import run


def main(smk):
    run(
        steps.plot_autointerp_auroc,
        smk,
        autointerp_csv=smk.input.autointerp,
        scorer=smk.wildcards.ai_scorer,
        out_base=str(Path(smk.output[0]).with_suffix("")),
        formats=list(smk.params.formats),
    )


main(snakemake)  # noqa: F821
