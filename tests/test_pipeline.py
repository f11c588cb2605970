"""End to end: the real dvc.yaml, stages and conf/ in a temporary git repo, on a tiny config
(1 epoch, a 2-point grid, the first images of the real MNIST files: helpers.mnist_head),
against the real MNIST/CIFAR-10 mirror. Proves `dvc repro` runs, is up to date the second time,
leaves no stray files, honours the metrics contract (numbers only, as `dvc exp show` reads
them), re-runs only the changed matrix point and only the changed model's ablation, and that a
second data set in MNIST's format plugs in with one YAML file in conf/data/. (That an
experiment shows in `dvc params diff` and `dvc metrics diff`: tests/test_readme.py, on the
experiments the README's commands ran.)"""

import csv
import json

import pytest
import yaml
from helpers import MIRROR, REPORTS, copy_project, needs_mirror, report_file, run, write_idx_dataset

from study import layout
from study.bars import contract_problems, not_numbers, tracked_metrics
from study.data import ROLES, sha256
from study.params import compose

pytestmark = [pytest.mark.slow, needs_mirror]


@pytest.fixture
def repo(reproduced_tiny_study, tmp_path_factory):
    """A copy per test (a second or so): no test has to undo its changes for the next, and the
    tests can run on different pytest-xdist workers."""
    return copy_project(reproduced_tiny_study, tmp_path_factory.mktemp("study"))


def test_repro_runs_then_everything_is_up_to_date(repo):
    second = run(repo, "dvc", "repro")
    assert "Data and pipelines are up to date" in second.stdout
    assert run(repo, "dvc", "status").stdout.strip() == "Data and pipelines are up to date."
    status = run(repo, "git", "status", "--porcelain", "--untracked-files=all").stdout
    new = [line[3:] for line in status.splitlines()]
    # only DVC's lock file, the declared cache: false outputs under reports/ and the headline
    # block of README.md (the report stage's) are new
    assert new and all(p in ("dvc.lock", "README.md") or p.startswith(f"{REPORTS}/")
                       for p in new), new


def test_bytecode_beside_the_sources_changes_no_stage(repo):
    """Python writes bytecode into src/barenet (a directory dep of every stage) when a stage,
    a test or a user imports it, and each Python version writes its own: dvc.lock recorded
    without it must still hold."""
    for package in ("barenet", "study"):
        cache = repo / "src" / package / "__pycache__"
        cache.mkdir(exist_ok=True)
        (cache / "__init__.cpython-399.pyc").write_bytes(b"bytecode of another Python")
    assert run(repo, "dvc", "status").stdout.strip() == "Data and pipelines are up to date."


def test_every_metrics_file_of_the_contract_has_its_keys(repo):
    problems, _ = contract_problems(repo)
    assert problems == []


def test_metrics_contract(repo):
    linear = json.loads((repo / report_file("linear", "metrics.json")).read_text())
    for key in ("accuracy", "loss"):
        assert 0 <= linear["test"][key] and linear["test"][key] == linear["test"][key]
    assert {"lr", "lambda"} <= set(linear["best"]) and linear["best"]["lr"] in (0.1, 0.01)
    # the classes' indices into info.json's names
    assert linear["best_class"] in range(10) and linear["worst_class"] in range(10)
    info = json.loads((repo / report_file("linear", "info.json")).read_text())
    assert info["class_names"] == [str(i) for i in range(10)]
    assert 0.8 < linear["test"]["accuracy"] <= 1  # even one epoch learns MNIST
    sklearn = json.loads((repo / report_file("sklearn", "metrics.json")).read_text())
    assert {"train", "val", "test"} <= set(sklearn)
    fraction = json.loads((repo / report_file("linear", "fraction.json")).read_text())
    assert set(fraction) == {"0.5", "1.0"}
    shown = run(repo, "dvc", "metrics", "show", "--json").stdout
    assert all(report_file(name, "metrics.json") in shown for name in ("linear", "sklearn"))


def exp_show_metrics(node) -> list[tuple[str, str, dict]]:
    """(rev, file, metrics) of every rev in `dvc exp show --json`'s output, experiments
    included: each rev's data.metrics.<file>.data."""
    if isinstance(node, list):
        return [found for item in node for found in exp_show_metrics(item)]
    if not isinstance(node, dict):
        return []
    data = node.get("data") or {}
    found = [(data["rev"], file, entry["data"])
             for file, entry in (data.get("metrics") or {}).items() if "data" in entry]
    return found + [found for key, value in node.items() if key != "data"
                    for found in exp_show_metrics(value)]


def test_exp_show_reads_every_metric_as_a_number(repo):
    found = exp_show_metrics(json.loads(run(repo, "dvc", "exp", "show", "--json").stdout))
    assert {file for _, file, _ in found} == set(tracked_metrics(repo))
    assert [(rev, file, key, value) for rev, file, metrics in found
            for key, value in not_numbers(metrics)] == []


def test_changing_one_grid_value_reruns_only_that_models_sweep_and_downstream(repo):
    (repo / "params.yaml").write_text(compose(repo, ["linear.grid.lr=[0.1,0.05]"]))
    out = run(repo, "dvc", "repro").stdout
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running")}
    assert "linear_sweep" in ran
    assert not ran & {"prepare_idx", "mlp_sweep", "final@mlp", "blur", "c0_recover"}
    assert "sklearn_baseline" in ran  # it scores the final linear model beside its own fit
    points = (repo / layout.sweep_points(REPORTS, "linear")).iterdir()
    assert len(list(points)) == 2  # one file per point
    # final@ tracks the whole model section (dvc.yaml cannot vary a params list per foreach
    # item), so a grid edit re-runs it even when the choice holds; it must then agree
    assert "final@linear" in ran
    best = json.loads((repo / report_file("linear", "best.json")).read_text())
    metrics = json.loads((repo / report_file("linear", "metrics.json")).read_text())
    assert {k: metrics["best"][k] for k in ("lr", "lambda")} == {
        k: best[k] for k in ("lr", "lambda")}


def test_a_change_to_one_models_ablation_ladder_leaves_the_others_up_to_date(repo):
    """Each ablation@ tracks its own ladder (ablation.<model>), not the whole ablation
    section: a step of the linear ladder must not re-run the MLP's, the study's longest stage."""
    (repo / "params.yaml").write_text(compose(repo, ["ablation.linear.original.epochs=2"]))
    changed = set(json.loads(run(repo, "dvc", "status", "--json").stdout))
    assert "ablation@linear" in changed and "ablation@mlp" not in changed


def test_plots_show_writes_every_declared_plot(repo):
    run(repo, "dvc", "plots", "show", "-o", "plots_html")
    html = (repo / "plots_html" / "index.html").read_text()
    declared = yaml.safe_load((repo / "dvc.yaml").read_text())["plots"]
    titles = [spec["title"] for entry in declared if isinstance(entry, dict)
              for spec in entry.values()]
    assert len(titles) > 20
    # the page embeds each title as JSON text
    missing = [t for t in titles if t not in html and json.dumps(t)[1:-1] not in html]
    assert missing == []
    for image in ("linear/weights.png", "mlp/weights.png", "blur/blurred.png",
                  "blur/filters.png", "c0/filters.png"):
        assert image in html


def back_to_last_commit(repo):
    """Discard the workspace's changes, outputs included; return every file of reports/."""
    run(repo, "git", "checkout", "--", ".")
    run(repo, "dvc", "checkout")
    return {p: p.read_bytes() for p in sorted((repo / "reports").rglob("*")) if p.is_file()}


def classes_in(path, column: str) -> list[str]:
    with open(path, newline="") as f:
        return [row[column] for row in csv.DictReader(f)]


def test_a_second_data_set_plugs_in_with_one_yaml_file(repo, tmp_path):
    """A data set of its own in MNIST's IDX format (4 classes, own names) in a mirror and one new
    conf/data/tiny.yaml: nothing changes until `dvc exp run -S data=tiny`, which re-runs every
    classification stage (and no other) on it, its class names in every table and plot; back
    on MNIST, the committed results are exactly as they were."""
    run(repo, "git", "add", "-A")  # the MNIST results
    run(repo, "git", "commit", "--allow-empty", "-qm", "MNIST results")
    before = back_to_last_commit(repo)
    mirror = tmp_path / "mirror"  # the real mirror, plus the new data set
    mirror.mkdir()
    for item in MIRROR.iterdir():
        (mirror / item.name).symlink_to(item)
    names = ["tiny-train-images", "tiny-train-labels", "tiny-test-images", "tiny-test-labels"]
    classes = ["ant", "bee", "cat", "dog"]
    write_idx_dataset(mirror / "TINY" / "raw", names, len(classes), n_train=400, n_test=100)
    files = {role: {"name": name, "sha256": sha256(mirror / "TINY" / "raw" / name)}
             for role, name in zip(ROLES, names, strict=True)}
    files["test_labels"]["sha256"] = None  # not pinned: accepted, with a warning
    (repo / "conf" / "data" / "tiny.yaml").write_text(yaml.safe_dump(
        {"defaults": ["mnist", "_self_"], "name": "tiny", "torchvision": None,
         "folder": "TINY", "files": files, "class_names": classes}, sort_keys=False))
    assert compose(repo) == (repo / "params.yaml").read_text()
    assert run(repo, "dvc", "status").stdout.strip() == "Data and pipelines are up to date."

    result = run(repo, "dvc", "exp", "run", "-S", "data=tiny", mirror=mirror)
    ran = {line.split("'")[1] for line in result.stdout.splitlines()
           if line.startswith("Running")}
    assert {"prepare_idx", "final@linear", "final@mlp", "sklearn_baseline",
            "fraction@linear", "fraction@mlp"} <= ran
    assert not ran & {"prepare_cifar10", "blur", "c0_targets", "c0_recover", "scalar_grad"}
    assert "tiny-test-labels is not pinned" in result.stdout + result.stderr
    data = json.loads((repo / layout.data_set(REPORTS, "idx")).read_text())
    assert data["dataset"] == "tiny" and data["counts"] == {"train": 320, "val": 80, "test": 100}
    assert data["class_counts"]["test"] == [25, 25, 25, 25]
    for model in ("linear", "mlp"):
        reports = repo / "reports" / model
        assert classes_in(reports / "per_class.csv", "class") == classes
        assert set(classes_in(reports / "confusion.csv", "actual")) == set(classes)
        assert json.loads((reports / "info.json").read_text())["class_names"] == classes
        metrics = json.loads((reports / "metrics.json").read_text())
        assert {metrics["best_class"], metrics["worst_class"]} <= set(range(len(classes)))
        assert (reports / "weights.png").read_bytes() != before[reports / "weights.png"]
    assert json.loads((repo / report_file("sklearn", "metrics.json")).read_text())["test"] != \
        json.loads(before[repo / report_file("sklearn", "metrics.json")])["test"]

    assert back_to_last_commit(repo) == before
    assert run(repo, "dvc", "status").stdout.strip() == "Data and pipelines are up to date."
