"""Rule recompute_cell: a published cell's SAE metrics, computed again (the spot check)."""

from randsae.publish import steps
from randsae.runner import run


def main(smk):
    settings = dict(smk.params.cfg)
    settings.update(eval=smk.params.eval, activations={"context_size": smk.params.context_size})
    files = {k: smk.input[k] for k in ("sae", "init", "tokens")}
    files.update(metrics=smk.output.metrics, latents=smk.output.latents)
    run(
        steps.recompute_cell,
        smk,
        cell=dict(smk.wildcards.items()),
        settings=settings,
        paths=files,
        device=smk.params.device,
    )


main(snakemake)  # noqa: F821
