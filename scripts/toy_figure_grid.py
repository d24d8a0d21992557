"""Rule toy_figure_grid: appendix style figure of one dictionary size (a panel per metric)."""

from randsae.toy.steps import make_toy_figure_grid, setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    make_toy_figure_grid(
        smk.input.summary,
        int(smk.wildcards.toy_n),
        list(smk.params.metrics),
        smk.output.pdf,
        smk.output.png,
        smk.output.csv,
    )


main(snakemake)  # noqa: F821
