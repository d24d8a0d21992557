"""Conda environments, checked statically (no conda channel is reachable in CI).

Reviewers with conda run `snakemake --cores all --use-conda`; every rule then runs in the env named
by its `conda:` directive. These tests keep that path honest without conda: every env file parses,
pins exactly what requirements.txt pins, and every rule of the loaded workflow names an existing env.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ENV_FILES = sorted((ROOT / "envs").glob("*.yaml"))
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(\[[A-Za-z0-9_,\-]+\])?==([^\s;#]+)")


def normalize(name: str) -> str:
    """PEP 503 project-name normalisation (huggingface_hub == huggingface-hub)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(lines) -> dict[str, tuple[str, str]]:
    """{normalized name: (extras, version)} for every `name[extras]==version` line."""
    pins = {}
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        m = PIN.match(line)
        if m:
            pins[normalize(m.group(1))] = (m.group(2) or "", m.group(3))
    return pins


def requirement_pins() -> dict[str, tuple[str, str]]:
    return parse_pins((ROOT / "requirements.txt").read_text().splitlines())


def env_pip_pins(env: dict) -> dict[str, tuple[str, str]]:
    pip = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    return parse_pins(pip[0]) if pip else {}


def test_parse_pins_normalizes_names_and_keeps_extras():
    pins = parse_pins(
        ["Huggingface_Hub==2.4.0  # c", "snakemake[reports]==9.27.1", "-e .", "# x==1"]
    )
    assert pins == {"huggingface-hub": ("", "2.4.0"), "snakemake": ("[reports]", "9.27.1")}


def test_there_is_an_env_file():
    assert ENV_FILES, "envs/*.yaml missing"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_file_parses_and_pins_agree_with_requirements(path):
    env = yaml.safe_load(path.read_text())
    assert isinstance(env, dict) and isinstance(env.get("dependencies"), list), path
    assert env.get("channels"), f"{path.name}: channels must be explicit"
    assert "defaults" not in env["channels"], f"{path.name}: use nodefaults, not defaults"
    conda_deps = [d for d in env["dependencies"] if isinstance(d, str)]
    python = [d for d in conda_deps if re.match(r"^python\s*[=<>]", d)]
    assert python == ["python=3.11"], (
        f"{path.name}: python must be pinned to 3.11 like the README ({python})"
    )
    for dep in conda_deps:  # every conda package except pip itself is pinned exactly
        assert dep == "pip" or re.match(r"^[\w.\-]+=+[\w.*]+", dep), (
            f"{path.name}: unpinned conda dep {dep!r}"
        )
    pins = env_pip_pins(env)
    req = requirement_pins()
    assert pins, f"{path.name}: no pinned pip section"
    pip_lines = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)][0]
    unpinned = [p for p in pip_lines if not PIN.match(p.strip())]
    assert not unpinned, f"{path.name}: unpinned pip entries {unpinned}"
    mismatched = {n: (pins[n], req.get(n)) for n in pins if req.get(n) != pins[n]}
    assert not mismatched, (
        f"{path.name} disagrees with requirements.txt (env, requirements): {mismatched}"
    )
    if path.stem == "workflow":  # the project env mirrors requirements.txt completely
        missing = sorted(set(req) - set(pins))
        assert not missing, f"{path.name} lacks {missing} from requirements.txt"


def test_post_deploy_script_installs_the_package():
    script = ROOT / "envs" / "workflow.post-deploy.sh"
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash")
    assert re.search(r"pip install --no-deps -e\b", text), (
        "post-deploy must install randsae without deps"
    )


@pytest.fixture(scope="module", params=["config.yaml", "configs/paper.yaml"])
def workflow_rules(request):
    """Every rule of the workflow, loaded with Snakemake's API.

    Both the default config (activation cache) and the paper config (streaming) are loaded, since
    some rules are only defined for one activation source.
    """
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    configfiles = [] if request.param == "config.yaml" else [ROOT / request.param]
    with tempfile.TemporaryDirectory() as work, SnakemakeApi(OutputSettings(quiet=set())) as api:
        wf = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            snakefile=ROOT / "Snakefile",
            workdir=Path(work),
            config_settings=ConfigSettings(configfiles=configfiles),
        )
        return list(wf._workflow.rules)


def test_every_rule_names_an_existing_conda_env(workflow_rules):
    names = {r.name for r in workflow_rules}
    assert {"eval_sae", "tables", "figures"} <= names and names & {
        "train_sae",
        "train_sae_group",
    }, names
    problems = []
    for rule in workflow_rules:
        if rule.name in ("all", "figures"):  # aggregate targets, run no code
            continue
        if not rule.conda_env:
            problems.append(f"{rule.name}: no conda directive")
            continue
        env = (Path(rule.basedir) / str(rule.conda_env)).resolve()
        if not env.is_file() or env.parent != ROOT / "envs":
            problems.append(f"{rule.name}: {rule.conda_env} -> {env} missing or outside envs/")
    assert not problems, problems


def test_no_rule_sets_retries():
    # Retries belong in the profiles: a rule-level `retries:` retries inside the first SLURM
    # allocation, whose --mem stays enforced (docs/cluster.md).
    offenders = [
        p.name
        for p in (ROOT / "rules").glob("*.smk")
        if re.search(r"^\s+retries:", p.read_text(), re.M)
    ]
    assert offenders == []


def test_rule_files_not_included_still_name_envs():
    """Static check of every rules/*.smk, including files the Snakefile does not include yet."""
    problems = []
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        blocks = re.split(r"^(?=[ \t]*(?:rule|checkpoint) \w+:)", smk.read_text(), flags=re.M)[1:]
        for block in blocks:
            name = re.match(r"[ \t]*(?:rule|checkpoint) (\w+):", block).group(1)
            if name in ("all", "figures"):  # aggregate targets, run no code
                continue
            m = re.search(r"^\s+conda:\s*\n\s+\"([^\"]+)\"", block, flags=re.M)
            if not m:
                problems.append(f"{smk.name}:{name}: no conda directive")
            elif not (smk.parent / m.group(1)).resolve().is_file():
                problems.append(f"{smk.name}:{name}: {m.group(1)} missing")
    assert not problems, problems
