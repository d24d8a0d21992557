"""Rule eval_sae: SAE quality metrics, abstractness and latent examples on held-out tokens."""

from pathlib import Path

from randsae.evaluate import steps
from randsae.runner import run


def main(smk):
    cfg = dict(smk.params.cfg)
    cfg.update(
        eval=smk.params.eval,
        activations={"context_size": smk.params.context_size},
        examples=smk.params.examples,
        seed=smk.params.seed,
    )
    run(
        steps.eval_cell,
        smk,
        model=smk.wildcards.model,
        init=smk.wildcards.init,
        layer=int(smk.wildcards.layer),
        config=cfg,
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
