"""Rule eval_sae: SAE quality metrics, abstractness and latent examples on held-out tokens."""

from pathlib import Path

from randsae.evaluate import steps
from randsae.runner import run
from randsae.sections import EvalConfig, ExamplesConfig, InitConfig, ModelSource


def main(smk):
    run(
        steps.eval_cell,
        smk,
        model_cfg=ModelSource.from_dict(smk.params.model, name=smk.wildcards.model),
        init_cfg=InitConfig.from_dict(smk.params.init),
        init=smk.wildcards.init,
        layer=int(smk.wildcards.layer),
        eval_cfg=EvalConfig.from_dict(smk.params.eval),
        examples_cfg=ExamplesConfig.from_dict(smk.params.examples),
        context_size=smk.params.context_size,
        seed=smk.params.seed,
        sae_dir=str(Path(smk.input.sae).parent),
        tokens_val=smk.input.tokens,
        tokenizer_path=smk.params.tokenizer,
        out_json=smk.output.metrics,
        out_latents=smk.output.latents,
        out_examples=smk.output.examples,
        device=smk.params.device,
        init_json=smk.input.init,
    )


main(snakemake)  # noqa: F821
