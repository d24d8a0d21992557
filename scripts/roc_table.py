"""Rule roc_table: results/tables/roc_curves.csv (pooled ROC curves with bootstrap CIs)."""

from randsae.report import steps
from randsae.runner import run


def main(smk):
    run(
        steps.roc_table,
        smk,
        cells=[tuple(c) for c in smk.params.cells],
        windows_jsonls=list(smk.input.windows),
        n_bootstrap=int(smk.params.bootstrap),
        seed=int(smk.params.seed),
        out_csv=smk.output.roc,
    )


main(snakemake)  # noqa: F821
