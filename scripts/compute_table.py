"""Rule compute_table: results/tables/compute.csv (Table 1) from the benchmark files."""

from randsae.runner import run
from randsae.tables import steps


def main(smk):
    run(
        steps.compute_table,
        smk,
        bench_root=smk.params.bench_root,
        models=list(smk.params.models),
        n_variants=int(smk.params.n_variants),
        out_csv=smk.output.compute,
    )


main(snakemake)  # noqa: F821
