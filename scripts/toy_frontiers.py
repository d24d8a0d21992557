"""Rule toy_frontiers: EV vs L0, L1, L1/sqrt(L2), Hoyer frontiers of one dataset (Figs 22-29)."""

from randsae.toy.steps import make_toy_frontiers, setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    make_toy_frontiers(smk.input.summary, smk.output.pdf, smk.output.png, smk.output.csv)


main(snakemake)  # noqa: F821
