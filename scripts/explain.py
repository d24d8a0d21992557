"""Rule explain: one explanation per chosen latent."""

from randsae.autointerp import steps
from randsae.runner import run


def main(smk):
    run(
        steps.explain,
        smk,
        examples_json=smk.input.examples,
        ai_cfg=smk.params.autointerp,
        out_jsonl=smk.output.explanations,
    )


main(snakemake)  # noqa: F821
