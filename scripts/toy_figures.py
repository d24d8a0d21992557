"""Rule toy_figures: main-text style figure (metrics x dictionary sizes, a line per arm)."""

from randsae.runner import run
from randsae.toy import steps


def main(smk):
    run(
        steps.make_toy_figure_main,
        smk,
        summary_csv=smk.input.summary,
        metrics=list(smk.params.metrics),
        pdf=smk.output.pdf,
        png=smk.output.png,
        csv=smk.output.csv,
    )


main(snakemake)  # noqa: F821
