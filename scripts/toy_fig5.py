"""Rule toy_fig5: EV vs L0 frontiers, a panel per dataset (paper Fig 5a/5b, Section 4.3)."""

from randsae.runner import run
from randsae.toy import steps


def main(smk) -> None:
    run(
        steps.make_toy_fig5,
        smk,
        summary_csvs=list(smk.input.summaries),
        pdf=smk.output.pdf,
        png=smk.output.png,
        csv=smk.output.csv,
    )


main(snakemake)  # noqa: F821
