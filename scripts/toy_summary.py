"""Rule toy_summary: concatenate a dataset's sweeps; mean, std and s.e.m. over seeds."""

from randsae.toy.steps import make_toy_summary, setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    make_toy_summary(list(smk.input.sweeps), smk.output.raw, smk.output.summary)


main(snakemake)  # noqa: F821
