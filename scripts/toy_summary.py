"""Rule toy_summary: concatenate a dataset's sweeps; mean, std and s.e.m. over seeds."""

from randsae.runner import run
from randsae.toy import steps


def main(smk):
    run(
        steps.make_toy_summary,
        smk,
        sweep_csvs=list(smk.input.sweeps),
        raw_csv=smk.output.raw,
        summary_csv=smk.output.summary,
    )


main(snakemake)  # noqa: F821
