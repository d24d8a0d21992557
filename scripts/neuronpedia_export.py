"""Rule neuronpedia_export: every cell's latents as Neuronpedia upload payloads."""

from randsae.publish import steps
from randsae.runner import run


def main(smk):
    run(
        steps.neuronpedia_export,
        smk,
        cells=list(smk.params.cells),
        inputs={k: list(smk.input[k]) for k in ("examples", "explanations", "latents", "metrics")},
        config=dict(smk.params.config),
        repo_url=smk.params.repo_url,
        out_dir=smk.output.export,
    )


main(snakemake)  # noqa: F821
