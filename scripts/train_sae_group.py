"""Rule train_sae_group: stream mode, the SAEs of a group of layers from one forward pass."""

from randsae.runner import run
from randsae.sae import steps
from randsae.sections import ActivationsConfig, InitConfig, ModelSource, SAEConfig


def main(smk):
    run(
        steps.train_sae_group,
        smk,
        model_cfg=ModelSource.from_dict(smk.params.model, name=smk.wildcards.model),
        init_cfg=InitConfig.from_dict(smk.params.init),
        init=smk.wildcards.init,
        layers=list(smk.params.layers),
        sae_cfg=SAEConfig.from_rule_params(smk.params.sae),
        act_cfg=ActivationsConfig.from_dict(smk.params.activations),
        seed=smk.params.seed,
        tokens_train=smk.input.tokens,
        out_dir=smk.output.group,
        device=smk.params.device,
        # Tracking changes no output, so it is read from the config, not from params.
        tracking=SAEConfig.from_dict(smk.config["sae"]).tracking,
        init_json=smk.input.init,
    )


main(snakemake)  # noqa: F821
