"""conf/ is the one place settings live: params.yaml must be exactly what DVC composes from it,
and every stage script must accept the composed config (``--cfg job``) and offer ``--help``;
a stage script stays thin (read config, call one study function, write), its logic in
src/study/."""

import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from study.params import compose

ROOT = Path(__file__).resolve().parents[1]
STAGES = sorted(p.name for p in (ROOT / "stages").glob("*.py"))


def test_params_yaml_is_the_composition_of_conf():
    assert (ROOT / "params.yaml").read_text() == compose(ROOT), (
        "params.yaml is stale: run `make params`")


def test_dvc_hydra_composition_is_enabled_and_offline():
    config = (ROOT / ".dvc" / "config").read_text()
    assert "[hydra]" in config and "enabled = true" in config
    assert "analytics = false" in config


def test_overrides_compose_like_dvc_exp_run_set_param():
    composed = yaml.safe_load(compose(ROOT, ["linear.epochs=2", "linear.grid.lr=[0.5]"]))
    assert composed["linear"]["epochs"] == 2
    assert composed["linear"]["grid"]["lr"] == [0.5]
    assert "hydra" not in composed


@pytest.mark.parametrize("script", STAGES)
def test_every_stage_explains_itself_and_its_knobs_in_help(script, monkeypatch, capsys):
    """In this process, as `python stages/<script> --help` runs it (a fresh interpreter costs
    about 0.5 s more per stage; the next test runs one)."""
    before = sorted(p.name for p in ROOT.iterdir())
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "argv", [f"stages/{script}", "--help"])
    runpy.run_path(str(ROOT / "stages" / script), run_name="__main__")
    shown = capsys.readouterr().out
    first_line = (ROOT / "stages" / script).read_text().split('"""')[1].splitlines()[0]
    assert shown.startswith(first_line)
    assert "linear:" in shown and "batch_size" in shown
    assert sorted(p.name for p in ROOT.iterdir()) == before  # no outputs/ or .hydra/


def test_help_shows_the_config_with_overrides_and_a_bad_override_without_a_traceback():
    def help_with(*overrides):
        return subprocess.run([sys.executable, "stages/final.py", "--help", *overrides], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)

    shown = help_with("linear.epochs=7")
    assert shown.returncode == 0, shown.stderr
    assert "\n  epochs: 7\n" in shown.stdout  # linear.epochs, one level in
    assert "epochs: 7" not in (ROOT / "params.yaml").read_text()
    bad = help_with("no_such_knob=1")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("final: bad override: Could not override 'no_such_knob'")
    assert "Traceback" not in bad.stderr


def test_cfg_job_prints_the_composed_config_with_overrides():
    result = subprocess.run([sys.executable, "stages/sweep_point.py", "--cfg", "job",
                             "model=mlp", "+mlp.lr=0.5"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "model: mlp" in result.stdout and "lr: 0.5" in result.stdout


@pytest.mark.parametrize("script", STAGES)
def test_every_stage_script_is_thin(script):
    lines = (ROOT / "stages" / script).read_text().splitlines()
    assert len(lines) <= 60, f"stages/{script} has {len(lines)} lines: move its logic to study"
