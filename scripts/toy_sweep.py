"""Rule toy_sweep: all (arm, seed, L1 coefficient) SAEs of one (dataset, dictionary size)."""

import torch

from randsae.toy.steps import make_toy_sweep, setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    torch.set_num_threads(smk.threads)
    make_toy_sweep(
        smk.wildcards.toy_dataset,
        list(smk.params.arms),
        int(smk.wildcards.toy_n),
        smk.params.common,
        smk.params.data,
        smk.params.sae,
        smk.input.vectors[0] if smk.input.vectors else None,
        smk.output.csv,
        smk.params.device,
    )


main(snakemake)  # noqa: F821
