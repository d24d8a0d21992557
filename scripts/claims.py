"""Rule claims: the paper's eight claims and the distinguishability table on this run's tables."""

from randsae.runner import run
from randsae.tables import steps


def main(smk):
    latents = list(smk.input.get("latents", []))
    run(
        steps.claims,
        smk,
        sae_metrics_csv=smk.input.sae_metrics,
        autointerp_csv=smk.input.autointerp,
        latents_csv=latents[0] if latents else None,
        toy_csvs=list(smk.input.get("toy", [])),
        windows_jsonls=list(smk.input.get("windows", [])),
        cells=[tuple(c) for c in smk.params.cells],
        out_claims=smk.output.claims,
        out_distinguishability=smk.output.distinguishability,
        n_boot=smk.params.n_boot,
        seed=smk.params.seed,
    )


main(snakemake)  # noqa: F821
