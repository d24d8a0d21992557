"""Rule recompute_table: recomputed against published metrics, within the stated tolerances."""

from randsae.publish import steps
from randsae.runner import run


def main(smk):
    run(
        steps.recompute_table,
        smk,
        cells=list(smk.params.cells),
        published=list(smk.input.published),
        recomputed=list(smk.input.recomputed),
        rtol=smk.params.rtol,
        atol=smk.params.atol,
        out_csv=smk.output.table,
    )


main(snakemake)  # noqa: F821
