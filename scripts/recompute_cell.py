"""Rule recompute_cell: a published cell's SAE metrics, computed again (the spot check)."""

from randsae.publish import steps
from randsae.runner import run
from randsae.sections import EvalConfig, InitConfig, ModelSource


def main(smk):
    run(
        steps.recompute_cell,
        smk,
        model_cfg=ModelSource.from_dict(smk.params.model, name=smk.wildcards.model),
        init_cfg=InitConfig.from_dict(smk.params.init),
        init=smk.wildcards.init,
        layer=int(smk.wildcards.layer),
        eval_cfg=EvalConfig.from_dict(smk.params.eval),
        context_size=smk.params.context_size,
        sae_weights=smk.input.sae,
        init_json=smk.input.init,
        tokens_val=smk.input.tokens,
        out_json=smk.output.metrics,
        out_latents=smk.output.latents,
        device=smk.params.device,
    )


main(snakemake)  # noqa: F821
