"""Rule neuronpedia_export: every cell's latents as Neuronpedia upload payloads."""

from randsae.publish import steps
from randsae.runner import run
from randsae.sections import AutointerpConfig, ExamplesConfig, models_from_dict


def main(smk):
    run(
        steps.neuronpedia_export,
        smk,
        cells=list(smk.params.cells),
        inputs={k: list(smk.input[k]) for k in ("examples", "explanations", "latents", "metrics")},
        models=models_from_dict(smk.params.models),
        examples_cfg=ExamplesConfig.from_dict(smk.params.examples),
        ai=AutointerpConfig.from_dict(smk.params.autointerp),
        repo_url=smk.params.repo_url,
        out_dir=smk.output.export,
    )


main(snakemake)  # noqa: F821
