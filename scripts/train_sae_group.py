"""Rule train_sae_group: stream mode, the SAEs of a group of layers from one forward pass."""

from randsae.runner import run
from randsae.sae import steps


def main(smk):
    cfg = dict(smk.params.cfg)
    cfg.update(sae=smk.params.sae, activations=smk.params.activations)
    run(
        steps.train_sae_group,
        smk,
        model=smk.wildcards.model,
        init=smk.wildcards.init,
        layers=list(smk.params.layers),
        config=cfg,
        seed=smk.params.seed,
        tokens_train=smk.input.tokens,
        out_dir=smk.output.group,
        device=smk.params.device,
        # Tracking changes no output, so it is read from the config, not from params.
        tracking=smk.config["sae"].get("tracking", "none"),
        init_json=smk.input.init,
    )


main(snakemake)  # noqa: F821
