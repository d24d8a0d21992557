"""Rule eval_sae: one layer's metrics, per-latent table and examples, from its group's store."""

from pathlib import Path

from randsae.evaluate import group
from randsae.runner import run


def main(smk):
    run(
        group.serve_layer,
        smk,
        settings=group.GroupSettings.from_params(
            smk.wildcards.model, smk.wildcards.init, smk.params, smk.input.tokens, smk.input.init
        ),
        layer=int(smk.wildcards.layer),
        sae_dir=str(Path(smk.input.sae).parent),
        store_dir=smk.params.store,
        out_files=[smk.output.metrics, smk.output.latents, smk.output.examples],
        group_manifest=smk.input.group,
    )


main(snakemake)  # noqa: F821
