"""Rule link_sae: expose one layer's SAE from its stream group at the per-layer path."""

from randsae.runner import run
from randsae.sae import steps


def main(smk):
    run(
        steps.link_sae,
        smk,
        group_dir=smk.input.group,
        layer=int(smk.wildcards.layer),
        out_files=[smk.output.cfg, smk.output.weights, smk.output.curve],
    )


main(snakemake)  # noqa: F821
