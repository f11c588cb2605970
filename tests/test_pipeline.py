"""End to end: the real dvc.yaml, stages and conf/ in a temporary git repo, on a tiny config
(1 epoch, a 2-point grid), against the real MNIST/CIFAR-10 mirror. Proves `dvc repro` runs,
is up to date the second time, leaves no stray files, honours the metrics contract, re-runs
only the changed matrix point, and that `dvc exp run -S` and `dvc metrics diff` work."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from study.bars import contract_problems
from study.data import MIRROR_ENV
from study.params import compose

ROOT = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get(MIRROR_ENV) or ROOT.parent / "shared" / "data")
# written into the temporary repo's conf/, so `dvc exp run` (which recomposes conf/) stays tiny
TINY = {"linear/default.yaml": {"epochs": 1, "grid": {"lr": [0.1, 0.01], "lambda": [0.0]}},
        "mlp/default.yaml": {"epochs": 1, "grid": {"lr": [0.05], "batch_size": [128]}},
        "fraction/default.yaml": {"values": [0.5, 1.0]},
        "sklearn/default.yaml": {"max_iter": 5},
        "cifar10/default.yaml": {"n_images": 4},
        "blur/default.yaml": {"n_images": 2},
        "c0/default.yaml": {"sgd": {"max_epochs": 3}}}


def merged(base: dict, changes: dict) -> dict:
    return {**base, **{k: merged(base[k], v) if isinstance(v, dict) and isinstance(
        base.get(k), dict) else v for k, v in changes.items()}}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (MIRROR / "MNIST" / "raw").is_dir(),
                       reason=f"needs the data mirror ({MIRROR_ENV} or ../shared/data)"),
]


def run(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, MIRROR_ENV: str(MIRROR),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    result = subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True,
                            timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("study")
    for item in ("dvc.yaml", "conf", "stages", "src", ".dvc/config", ".dvc/.gitignore",
                 ".dvc/plots", ".dvcignore", ".gitignore"):
        source, target = ROOT / item, repo / item
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target)
    for name, changes in TINY.items():
        path = repo / "conf" / name
        settings = merged(yaml.safe_load(path.read_text()), changes)
        path.write_text(yaml.safe_dump(settings, sort_keys=False))
    (repo / "params.yaml").write_text(compose(repo))
    run(repo, "git", "init", "-q")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "tiny study")
    run(repo, "dvc", "repro")
    return repo


def test_repro_runs_then_everything_is_up_to_date(repo):
    second = run(repo, "dvc", "repro")
    assert "Data and pipelines are up to date" in second.stdout
    assert run(repo, "dvc", "status").stdout.strip() == "Data and pipelines are up to date."
    status = run(repo, "git", "status", "--porcelain", "--untracked-files=all").stdout
    new = [line[3:] for line in status.splitlines()]
    # only DVC's lock file and the declared cache: false outputs under reports/ are new
    assert new and all(p == "dvc.lock" or p.startswith("reports/") for p in new), new


def test_every_metrics_file_of_the_contract_has_its_keys(repo):
    problems, _ = contract_problems(repo)
    assert problems == []


def test_metrics_contract(repo):
    linear = json.loads((repo / "reports/linear/metrics.json").read_text())
    for key in ("accuracy", "loss"):
        assert 0 <= linear["test"][key] and linear["test"][key] == linear["test"][key]
    assert {"lr", "lambda"} <= set(linear["best"]) and linear["best"]["lr"] in (0.1, 0.01)
    assert linear["best_class"] in [str(i) for i in range(10)] and "worst_class" in linear
    assert 0.8 < linear["test"]["accuracy"] <= 1  # even one epoch learns MNIST
    sklearn = json.loads((repo / "reports/sklearn/metrics.json").read_text())
    assert {"train", "val", "test"} <= set(sklearn)
    fraction = json.loads((repo / "reports/linear/fraction.json").read_text())
    assert set(fraction) == {"0.5", "1.0"}
    shown = run(repo, "dvc", "metrics", "show", "--json").stdout
    assert "reports/linear/metrics.json" in shown and "reports/sklearn/metrics.json" in shown


def test_changing_one_grid_value_reruns_only_that_point_and_downstream(repo):
    params = (repo / "params.yaml").read_text()
    (repo / "params.yaml").write_text(compose(repo, ["linear.grid.lr=[0.1,0.05]"]))
    try:
        out = run(repo, "dvc", "repro").stdout
        ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running")}
        assert {"linear_sweep@0.05-0.0", "linear_select"} <= ran
        assert not ran & {"linear_sweep@0.1-0.0", "prepare_mnist", "sklearn_baseline",
                          "mlp_sweep@0.05-128", "mlp_final", "blur", "c0_recover"}
    finally:
        (repo / "params.yaml").write_text(params)
        run(repo, "dvc", "repro")


def test_exp_run_with_a_changed_knob_shows_in_metrics_and_params_diff(repo):
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "results")
    run(repo, "dvc", "exp", "run", "-S", "linear.epochs=2", "-S", "mlp.hidden=50")
    params_diff = run(repo, "dvc", "params", "diff").stdout
    assert "linear.epochs" in params_diff and "mlp.hidden" in params_diff
    metrics_diff = run(repo, "dvc", "metrics", "diff").stdout
    for name in ("reports/linear/metrics.json", "reports/mlp/metrics.json"):
        assert name in metrics_diff
    assert "test.accuracy" in metrics_diff


def test_plots_show_writes_every_declared_plot(repo):
    run(repo, "dvc", "plots", "show", "-o", "plots_html")
    html = (repo / "plots_html" / "index.html").read_text()
    for model in ("Linear classifier", "MLP"):
        for title in ("loss per epoch", "accuracy per epoch", "test accuracy per class",
                      "test confusion matrix", "test accuracy vs share of training data"):
            assert f"{model}, {title}" in html
    for title in ("Linear sweep, validation scores", "MLP sweep, validation scores",
                  "C0 recovery, log10 relative output error",
                  "C0 recovery, log10 relative weight error"):
        assert title in html
    for image in ("linear/weights.png", "mlp/weights.png", "blur/blurred.png",
                  "blur/filters.png", "c0/filters.png"):
        assert image in html
