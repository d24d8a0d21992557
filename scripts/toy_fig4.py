"""Rule toy_fig4: MMCS vs L1 coefficient per dictionary size (paper Fig 4)."""

from randsae.runner import run
from randsae.toy import steps


def main(smk) -> None:
    run(
        steps.make_toy_fig4,
        smk,
        summary_csv=smk.input.summary,
        pdf=smk.output.pdf,
        png=smk.output.png,
        csv=smk.output.csv,
    )


main(snakemake)  # noqa: F821
