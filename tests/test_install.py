"""The library installs light: barenet's one requirement is NumPy, it works with none of the
study's packages importable, and its modules import nothing else."""

import ast
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

import barenet

STUDY_PACKAGES = ("torch", "torchvision", "dvc", "hydra", "omegaconf", "matplotlib", "sklearn",
                  "scipy", "tqdm", "threadpoolctl", "yaml", "jinja2")

WITHOUT_THE_STUDY = f"""
import sys
for name in {STUDY_PACKAGES!r}:
    sys.modules[name] = None  # importing it now raises ImportError
import numpy as np
import barenet as bn

rng = np.random.default_rng(0)
layer = bn.Linear(4, 3, rng=rng)
x = rng.standard_normal((5, 4))
y = layer.forward(x)
dx = layer.backward(np.ones_like(y))
assert y.shape == (5, 3) and dx.shape == (5, 4) and layer.weight.grad.any()
conv = bn.Conv2d(2, 3, kernel_size=3, padding=1, rng=rng)
images = rng.standard_normal((2, 2, 6, 6))
out = conv.forward(images)
assert out.shape == (2, 3, 6, 6) and conv.backward(out).shape == images.shape
print("ok")
"""


def requirement_name(requirement: str) -> str:
    """'numpy<3,>=1.26' -> 'numpy', 'torch==2.14.1; extra == "study"' -> 'torch'."""
    return re.match(r"[A-Za-z0-9._-]+", requirement).group().lower()


def test_the_only_unconditional_requirement_is_numpy():
    requirements = importlib.metadata.requires("barenet")
    unconditional = [requirement_name(r) for r in requirements if ";" not in r]
    assert unconditional == ["numpy"]
    study = {requirement_name(r) for r in requirements if r.endswith('extra == "study"')}
    assert {"dvc", "hydra-core", "torch", "matplotlib"} <= study


def test_barenet_works_with_none_of_the_study_packages(tmp_path):
    result = subprocess.run([sys.executable, "-c", WITHOUT_THE_STUDY], capture_output=True,
                            text=True, cwd=tmp_path, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def imported_top_level_names(path: Path) -> set[str]:
    """Top-level names of the absolute imports in ``path`` (relative imports stay in barenet)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), path.name)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted(Path(barenet.__file__).parent.glob("*.py")),
                         ids=lambda p: p.name)
def test_library_modules_import_only_numpy_the_standard_library_and_barenet(path):
    outside = {name for name in imported_top_level_names(path)
               if name not in sys.stdlib_module_names and name not in {"numpy", "barenet"}}
    assert outside == set(), f"{path.name} imports {sorted(outside)}"
