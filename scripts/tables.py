"""Rule tables: aggregate per-cell results into the paper's tables."""

from randsae.runner import run
from randsae.tables import steps


def main(smk):
    run(
        steps.tables,
        smk,
        metric_jsons=list(smk.input.metrics),
        latent_csvs=list(smk.input.latents),
        score_jsons=list(smk.input.scores),
        init_jsons=list(smk.input.inits),
        out_metrics=smk.output.sae_metrics,
        out_autointerp=smk.output.autointerp,
        out_abstractness=smk.output.abstractness,
        out_density=smk.output.density,
        out_llm_cost=smk.output.llm_cost,
        out_judge_agreement=smk.output.judge_agreement,
    )


main(snakemake)  # noqa: F821
