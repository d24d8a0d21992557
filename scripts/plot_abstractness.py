"""Rule plot_abstractness: held-out abstractness measures against layer."""

from pathlib import Path

from randsae.figures import steps
from randsae.runner import run


def main(smk):
    run(
        steps.plot_abstractness,
        smk,
        abstractness_csv=smk.input.abstractness,
        out_base=str(Path(smk.output[0]).with_suffix("")),
        formats=list(smk.params.formats),
    )


main(snakemake)  # noqa: F821
