"""Rule toy_sweep: all (arm, seed, L1 coefficient) SAEs of one (dataset, dictionary size)."""

from randsae.runner import run
from randsae.sections import SharkeyData, ToySAEConfig
from randsae.toy import steps


def main(smk) -> None:
    run(
        steps.make_toy_sweep,
        smk,
        dataset=smk.wildcards.toy_dataset,
        arms=list(smk.params.arms),
        n_latents=int(smk.wildcards.toy_n),
        seed=smk.params.seed,
        test_fraction=smk.params.test_fraction,
        ffn_expansion=smk.params.ffn_expansion,
        sharkey=SharkeyData.from_optional(smk.params.sharkey),
        gaussian_num_samples=smk.params.gaussian_num_samples,
        sae=ToySAEConfig.from_dict(smk.params.sae),
        vectors=smk.input.vectors[0] if smk.input.vectors else None,
        out_csv=smk.output.csv,
        device=smk.params.device,
    )


main(snakemake)  # noqa: F821
