"""Output paths are named once: study.layout names every file under the reports folder that code
reads, each such path is an output dvc.yaml declares, and no other module of the code spells a
reports/... path (the README and dvc.yaml's ${paths.reports} interpolations aside)."""

import ast
import re
from pathlib import Path

from helpers import PATHS, REPORTS, ROOT

from study import layout
from study.bars import contract_paths

CODE = ("src", "stages", "tests", "benchmarks")
# a string that is a path into the reports folder (prose, with spaces, may name one)
LITERAL = re.compile(rf"[\w.:/-]*\b{re.escape(REPORTS)}/[\w./-]*")


def docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) \
                and node.body and isinstance(node.body[0], ast.Expr) \
                and isinstance(node.body[0].value, ast.Constant):
            found.add(id(node.body[0].value))
    return found


def literal_paths(path: Path) -> list[str]:
    """``line: string`` of each string constant in ``path`` (docstrings aside) that is a path
    into the reports folder."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = docstrings(tree)
    return [f"{node.lineno}: {node.value!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in skip and LITERAL.fullmatch(node.value)]


def test_no_code_but_study_layout_spells_a_path_into_the_reports_folder():
    found = {str(path.relative_to(ROOT)): hits for folder in CODE
             for path in sorted((ROOT / folder).rglob("*.py"))
             if path != ROOT / "src/study/layout.py" and (hits := literal_paths(path))}
    assert not found, f"name these paths through study.layout (one place): {found}"


def test_the_check_sees_a_literal_path_but_not_prose(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(f'"""Writes {REPORTS}/x/metrics.json."""\n'
                      f'PATH = "{REPORTS}/x/metrics.json"\n'
                      f'REV = "HEAD:{REPORTS}/c0/metrics.json"\n'
                      f'MESSAGE = "{REPORTS}/report.md is stale: re-run it"\n')
    assert literal_paths(module) == [f"2: '{REPORTS}/x/metrics.json'",
                                     f"3: 'HEAD:{REPORTS}/c0/metrics.json'"]


def test_every_path_study_layout_names_for_a_reader_is_an_output_of_dvc_yaml():
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        outs = {out.def_path for stage in repo.index.stages for out in stage.outs}
    named = {*contract_paths(REPORTS).values(), layout.report(REPORTS), layout.figures(REPORTS),
             *(layout.sweep_points(REPORTS, m) for m in layout.MODELS),
             *(layout.data_set(REPORTS, d) for d in layout.DATA_SETS),
             *(layout.ablation(REPORTS, m, s) for m in layout.MODELS for s in (".json", ".csv")),
             *(layout.sigma(REPORTS, s) for s in (".json", ".csv")),
             *(layout.model_file(PATHS["models"], c) for c in layout.CLASSIFIERS)}
    assert outs and named - outs == set()
