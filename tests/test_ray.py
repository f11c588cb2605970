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
- The cluster requires Ray's token authentication (Ray >= 2.52: RAY_AUTH_MODE=token, a fresh
  random RAY_AUTH_TOKEN per cluster, in the environment of both nodes and of the driver, never
  written to ~/.ray). It cannot be kept to loopback instead: `ray start` turns 127.0.0.1 into
  this machine's address whatever --node-ip-address says (services.resolve_ip_for_localhost),
  and then GCS, raylets and agents listen on every interface. Only a head node alone stays on
  loopback (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0), and that setting refuses worker nodes.
  ``check_loopback_only_or_a_driver_without_the_token_is_refused`` lists every listening
  socket of the cluster's processes and prints them.
- Ray's two metrics servers listen on fixed ports (44217, 44227) by default; each cluster gets
  free ones (AUTOSCALER_METRIC_PORT, DASHBOARD_METRIC_PORT), so two test runs do not collide.
- Each node keeps its own private temporary folder (short: Ray's socket paths must fit in
  108 bytes) and its own session: its ``ray start`` begins a new process session that every
  process of the node inherits. At the end the test kills those sessions' processes (`ray
  stop --force` would kill every Ray process of the user, other clusters' too) and fails if
  any survives.
"""

import ipaddress
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
import yaml
from helpers import (
    REPORTS,
    ROOT,
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
    """A copy of the tiny study with data/idx prepared from the whole of MNIST's files (the
    tiny study's first images train a point so fast that one node may run them all before Ray
    hands one to the other): prepare_idx with conf/data/mnist.yaml's own pins, from the mirror."""
    repo = copy_project(reproduced_tiny_study, tmp_path_factory.mktemp("ray"))
    files = yaml.safe_load((ROOT / "conf" / "data" / "mnist.yaml").read_text())["files"]
    shutil.rmtree(repo / "data" / "raw")
    run(repo, "python", "stages/prepare_idx.py",
        *(f"data.files.{role}.sha256={file['sha256']}" for role, file in files.items()))
    return repo


@pytest.fixture(scope="module")
def ray_cluster(study):
    """The address of a head node and one worker node, each started in ``study`` with its
    temporary folder (yielded too, by node), the session ids of their processes and the
    environment a driver needs (the cluster's token); whatever happens, every process of theirs
    is killed after the tests, and the tests error if one survives."""
    root = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    port = free_port()
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env = {**project_env(repo=study), **auth, "AUTOSCALER_METRIC_PORT": str(free_port()),
           "DASHBOARD_METRIC_PORT": str(free_port())}
    nodes = {"head": ["--head", f"--port={port}", "--include-dashboard=false",
                      "--dashboard-host=127.0.0.1", f"--ray-client-server-port={free_port()}"],
             "worker": [f"--address=127.0.0.1:{port}"]}
    sessions = []
    try:
        for node, args in nodes.items():
            start = subprocess.Popen(
                [RAY, "start", *args, "--num-cpus=1", "--object-store-memory=100000000",
                 f"--dashboard-agent-listen-port={free_port()}", "--disable-usage-stats",
                 f"--temp-dir={root / node}"], cwd=study, env=env,
                start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True)
            sessions.append(start.pid)  # its session's id: every process of the node is in it
            output = start.communicate(timeout=120)[0]
            assert start.returncode == 0, f"ray start {' '.join(args)} failed:\n{output}"
        wait_for_nodes(f"127.0.0.1:{port}", len(nodes), env)
        yield f"127.0.0.1:{port}", {node: root / node for node in nodes}, sessions, auth
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


def wait_for_nodes(address: str, count: int, env: dict, timeout: float = 90) -> None:
    """Until ``count`` nodes are active in `ray status`: `ray start` returns before a worker
    has joined, and a driver submitting then would run every point on the head."""
    deadline = time.monotonic() + timeout
    while True:
        status = subprocess.run([RAY, "status", f"--address={address}"], env=env,
                                capture_output=True, text=True, timeout=60).stdout
        active = status.partition("Active:")[2].partition("Pending:")[0]
        if active.count("node_") >= count:
            return
        assert time.monotonic() < deadline, f"fewer than {count} active nodes:\n{status}"
        time.sleep(1)


def listening(sessions: list[int]) -> list[tuple[str, int, str]]:
    """(address, port, process name) of every socket a process of ``sessions`` listens on."""
    found = []
    for pid in processes(sessions):
        try:
            process = psutil.Process(pid)
            found += [(c.laddr.ip, c.laddr.port, process.name()) for c in
                      process.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        except psutil.Error:  # it has just ended
            continue
    return sorted(found)


def is_loopback(address: str) -> bool:
    """127.0.0.0/8 or ::1, written as IPv4 or IPv4-mapped IPv6 (::ffff:127.0.0.1)."""
    ip = ipaddress.ip_address(address)
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback


def test_is_loopback_sees_through_ipv4_mapped_addresses_and_wildcards():
    assert all(map(is_loopback, ["127.0.0.1", "::1", "::ffff:127.0.0.1", "127.0.0.2"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.0.2.2", "::ffff:192.0.2.2"]))


def outsider_refused(address: str, home: Path) -> tuple[bool, str]:
    """Whether a driver without the cluster's token (none in its environment, none in its home
    folder) is refused, and what it printed. It tries to connect 3 times, not Ray's default
    20 (a second apart): every attempt is refused alike."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAY_")},
           "RAY_gcs_server_port_wait_time_s": "3"}
    result = subprocess.run([sys.executable, "-c", f"import ray; ray.init(address={address!r})"],
                            env={**env, "HOME": str(home)}, capture_output=True, text=True,
                            timeout=180, check=False)
    output = result.stdout + result.stderr
    return result.returncode != 0 and "InvalidAuthToken" in output, output[-2000:]


def check_loopback_only_or_a_driver_without_the_token_is_refused(
        address: str, sessions: list[int], home: Path) -> None:
    sockets = listening(sessions)
    print("listening:", *(f"{ip}:{port} {name}" for ip, port, name in sockets), sep="\n  ")
    assert sockets  # the GCS at least: the listing sees the cluster
    assert any(port == int(address.rsplit(":", 1)[1]) for _, port, _ in sockets)
    exposed = [socket for socket in sockets if not is_loopback(socket[0])]
    if exposed:  # reachable from elsewhere: only with authentication on
        refused, output = outsider_refused(address, home)
        assert refused, (f"sockets beyond loopback {exposed}, and a driver without the token "
                         f"was not refused:\n{output}")


def points_run(folder: Path) -> set[str]:
    """The sweep points whose jobs printed their result into the worker logs under ``folder``
    (a node's temporary folder)."""
    return {match for log in folder.glob("session_*/logs/worker-*.out")
            for match in re.findall(r"_sweep (\S+): val acc", log.read_text())}


# One test for both checks: each pytest-xdist worker that ran one of two would start a cluster.
def test_the_readmes_ray_command_on_a_cluster_refusing_outsiders_writes_what_the_points_write(
        study, ray_cluster, tmp_path):
    address, folders, sessions, auth = ray_cluster
    check_loopback_only_or_a_driver_without_the_token_is_refused(address, sessions, tmp_path)
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
    run(study, *command, env=auth)  # the driver holds the cluster's token
    assert differences(one_at_a_time, file_bytes(study, [sweep])) == ""
    assert workspace(study) == before  # no multirun/, .hydra/ or log file
    ran = {node: points_run(folder) for node, folder in folders.items()}
    assert all(ran.values()) and set.union(*ran.values()) == {
        Path(path).stem for path in one_at_a_time}, ran
