"""Rule train_sae: train one TopK SAE (sae-lens format output)."""

from pathlib import Path

from randsae.runner import run
from randsae.sae import steps
from randsae.sections import ActivationsConfig, SAEConfig


def main(smk):
    run(
        steps.train_sae,
        smk,
        model=smk.wildcards.model,
        init=smk.wildcards.init,
        layer=int(smk.wildcards.layer),
        sae_cfg=SAEConfig.from_rule_params(smk.params.sae),
        act_cfg=ActivationsConfig.from_dict(smk.params.activations),
        seed=smk.params.seed,
        cache_dir=smk.input.cache,
        out_dir=str(Path(smk.output.cfg).parent),
        curve_csv=smk.output.curve,
        checkpoint_dir=smk.params.checkpoint_dir,
        device=smk.params.device,
        # Tracking changes no output, so it is read from the config, not from params.
        tracking=SAEConfig.from_dict(smk.config["sae"]).tracking,
    )


main(snakemake)  # noqa: F821
