"""Rule latent_table: results/tables/latents.csv (v2 token entropy and per-latent AUROC)."""

from randsae.report import steps
from randsae.runner import run


def main(smk):
    run(
        steps.latent_table,
        smk,
        cells=[tuple(c) for c in smk.params.cells],
        examples_jsons=list(smk.input.examples),
        windows_jsonls=list(smk.input.windows),
        held_out_csvs=list(smk.input.held_out),
        out_csv=smk.output.latents,
    )


main(snakemake)  # noqa: F821
