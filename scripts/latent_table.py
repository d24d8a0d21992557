"""Rule latent_table: latents.csv (v2 token entropy, per-latent AUROC) and roc_curves.csv."""

from randsae.runner import run
from randsae.tables import steps


def main(smk):
    run(
        steps.latent_table,
        smk,
        cells=[tuple(c) for c in smk.params.cells],
        examples_jsons=list(smk.input.examples),
        windows_jsonls=list(smk.input.windows),
        held_out_csvs=list(smk.input.held_out),
        n_bootstrap=int(smk.params.bootstrap),
        seed=int(smk.params.seed),
        out_latents=smk.output.latents,
        out_roc=smk.output.roc,
    )


main(snakemake)  # noqa: F821
