"""Rule score: detection and fuzzing scores of the explanations (+ random-explanation control)."""

from randsae.autointerp import steps
from randsae.runner import run
from randsae.sections import AutointerpConfig


def main(smk):
    run(
        steps.score,
        smk,
        examples_json=smk.input.examples,
        explanations_jsonl=smk.input.explanations,
        ai=AutointerpConfig.from_dict(smk.params.autointerp),
        seed=smk.params.seed,
        out_json=smk.output.scores,
        out_windows=smk.output.windows,
    )


main(snakemake)  # noqa: F821
