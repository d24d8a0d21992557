"""Rule eval_sae: one layer's metrics, per-latent table and examples, from its group's store."""

from randsae.evaluate import group
from randsae.runner import run


def main(smk):
    run(
        group.serve_layer,
        smk,
        layer=int(smk.wildcards.layer),
        key_file=smk.input.key,
        store_dir=smk.params.store,
        out_files=[smk.output.metrics, smk.output.latents, smk.output.examples],
        group_manifest=smk.input.group,
    )


main(snakemake)  # noqa: F821
