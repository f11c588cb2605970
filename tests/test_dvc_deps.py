"""dvc.yaml and dvc.lock cannot go stale: every stage lists, among its deps, every project
module its script imports, directly or through other modules (barenet's package __init__
included), so a changed helper always re-runs the stages that run it; and nothing else of the
project's code, so editing the report code never re-runs training. dvc.lock records only the
stages dvc.yaml has."""

import ast
import functools
from pathlib import Path

import pytest
import yaml
from helpers import dvc_stages

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGES = ("study", "barenet")


def module_file(name: str) -> Path | None:
    """src/<a>/<b>.py or src/<a>/<b>/__init__.py for a dotted project module, else None."""
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@functools.cache  # every stage's closure parses the same modules
def imported_modules(path: Path, package: str | None) -> frozenset[str]:
    """Dotted names of the project modules ``path`` imports, with every parent package (an
    import of a.b runs a/__init__.py first)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the importing module's package
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}  # a submodule import
    project = set()
    for name in names:
        parts = name.split(".")
        if parts[0] in PACKAGES:
            project |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return frozenset(name for name in project if module_file(name))


def import_closure(script: Path) -> set[Path]:
    """Every project source file that running ``script`` imports, transitively."""
    seen: set[Path] = set()
    todo = [(script, None)]
    while todo:
        path, package = todo.pop()
        for name in imported_modules(path, package):
            file = module_file(name)
            if file not in seen:
                seen.add(file)
                todo.append((file, name if file.name == "__init__.py" else
                             name.rpartition(".")[0]))
    return seen


def covered(file: Path, deps: list[str]) -> bool:
    """Whether a dep names ``file`` or a folder holding it."""
    rel = file.relative_to(ROOT)
    return any(rel == Path(dep) or Path(dep) in rel.parents for dep in deps)


STAGES = dvc_stages()


def script_of(cmd: str) -> Path:
    words = cmd.split()
    assert words[0] == "python" and words[1].startswith("stages/"), cmd
    return ROOT / words[1]


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_stage_depends_on_all_the_code_it_runs(name):
    stage = STAGES[name]
    script = script_of(stage["cmd"])
    needed = {script} | import_closure(script)
    missing = sorted(str(f.relative_to(ROOT)) for f in needed if not covered(f, stage["deps"]))
    assert not missing, f"{name} runs these files, but dvc.yaml does not list them in its deps: " \
                        f"{missing}"


@pytest.mark.parametrize("name", sorted(STAGES))
def test_no_stage_depends_on_code_it_does_not_run(name):
    stage = STAGES[name]
    script = script_of(stage["cmd"])
    needed = {script} | import_closure(script)
    code = [dep for dep in stage["deps"] if dep.startswith(("src/", "stages/"))
            and not dep.endswith("/templates")]  # the report's Jinja templates hold no imports
    extra = [dep for dep in code
             if not any(covered(f, [dep]) for f in needed)]
    assert not extra, f"{name} lists code it never imports (a change would re-run it for " \
                      f"nothing): {extra}"


def test_the_closure_follows_imports_through_modules_and_packages():
    closure = {str(f.relative_to(ROOT)) for f in import_closure(ROOT / "stages" / "final.py")}
    assert {"src/study/classify.py", "src/study/data.py", "src/barenet/__init__.py",
            "src/barenet/conv.py", "src/study/validate.py"} <= closure
    assert "src/study/report.py" not in closure


def test_stale_deps_are_caught(tmp_path):
    """The check fails on a dvc.yaml that omits an indirectly imported module."""
    deps = [d for d in STAGES["final@linear"]["deps"] if d != "src/study/data.py"]
    script = ROOT / "stages" / "final.py"
    assert not all(covered(f, deps) for f in import_closure(script))


def test_dvc_yaml_parses_as_plain_yaml():
    assert "stages" in yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))


def test_the_lock_file_records_only_stages_that_exist():
    """DVC rewrites a stage's entry in dvc.lock when the stage runs and never removes the entry
    of a stage dropped from dvc.yaml; stale entries misled readers and, parsed several times per
    stage, made every stage of `dvc repro` a second slower (86 of them, 6,000 lines)."""
    locked = yaml.safe_load((ROOT / "dvc.lock").read_text(encoding="utf-8"))["stages"]
    stale = sorted(set(locked) - set(STAGES))
    assert not stale, f"dvc.lock records stages dvc.yaml no longer has (delete them): {stale}"
