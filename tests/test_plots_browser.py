"""`dvc plots show` writes a page that renders offline, checked in a real browser: the page
(from .dvc/plots/offline.html, with Vega, Vega-Lite and Vega-Embed from node_modules/) is
opened in headless Chromium, driven through the DevTools protocol with the standard library
only. Every plot declared in dvc.yaml must have rendered (a Vega plot as an SVG with visible
marks, an image plot as a loaded <img>), with no console error and no request leaving the
machine. A full-page screenshot is saved as <tmp_path>/plots.png.

The same holds for the page people make most for comparing: `dvc plots diff` of two experiments
(the README's two MLP learning rates, run by conftest.readme_study), where every plot must also
show both experiments (a series, a panel or an image each, named on the page).

Needs `make setup` (npm ci, and Debian's chromium package); fails, never skips, without it."""

import base64
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from dvc_render.base import Renderer
from dvc_render.image import ImageRenderer
from helpers import PARAMS, ROOT, needs_mirror, readme_blocks, run

from study.figures import interpolate

VEGA_SCRIPTS = ("vega/build/vega.min.js", "vega-lite/build/vega-lite.min.js",
                "vega-embed/build/vega-embed.min.js")
STEP_TIMEOUT = 60.0  # seconds for one browser step: the CPUs are shared and can be slow
RENDER_TIMEOUT_MS = 30_000  # how long the page may take to draw every plot
LOCAL_SCHEMES = {"file", "data"}

pytestmark = pytest.mark.slow


class HeadlessChromium:
    """Chromium with --remote-debugging-pipe: it reads NUL-terminated JSON DevTools commands
    on fd 3 and writes replies and events, in the same framing, on fd 4."""

    def __init__(self, executable: str, workdir: Path):
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()
        flags = ["--headless", "--no-sandbox",  # CI runs as root, where the sandbox won't start
                 "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--hide-scrollbars",
                 f"--user-data-dir={workdir / 'profile'}", "--remote-debugging-pipe"]
        self.log_path = workdir / "chromium.log"
        with open(self.log_path, "wb") as log:
            # bash (dash refuses fds above 9) only moves the pipe ends onto the fds Chromium
            # expects, then execs it.
            self._process = subprocess.Popen(
                ["bash", "-c", f'exec "$@" 3<&{commands_read} 4>&{replies_write}', "bash",
                 executable, *flags],
                pass_fds=(commands_read, replies_write), stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT)
        os.close(commands_read)
        os.close(replies_write)
        self._unread = b""
        self._last_id = 0
        self.events: list[dict] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        try:
            self.call("Browser.close")
        except (OSError, RuntimeError, TimeoutError):
            pass  # already gone: nothing to close
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._commands)
        os.close(self._replies)

    def call(self, method: str, session: str | None = None, **params) -> dict:
        """Send one command (to the page `session`, else the browser) and return its result;
        events that arrive meanwhile are kept in `events`."""
        self._last_id += 1
        command = {"id": self._last_id, "method": method, "params": params}
        if session is not None:
            command["sessionId"] = session
        os.write(self._commands, json.dumps(command).encode() + b"\0")
        while True:
            message = self._receive()
            if message.get("id") == self._last_id:
                if "error" in message:
                    raise RuntimeError(f"DevTools {method} failed: {message['error']}")
                return message["result"]
            self.events.append(message)

    def wait_for_event(self, method: str) -> dict:
        while not any(event.get("method") == method for event in self.events):
            self.events.append(self._receive())
        return next(event for event in self.events if event.get("method") == method)

    def _receive(self) -> dict:
        deadline = time.monotonic() + STEP_TIMEOUT
        while b"\0" not in self._unread:
            ready, _, _ = select.select([self._replies], [], [], deadline - time.monotonic())
            if not ready:
                raise TimeoutError(f"Chromium sent nothing for {STEP_TIMEOUT} s; see "
                                   f"{self.log_path}")
            chunk = os.read(self._replies, 1 << 16)
            if not chunk:
                raise RuntimeError(f"Chromium closed the DevTools pipe; see {self.log_path}")
            self._unread += chunk
        message, self._unread = self._unread.split(b"\0", 1)
        return json.loads(message)


# Runs in the page: waits until every plot has rendered (or the time is up), then reports
# each one. A mark counts when it has visible geometry, so an SVG holding only empty axes fails.
PLOT_STATE_JS = """
(async (plots, timeoutMs) => {
  const visible = (element) => {
    const box = element.getBBox();
    return box.width > 0 || box.height > 0;
  };
  const state = () => plots.map(({id, image}) => {
    const div = document.getElementById(id);
    if (div === null) return {id, rendered: false, detail: "no element with this id"};
    const text = div.textContent;  // legend labels, panel headers and image captions included
    if (image) {
      const images = [...div.querySelectorAll("img")];
      const loaded = images.filter((img) => img.complete && img.naturalWidth > 0).length;
      return {id, text, rendered: images.length > 0 && loaded === images.length,
              detail: `${loaded} of ${images.length} <img> loaded`};
    }
    const svg = div.querySelector("svg.marks");
    const marks = svg ? [...svg.querySelectorAll(".role-mark > *")].filter(visible).length : 0;
    return {id, text, rendered: marks > 0,
            detail: `${marks} visible marks in ${svg ? 1 : 0} <svg>`};
  });
  const start = performance.now();
  while (!state().every((plot) => plot.rendered) && performance.now() - start < timeoutMs) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const pageDivs = [...document.body.children].filter((el) => el.tagName === "DIV");
  return {plots: state(), pageIds: pageDivs.map((div) => div.id)};
})
"""


def declared_plots() -> list[dict]:
    """Each top-level `plots:` entry of dvc.yaml as the page shows it: the id DVC gives its
    <div> (from the entry's name: the plot's title, or the image's path) and whether it is an
    image."""
    entries = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    names = [interpolate(entry, PARAMS) if isinstance(entry, str) else next(iter(entry))
             for entry in entries]  # an image is named by its path, ${paths.*} filled in
    return [{"id": Renderer.remove_special_chars(name), "image": ImageRenderer.matches(name)}
            for name in names]


def console_errors(events: list[dict]) -> list[str]:
    """Uncaught exceptions, console.error calls and browser-logged errors (a file that failed
    to load, say), as text."""
    errors = []
    for event in events:
        params = event.get("params", {})
        if event.get("method") == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            errors.append(details.get("exception", {}).get("description", details["text"]))
        elif event.get("method") == "Runtime.consoleAPICalled" and params["type"] == "error":
            errors.append(" ".join(str(arg.get("value", arg.get("description")))
                                   for arg in params["args"]))
        elif event.get("method") == "Log.entryAdded" and params["entry"]["level"] == "error":
            errors.append(f"{params['entry']['text']} ({params['entry'].get('url', '')})")
    return errors


@pytest.fixture
def chromium() -> str:
    executable = shutil.which("chromium")
    missing = [script for script in VEGA_SCRIPTS if not (ROOT / "node_modules" / script).is_file()]
    needed = ((["chromium on PATH (Debian's package)"] if executable is None else [])
              + ([f"{', '.join(missing)} in node_modules/ (npm ci)"] if missing else []))
    if needed:
        pytest.fail(f"the offline plots test needs {' and '.join(needed)}: run `make setup` in "
                    f"the project root")
    return executable


def rendered_plots(chromium: str, page: Path, workdir: Path) -> list[dict]:
    """Open ``page`` (written by `dvc plots show` or `diff` into ``workdir``/dvc_plots) in
    headless Chromium, screenshot it to ``workdir``/plots.png and check that it holds exactly
    dvc.yaml's plots, each drawn, with no console error and no request leaving the machine;
    each plot's state (its text included)."""
    # The page finds Vega at ../node_modules/, as dvc_plots/index.html does in the project.
    (workdir / "node_modules").symlink_to(ROOT / "node_modules", target_is_directory=True)
    head = page.read_text().split("<body>")[0]  # the body's Vega specs name schema URLs
    assert "http://" not in head and "https://" not in head, (
        f"the page's <head> names an online URL (a CDN script?); is plots.html_template set "
        f"in .dvc/config?\n{head}")

    plots = declared_plots()
    with HeadlessChromium(chromium, workdir) as browser:
        target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        session = browser.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.call(f"{domain}.enable", session)
        browser.call("Emulation.setDeviceMetricsOverride", session, width=1280, height=900,
                     deviceScaleFactor=1, mobile=False)
        browser.call("Page.navigate", session, url=page.as_uri())
        browser.wait_for_event("Page.loadEventFired")
        report = browser.call("Runtime.evaluate", session, awaitPromise=True,
                              returnByValue=True, expression=f"{PLOT_STATE_JS}"
                              f"({json.dumps(plots)}, {RENDER_TIMEOUT_MS})")
        size = browser.call("Page.getLayoutMetrics", session)["cssContentSize"]
        screenshot = browser.call("Page.captureScreenshot", session, format="png",
                                  captureBeyondViewport=True,
                                  clip={"x": 0, "y": 0, "width": size["width"],
                                        "height": size["height"], "scale": 1})
        (workdir / "plots.png").write_bytes(base64.b64decode(screenshot["data"]))

    assert "exceptionDetails" not in report, f"the page check itself failed: {report}"
    state = report["result"]["value"]
    declared_ids = sorted(plot["id"] for plot in plots)
    assert sorted(state["pageIds"]) == declared_ids, (
        f"the page's plots {sorted(state['pageIds'])} differ from the top-level plots declared "
        f"in dvc.yaml {declared_ids}")
    not_rendered = [f"{plot['id']}: {plot['detail']}" for plot in state["plots"]
                    if not plot["rendered"]]
    assert not not_rendered, "plots that did not render:\n" + "\n".join(not_rendered)
    errors = console_errors(browser.events)
    assert not errors, "console errors:\n" + "\n".join(errors)
    online = [event["params"]["request"]["url"] for event in browser.events
              if event.get("method") == "Network.requestWillBeSent"
              and urlparse(event["params"]["request"]["url"]).scheme not in LOCAL_SCHEMES]
    assert not online, f"the page requested non-local URLs: {online}"
    return state["plots"]


def dvc_plots(repo: Path, *args: str, out: Path) -> Path:
    """`dvc plots <args> -o <out>` run in ``repo``; the page it wrote."""
    run(repo, "dvc", "plots", *args, "-o", str(out))
    return out / "index.html"


def test_plots_page_renders_every_declared_plot_offline(chromium, tmp_path):
    rendered_plots(chromium, dvc_plots(ROOT, "show", out=tmp_path / "dvc_plots"), tmp_path)


@needs_mirror
def test_plots_diff_of_two_experiments_shows_both_in_every_plot(readme_study, chromium,
                                                               tmp_path):
    repo, _ = readme_study
    (command,) = [args for block in readme_blocks() for args in block.commands()
                  if args[:3] == ["dvc", "plots", "diff"]]
    experiments = command[3:]
    assert len(experiments) == 2
    page = dvc_plots(repo, "diff", *experiments, out=tmp_path / "dvc_plots")
    missing = [f"{plot['id']} lacks {name}" for plot in rendered_plots(chromium, page, tmp_path)
               for name in experiments if name not in plot["text"]]
    assert missing == []
