"""Rule plot_density_histograms: latent firing-density histograms."""

from pathlib import Path

from randsae.figures import steps
from randsae.runner import run


def main(smk):
    run(
        steps.plot_density_histograms,
        smk,
        density_csv=smk.input.density,
        out_base=str(Path(smk.output[0]).with_suffix("")),
        formats=list(smk.params.formats),
    )


main(snakemake)  # noqa: F821
