"""Rule cache_activations: one forward pass per (model, init), residual stream sharded to disk."""

from randsae.runner import run
from randsae.sae import steps
from randsae.sections import ActivationsConfig, InitConfig, ModelSource


def main(smk):
    run(
        steps.cache_activations,
        smk,
        model_cfg=ModelSource.from_dict(smk.params.model, name=smk.wildcards.model),
        init_cfg=InitConfig.from_dict(smk.params.init),
        init=smk.wildcards.init,
        act_cfg=ActivationsConfig.from_dict(smk.params.activations),
        max_layer=smk.params.max_layer,
        tokens_train=smk.input.tokens,
        out_dir=smk.output.cache,
        device=smk.params.device,
        init_json=smk.input.init,
    )


main(snakemake)  # noqa: F821
