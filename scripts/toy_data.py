"""Rule toy_data: descriptive statistics of every (arm, seed) dataset of a toy dataset."""

import torch

from randsae.toy.steps import make_toy_data_stats, setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    torch.set_num_threads(smk.threads)
    make_toy_data_stats(
        smk.wildcards.toy_dataset,
        smk.params.arms,
        int(smk.params.seeds),
        smk.params.common,
        smk.params.data,
        smk.input.vectors[0] if smk.input.vectors else None,
        smk.output.stats,
    )


main(snakemake)  # noqa: F821
