"""The sweep's points on a real Ray cluster, against the same points run by the sweep stage.

The test starts a two-node Ray cluster on this machine (a head and one worker node, one CPU
each, so two points run at once, one per node), runs the README's Ray command against it in the
tiny study, and checks each point's bytes equal what the same points write one at a time
(Hydra's basic launcher), that each node ran a point, and that nothing else lands in the
workspace.

- hydra-ray-launcher 1.2.2 passes ``object_store_memory`` to ``ray.init`` unless told a value,
  and Ray refuses it when connecting to an existing cluster (facebookresearch/hydra#2893, fixed
  after 1.2): ``+hydra.launcher.ray.init.object_store_memory=null`` tells it None, Ray's default
  (``~`` cannot delete it: the launcher adds it after composing).
- A Ray worker runs in the directory its node was started in, not the driver's, with that
  node's environment; the jobs write relative paths (data/idx, reports/...) and import the
  project's src/, so each node is started in the project (on a real cluster: on a file system
  the nodes share). A ``runtime_env`` working_dir would not do: Ray runs the jobs in an
  uploaded copy, and their outputs stay there.
- Each node keeps its own private temporary folder (short: Ray's socket paths must fit in
  108 bytes) and its own session: its ``ray start`` begins a new process session that every
  process of the node inherits. At the end the test kills those sessions' processes (`ray
  stop --force` would kill every Ray process of the user, other clusters' too) and fails if
  any survives.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from helpers import (
    REPORTS,
    copy_project,
    differences,
    file_bytes,
    needs_mirror,
    project_env,
    readme_block,
    run,
)
from test_fanout import workspace

from study import layout

pytestmark = [pytest.mark.slow, needs_mirror]
RAY = str(Path(sys.executable).with_name("ray"))  # the venv's: its nodes run the venv's Python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes(sessions: list[int]) -> dict[int, str]:
    """Every live (not zombie) process in one of ``sessions``: its command line, by pid."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            # the fields after the command's name: state, ppid, pgrp, session, ...
            state, _, _, session = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:4]
            if state != "Z" and int(session) in sessions:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, ValueError):  # not a process, or it has just ended
            continue
    return {pid: cmd.decode(errors="replace")[:200] for pid, cmd in found.items()}


@pytest.fixture(scope="module")
def study(reproduced_tiny_study, tmp_path_factory):
    return copy_project(reproduced_tiny_study, tmp_path_factory.mktemp("ray"))


@pytest.fixture
def ray_cluster(study):
    """The address of a head node and one worker node, each started in ``study`` with its
    temporary folder (yielded too, by node); whatever happens, every process of theirs is
    killed after the test, and the test errors if one survives."""
    root = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    port = free_port()
    nodes = {"head": ["--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                      "--include-dashboard=false", f"--ray-client-server-port={free_port()}"],
             "worker": [f"--address=127.0.0.1:{port}"]}
    sessions = []
    try:
        for node, args in nodes.items():
            start = subprocess.Popen(
                [RAY, "start", *args, "--num-cpus=1", "--object-store-memory=100000000",
                 f"--dashboard-agent-listen-port={free_port()}", "--disable-usage-stats",
                 f"--temp-dir={root / node}"], cwd=study, env=project_env(repo=study),
                start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True)
            sessions.append(start.pid)  # its session's id: every process of the node is in it
            output = start.communicate(timeout=120)[0]
            assert start.returncode == 0, f"ray start {' '.join(args)} failed:\n{output}"
        yield f"127.0.0.1:{port}", {node: root / node for node in nodes}
    finally:
        deadline = time.monotonic() + 30
        while (left := processes(sessions)) and time.monotonic() < deadline:
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.5)
        shutil.rmtree(root, ignore_errors=True)
        assert left == {}, "Ray processes left running:\n" + "\n".join(
            f"{pid} {cmd}" for pid, cmd in left.items())


def points_run(folder: Path) -> set[str]:
    """The sweep points whose jobs printed their result into the worker logs under ``folder``
    (a node's temporary folder)."""
    return {match for log in folder.glob("session_*/logs/worker-*.out")
            for match in re.findall(r"_sweep (\S+): val acc", log.read_text())}


def test_the_readmes_ray_command_writes_what_the_points_write_one_at_a_time(study, ray_cluster):
    address, folders = ray_cluster
    (command,) = readme_block("run by tests/test_ray.py").commands()
    command = [arg.replace("<head-node>:6379", address) for arg in command]
    assert command[:2] == ["python", "stages/sweep_point.py"] and f"{address}" in " ".join(command)
    model = next(arg.removeprefix("model=") for arg in command if arg.startswith("model="))
    sweep = layout.sweep_points(REPORTS, model)
    shutil.rmtree(study / sweep)
    serial = [arg for arg in command if not arg.startswith(("hydra/launcher=", "hydra.launcher.",
                                                              "+hydra.launcher."))]
    run(study, *serial)  # Hydra's basic launcher: one point after another, in this process
    one_at_a_time = file_bytes(study, [sweep])
    assert len(one_at_a_time) >= 2
    before = workspace(study)
    shutil.rmtree(study / sweep)
    run(study, *command)
    assert differences(one_at_a_time, file_bytes(study, [sweep])) == ""
    assert workspace(study) == before  # no multirun/, .hydra/ or log file
    ran = {node: points_run(folder) for node, folder in folders.items()}
    assert all(ran.values()) and set.union(*ran.values()) == {
        Path(path).stem for path in one_at_a_time}, ran
