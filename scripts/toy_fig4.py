"""Rule toy_fig4: MMCS vs L1 coefficient per dictionary size (paper Fig 4)."""

from randsae.toy.steps import make_toy_fig4, setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    make_toy_fig4(smk.input.summary, smk.output.pdf, smk.output.png, smk.output.csv)


main(snakemake)  # noqa: F821
