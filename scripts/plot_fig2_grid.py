"""Rule plot_fig2_grid: the v2 Fig-2 grid (and the appendix grids, Figs 15-19)."""

from pathlib import Path

from randsae.figures import steps
from randsae.runner import run
from randsae.sections import models_from_dict


def main(smk):
    run(
        steps.plot_fig2_grid,
        smk,
        sae_metrics_csv=smk.input.sae_metrics,
        autointerp_csv=smk.input.autointerp,
        latents_csv=smk.input.latents,
        models=models_from_dict(smk.params.models),
        n_bootstrap=int(smk.params.bootstrap),
        seed=int(smk.params.seed),
        out_base=str(Path(smk.output[0]).with_suffix("")),
        formats=list(smk.params.formats),
    )


main(snakemake)  # noqa: F821
