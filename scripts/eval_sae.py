"""Rule eval_sae: SAE quality metrics and abstractness measures on held-out tokens."""

from pathlib import Path

from randsae.evaluate import steps
from randsae.runner import run


def main(smk):
    cfg = dict(smk.params.cfg)
    cfg["eval"] = smk.params.eval
    cfg["activations"] = {"context_size": smk.params.context_size}
    run(
        steps.eval_sae,
        smk,
        model=smk.wildcards.model,
        init=smk.wildcards.init,
        layer=int(smk.wildcards.layer),
        config=cfg,
        sae_dir=str(Path(smk.input.sae).parent),
        tokens_val=smk.input.tokens,
        out_json=smk.output.metrics,
        out_latents=smk.output.latents,
        device=smk.params.device,
        init_json=smk.input.init,
    )


main(snakemake)  # noqa: F821
