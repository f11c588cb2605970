"""Interrupted stages lose nothing: every output is written atomically (a temporary beside it,
then a rename; a directory output whole), so a stage killed at any moment leaves each output
old, absent or complete, never partial or a mix, and the next run (and the next `dvc repro`)
finishes cleanly. The kills are real SIGKILLs of a real stage, at random moments while it
writes."""

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil  # a dependency of DVC
import pytest
from helpers import PATHS, ROOT, needs_mirror, project_env, run, stage_project, tiny_study

from study.io import atomic_dir, atomic_path, save_npy, write_json

TEMPORARY = re.compile(r"\..+\.tmp")  # what study.io names its temporaries; .dvcignore'd
IDX_OUTS = (PATHS["idx"], f"{PATHS['reports']}/data/idx.json")  # prepare_idx's (dvc.yaml)


# --- the writers ---------------------------------------------------------------------------------

def test_a_failed_file_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"a": ')  # half written, then the stage dies
        raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"a": 1}
    assert sorted(os.listdir(tmp_path)) == ["metrics.json"]  # no temp file left behind


def test_npy_bytes_depend_only_on_the_array(tmp_path):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    save_npy(tmp_path / "a.npy", a)
    save_npy(tmp_path / "b.npy", a.copy())
    assert (tmp_path / "a.npy").read_bytes() == (tmp_path / "b.npy").read_bytes()
    assert np.array_equal(np.load(tmp_path / "a.npy"), a)


def test_a_failed_directory_write_keeps_the_old_directory(tmp_path):
    target = tmp_path / "data"
    with atomic_dir(target) as tmp:
        (tmp / "a.npy").write_bytes(b"old a")
        (tmp / "b.npy").write_bytes(b"old b")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "a.npy").write_bytes(b"new a")  # one file of two, then the stage dies
        raise RuntimeError("killed")
    assert {p.name: p.read_bytes() for p in target.iterdir()} == {"a.npy": b"old a",
                                                                  "b.npy": b"old b"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no temporary left


def test_a_directory_is_replaced_whole(tmp_path):
    target = tmp_path / "data"
    with atomic_dir(target) as tmp:
        (tmp / "gone.npy").write_bytes(b"old")
    with atomic_dir(target) as tmp:
        (tmp / "new.npy").write_bytes(b"new")
    assert [p.name for p in target.iterdir()] == ["new.npy"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_leftovers_of_a_killed_write_are_removed_by_the_next_write_of_that_target(tmp_path):
    (tmp_path / ".x.json.k1ll3d_1.tmp").write_text('{"half": ')  # as SIGKILL leaves them
    (tmp_path / ".data.z9ab_x2q.tmp").mkdir()
    (tmp_path / ".data.z9ab_x2q.tmp" / "a.npy").write_bytes(b"part")
    others = [".x.json.json.abc.tmp", ".y.json.abc.tmp"]  # another target's: left alone
    for name in others:
        (tmp_path / name).write_text("")
    write_json(tmp_path / "x.json", {"a": 1})
    with atomic_dir(tmp_path / "data"):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["x.json", "data", *others])


def test_temporaries_are_named_as_git_and_dvc_ignore_them(tmp_path):
    assert ".*.tmp" in (ROOT / ".gitignore").read_text().splitlines()
    assert ".*.tmp" in (ROOT / ".dvcignore").read_text().splitlines()
    with atomic_path(tmp_path / "x.json") as file, atomic_dir(tmp_path / "data") as folder:
        assert file.parent == folder.parent == tmp_path  # same file system: rename is atomic
        assert TEMPORARY.fullmatch(file.name) and TEMPORARY.fullmatch(folder.name)
        file.write_text("{}")


# --- a real stage, killed at random moments ---------------------------------------------------

def temporaries(project: Path) -> list[Path]:
    """study.io temporaries anywhere under the project's data/ and reports/ (os.walk: folders
    may be renamed while it looks)."""
    return [Path(folder, name) for top in ("data", "reports")
            for folder, subfolders, files in os.walk(project / top)
            for name in subfolders + files if TEMPORARY.fullmatch(name)]


def snapshot(project: Path) -> dict[str, dict[str, bytes] | bytes | None]:
    """Each output of prepare_idx: a directory as {file: bytes}, a file as bytes, or None."""
    out = {}
    for name in IDX_OUTS:
        path = project / name
        out[name] = ({p.name: p.read_bytes() for p in path.iterdir()} if path.is_dir()
                     else path.read_bytes() if path.exists() else None)
    return out


def run_stage(project: Path, *overrides: str, kill_after: float | None = None) -> float:
    """Run prepare_idx in ``project``; with ``kill_after``, SIGKILL it that many seconds
    after its first temporary appears (when it starts writing outputs). Returns for how many
    seconds temporaries were seen: the time it spends writing."""
    command = [sys.executable, "stages/prepare_idx.py", *overrides]
    leftovers = set(temporaries(project))  # of earlier kills; not a sign of writing
    process = subprocess.Popen(command, cwd=project, env=project_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    first_seen = last_seen = None
    while process.poll() is None:
        if set(temporaries(project)) - leftovers:
            last_seen = time.monotonic()
            first_seen = first_seen or last_seen
            if kill_after is not None and last_seen - first_seen >= kill_after:
                process.send_signal(signal.SIGKILL)
        time.sleep(0.0005)
    stderr = process.communicate(timeout=300)[1]
    if kill_after is None:
        assert process.returncode == 0 and first_seen is not None, stderr
    return last_seen - first_seen if first_seen else 0.0


@pytest.fixture(scope="module")
def idx_project(tmp_path_factory):
    """A project holding the real prepare_idx stage, its outputs for split_seed 1 ("old") and
    for the configured split_seed 0 ("new"), and how long it takes to write them."""
    project = stage_project(tmp_path_factory.mktemp("kill"), ["prepare_idx"], {})
    run_stage(project, "data.split_seed=1")  # also copies the raw files from the mirror
    old = snapshot(project)
    writing = run_stage(project)
    new = snapshot(project)
    assert old != new and None not in new.values()
    return project, old, new, writing


@pytest.mark.slow
@needs_mirror
def test_a_stage_killed_while_it_writes_leaves_each_output_old_absent_or_complete(idx_project):
    project, old, new, writing = idx_project
    rng = random.Random(0)
    outcomes = []
    for trial in range(10):
        if trial % 2:  # DVC's way: outputs removed before the stage runs
            for name in IDX_OUTS:
                shutil.rmtree(project / name, ignore_errors=True)
                (project / name).unlink(missing_ok=True)
        else:  # a person's way: re-running over the previous (here: different) outputs
            for name, content in old.items():
                path = project / name
                shutil.rmtree(path, ignore_errors=True)
                if isinstance(content, dict):
                    path.mkdir(parents=True)
                    for file, data in content.items():
                        (path / file).write_bytes(data)
                else:
                    path.write_bytes(content)
        run_stage(project, kill_after=rng.uniform(0, writing))
        after = snapshot(project)
        for name in IDX_OUTS:
            assert after[name] in (None, old[name], new[name]), f"{name} is partial or mixed"
        outcomes.append(tuple(after[name] == new[name] for name in IDX_OUTS))
    # every kill lands while temporaries exist; at least one must beat the stage's finish (on a
    # busy machine writing takes longer than measured, so outcomes need not vary)
    assert any(outcome != (True, True) for outcome in outcomes), "no kill interrupted a write"

    run_stage(project)  # the next run finishes and clears what the kills left behind
    assert snapshot(project) == new
    assert temporaries(project) == []


@pytest.mark.slow
@needs_mirror
def test_after_a_stage_is_killed_under_dvc_repro_the_next_repro_finishes_cleanly(tmp_path):
    repo = tiny_study(tmp_path, whole_mnist=True)  # fetched from the mirror, then written
    env = {**project_env(), "PYTHONPATH": str(repo / "src")}  # as helpers.run
    dvc = subprocess.Popen([Path(sys.executable).parent / "dvc", "repro", "prepare_idx"],
                           cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    data = repo / "data"
    while dvc.poll() is None and not (data.is_dir() and any(
            TEMPORARY.fullmatch(p.name) for p in data.iterdir())):
        time.sleep(0.0005)  # until the stage starts writing data/idx (after the raw files)
    stages = [p for p in psutil.Process(dvc.pid).children(recursive=True)
              if "stages/prepare_idx.py" in " ".join(p.cmdline())]
    assert stages, "the stage finished before it could be killed"
    for process in stages:
        process.send_signal(signal.SIGKILL)
    output = dvc.communicate(timeout=300)[0]
    assert dvc.returncode != 0, output  # the stage failed: DVC records and caches nothing
    assert not (repo / PATHS["idx"]).exists(), "DVC removed the old outputs: absent or complete"
    assert not (repo / "dvc.lock").exists()

    run(repo, "dvc", "repro", "prepare_idx")
    assert "up to date" in run(repo, "dvc", "status", "prepare_idx").stdout
    meta = json.loads((repo / PATHS["idx"] / "meta.json").read_text())
    assert meta["class_names"] == [str(c) for c in range(10)]
    status = run(repo, "git", "status", "--porcelain", "--untracked-files=all").stdout
    assert ".tmp" not in status and temporaries(repo) == []
