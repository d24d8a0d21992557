"""Rule fetch_sae: one published SAE (cfg.json + weights), checked against the manifest."""

from randsae.publish import steps
from randsae.runner import run


def main(smk):
    run(
        steps.fetch_sae,
        smk,
        source=smk.params.source,
        files=[smk.output.cfg, smk.output.weights],
    )


main(snakemake)  # noqa: F821
