"""Rule toy_frontiers: EV vs L0, L1, L1/sqrt(L2), Hoyer frontiers of one dataset (Figs 22-29)."""

from randsae.runner import run
from randsae.toy import steps


def main(smk) -> None:
    run(
        steps.make_toy_frontiers,
        smk,
        summary_csv=smk.input.summary,
        pdf=smk.output.pdf,
        png=smk.output.png,
        csv=smk.output.csv,
    )


main(snakemake)  # noqa: F821
