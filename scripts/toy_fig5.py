"""Rule toy_fig5: EV vs L0 frontiers, a panel per dataset (paper Fig 5a/5b, Section 4.3)."""

from randsae.toy.steps import make_toy_fig5, setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    make_toy_fig5(list(smk.input.summaries), smk.output.pdf, smk.output.png, smk.output.csv)


main(snakemake)  # noqa: F821
