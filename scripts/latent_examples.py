"""Rule latent_examples: choose latents and sample explainer / test windows."""

from pathlib import Path

from randsae.evaluate import steps
from randsae.runner import run


def main(smk):
    cfg = dict(smk.params.cfg)
    cfg.update(
        examples=smk.params.examples,
        eval={"batch_size": smk.params.batch_size, "ignore_token_ids": smk.params.ignore_ids},
        seed=smk.params.seed,
    )
    run(
        steps.latent_examples,
        smk,
        model=smk.wildcards.model,
        init=smk.wildcards.init,
        layer=int(smk.wildcards.layer),
        config=cfg,
        sae_dir=str(Path(smk.input.sae).parent),
        tokens_val=smk.input.tokens,
        tokenizer_path=smk.params.tokenizer,
        out_json=smk.output.examples,
        device=smk.params.device,
        init_json=smk.input.init,
    )


main(snakemake)  # noqa: F821
