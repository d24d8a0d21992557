"""configs/nulls-families.yaml end to end: the new nulls and two SAE families at embedded scale.

The config runs the nulls (permuted, permuted_embeddings, standard_init) next to the trained
model with ReLU + L1 SAEs from sae-lens's trainer on ``expected_average_only_in``-normalised
activations; a copy of the finished run with ``sae.architecture: jumprelu`` retrains only the
SAEs and everything after them. Both runs' tables have a row per null and family.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from dagtools import TARGETS, job_stats, snakemake

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "nulls-families.yaml"
NEW_NULLS = {"permuted", "permuted_embeddings", "standard_init"}


def _check_run(work: Path, cfg: dict, family: str, saelens_arch: str) -> None:
    from sae_lens import SAE

    inits = set(cfg["inits"])
    assert inits >= NEW_NULLS
    sm = pd.read_csv(work / "results/tables/sae_metrics.csv")
    assert set(sm["init"]) == inits
    assert set(sm["sae_architecture"]) == {family}
    assert set(sm["sae_normalize_activations"]) == {"expected_average_only_in"}
    assert sm["explained_variance"].notna().all() and sm["l0"].gt(0).all()
    ai = pd.read_csv(work / "results/tables/autointerp.csv")
    assert set(ai["init"]) == inits
    assert {"auroc_draw_std", "auroc_draw_min", "auroc_draw_max", "n_latent_draws"} <= set(
        ai.columns
    )
    scored = ai[ai["n_latents"] > 0]
    assert not scored.empty
    assert (scored["n_latent_draws"] <= cfg["examples"]["n_latent_draws"]).all()
    for init in inits:
        sae_dir = work / f"results/saes/tiny-neox/{init}/layer1"
        saved = json.loads((sae_dir / "cfg.json").read_text())
        assert saved["architecture"] == saelens_arch
        assert saved["normalize_activations"] == "none"  # the factor is folded in
        assert saved["metadata"]["norm_scaling_factor_folded"] > 0
        SAE.load_from_disk(str(sae_dir))
    rec = json.loads((work / "results/models/tiny-neox/inits/permuted.json").read_text())
    assert rec["resampled"] and all(r["permuted"] for r in rec["resampled"].values())


@pytest.mark.slow
def test_nulls_and_two_families_end_to_end(tmp_path):
    cfg = yaml.safe_load(CONFIG.read_text())
    assert cfg["sae"]["architecture"] == "relu"
    work = tmp_path / "relu"
    r = snakemake(work, *TARGETS, "--configfile", str(CONFIG), "--cores", "1", timeout=1500)
    assert r.returncode == 0, r.stderr[-4000:]
    _check_run(work, cfg, "relu", "standard")

    # the second family: same models and activation caches, new SAEs and everything after them
    jump = dict(cfg, sae=dict(cfg["sae"], architecture="jumprelu", sparsity_coefficient=1.0))
    cfg2 = tmp_path / "jumprelu.yaml"
    cfg2.write_text(yaml.safe_dump(jump, sort_keys=False))
    work2 = tmp_path / "jumprelu"
    shutil.copytree(work, work2, symlinks=True)
    r2 = snakemake(work2, *TARGETS, "--configfile", str(cfg2), "--cores", "1", timeout=1500)
    assert r2.returncode == 0, r2.stderr[-4000:]
    jobs = job_stats(r2.stdout + r2.stderr)
    assert jobs["train_sae"] == len(cfg["inits"]) and jobs["train_model"] == 0
    assert jobs["cache_activations"] == 0
    _check_run(work2, jump, "jumprelu", "jumprelu")
