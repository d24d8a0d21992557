"""Rule explain: one explanation per chosen latent."""

from randsae import stages


def main(smk):
    stages.run(
        stages.explain, smk, examples_json=smk.input.examples, ai_cfg=smk.params.autointerp,
        out_jsonl=smk.output.explanations,
    )


main(snakemake)  # noqa: F821
