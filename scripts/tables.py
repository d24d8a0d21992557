"""Rule tables: aggregate per-cell results into the paper's tables."""

from randsae import stages


def main(smk):
    stages.run(
        stages.tables, smk, metric_jsons=list(smk.input.metrics), score_jsons=list(smk.input.scores),
        init_jsons=list(smk.input.inits), out_metrics=smk.output.sae_metrics,
        out_autointerp=smk.output.autointerp,
    )


main(snakemake)  # noqa: F821
