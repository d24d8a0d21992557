"""Rule toy_2d: the 2-D illustration of superposition through a random MLP."""

from randsae.runner import run
from randsae.sections import TwoDConfig
from randsae.toy import steps


def main(smk):
    run(
        steps.make_toy_2d,
        smk,
        seed=smk.params.seed,
        two_d=TwoDConfig.from_dict(smk.params.two_d),
        pdf=smk.output.pdf,
        png=smk.output.png,
        csv=smk.output.csv,
    )


main(snakemake)  # noqa: F821
