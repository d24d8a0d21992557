"""Rule score: detection and fuzzing scores of the explanations (+ random-explanation control)."""

from randsae import stages


def main(smk):
    stages.run(
        stages.score, smk, examples_json=smk.input.examples, explanations_jsonl=smk.input.explanations,
        ai_cfg=smk.params.autointerp, seed=smk.params.seed, out_json=smk.output.scores,
        out_windows=smk.output.windows,
    )


main(snakemake)  # noqa: F821
