"""Rule toy_data: descriptive statistics of every (arm, seed) dataset of a toy dataset."""

from randsae.runner import run
from randsae.toy import steps


def main(smk):
    run(
        steps.make_toy_data_stats,
        smk,
        dataset=smk.wildcards.toy_dataset,
        arms=smk.params.arms,
        n_seeds=int(smk.params.seeds),
        common=smk.params.common,
        data=smk.params.data,
        vectors=smk.input.vectors[0] if smk.input.vectors else None,
        out_csv=smk.output.stats,
    )


main(snakemake)  # noqa: F821
