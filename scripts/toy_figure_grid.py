"""Rule toy_figure_grid: appendix style figure of one dictionary size (a panel per metric)."""

from randsae.runner import run
from randsae.toy import steps


def main(smk):
    run(
        steps.make_toy_figure_grid,
        smk,
        summary_csv=smk.input.summary,
        n_latents=int(smk.wildcards.toy_n),
        metrics=list(smk.params.metrics),
        pdf=smk.output.pdf,
        png=smk.output.png,
        csv=smk.output.csv,
    )


main(snakemake)  # noqa: F821
