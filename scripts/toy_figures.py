"""Rule toy_figures: main-text style figure (metrics x dictionary sizes, a line per arm)."""

from randsae.toy.steps import make_toy_figure_main, setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    make_toy_figure_main(
        smk.input.summary, list(smk.params.metrics), smk.output.pdf, smk.output.png, smk.output.csv
    )


main(snakemake)  # noqa: F821
