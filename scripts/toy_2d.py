"""Rule toy_2d: the 2-D illustration of superposition through a random MLP."""

from randsae.toy.steps import make_toy_2d, setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    make_toy_2d(smk.params.seed, smk.params.two_d, smk.output.pdf, smk.output.png, smk.output.csv)


main(snakemake)  # noqa: F821
