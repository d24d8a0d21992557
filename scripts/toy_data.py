"""Rule toy_data: descriptive statistics of every (arm, seed) dataset of a toy dataset."""

from randsae.runner import run
from randsae.sections import SharkeyData
from randsae.toy import steps


def main(smk):
    run(
        steps.make_toy_data_stats,
        smk,
        dataset=smk.wildcards.toy_dataset,
        arms=smk.params.arms,
        n_seeds=int(smk.params.seeds),
        seed=smk.params.seed,
        test_fraction=smk.params.test_fraction,
        ffn_expansion=smk.params.ffn_expansion,
        sharkey=SharkeyData.from_optional(smk.params.sharkey),
        gaussian_num_samples=smk.params.gaussian_num_samples,
        vectors=smk.input.vectors[0] if smk.input.vectors else None,
        out_csv=smk.output.stats,
    )


main(snakemake)  # noqa: F821
