"""Rule cache_activations: one forward pass per (model, init), residual stream sharded to disk."""

from randsae.runner import run
from randsae.sae import steps


def main(smk):
    cfg = dict(smk.params.cfg)
    cfg["activations"] = smk.params.activations
    run(
        steps.cache_activations,
        smk,
        model=smk.wildcards.model,
        init=smk.wildcards.init,
        config=cfg,
        max_layer=smk.params.max_layer,
        tokens_train=smk.input.tokens,
        out_dir=smk.output.cache,
        device=smk.params.device,
        init_json=smk.input.init,
    )


main(snakemake)  # noqa: F821
