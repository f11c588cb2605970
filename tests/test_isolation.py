"""House rules of the library, enforced: barenet never imports torch (or plotting), never
touches files, never prints."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import barenet

PACKAGE_DIR = Path(barenet.__file__).parent
CORE_MODULES = {"checks", "conv", "data", "fast_paths", "gradcheck", "losses", "nn", "optim",
                "saving", "scalar", "train"}
FORBIDDEN_MODULES = ("torch", "torchvision", "matplotlib")

IMPORT_EVERYTHING = """
import importlib, json, pkgutil, sys
before = sorted(m for m in sys.modules if m.split(".")[0] in {forbidden})
import barenet
names = sorted(m.name for m in pkgutil.iter_modules(barenet.__path__))
for name in names:
    importlib.import_module("barenet." + name)
after = sorted(m for m in sys.modules if m.split(".")[0] in {forbidden})
print(json.dumps({{"modules": names, "before": before, "after": after}}))
"""


def test_importing_barenet_and_every_submodule_does_not_import_torch(tmp_path):
    code = IMPORT_EVERYTHING.format(forbidden=set(FORBIDDEN_MODULES))
    # a fresh interpreter: this test process has long since imported torch itself
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=tmp_path, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["before"] == [], "the interpreter imported these before barenet"
    assert CORE_MODULES <= set(report["modules"]), report["modules"]
    assert report["after"] == [], f"importing barenet pulled in {report['after']}"


# --- static scan: no file I/O, no printing ---------------------------------------------------

FORBIDDEN_IMPORTS = {"os", "io", "pathlib", "pickle", "shutil", "tempfile"}
FORBIDDEN_CALLS = {"open", "print"}
FORBIDDEN_NUMPY = {"load", "save", "savez", "savez_compressed", "loadtxt", "savetxt",
                   "fromfile", "genfromtxt", "memmap"}
FORBIDDEN_METHODS = {"tofile"}
# an in-memory buffer, no file: barenet.saving builds a model file's bytes in one
ALLOWED_FROM = {("io", "BytesIO")}


def io_violations(source: str, filename: str = "<source>") -> list[str]:
    """Every place in ``source`` that could read or write a file, or print."""
    tree = ast.parse(source, filename)
    numpy_names = {"numpy"}
    found = []
    for node in ast.walk(tree):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in FORBIDDEN_IMPORTS:
                    found.append(f"{where} import {alias.name}")
                if top == "numpy":
                    numpy_names.add(alias.asname or alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module:
            top = node.module.split(".")[0]
            if top in FORBIDDEN_IMPORTS and any((node.module, a.name) not in ALLOWED_FROM
                                                for a in node.names):
                found.append(f"{where} from {node.module} import ...")
            if top == "numpy":
                found += [f"{where} from numpy import {a.name}" for a in node.names
                          if a.name in FORBIDDEN_NUMPY]
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in FORBIDDEN_CALLS:
                found.append(f"{where} {func.id}(")
            elif isinstance(func, ast.Attribute) and func.attr in FORBIDDEN_METHODS:
                found.append(f"{where} .{func.attr}(")
        if (isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_NUMPY
                and isinstance(node.value, ast.Name) and node.value.id in numpy_names):
            found.append(f"{where} {node.value.id}.{node.attr}")
    return found


def library_files() -> list[Path]:
    return sorted(PACKAGE_DIR.glob("*.py"))


def test_every_library_module_is_scanned():
    assert CORE_MODULES | {"__init__"} <= {p.stem for p in library_files()}


@pytest.mark.parametrize("path", library_files(), ids=lambda p: p.name)
def test_library_does_no_file_io_and_no_printing(path):
    assert io_violations(path.read_text(), path.name) == []


@pytest.mark.parametrize("snippet", [
    "open('x.txt')",
    "with open('x') as f:\n    pass",
    "print('hello')",
    "import os",
    "import os.path",
    "from os import path",
    "import io",
    "from io import BytesIO, open",
    "from io import FileIO",
    "from pathlib import Path",
    "import pickle",
    "import shutil",
    "import numpy as np\nnp.load('w.npy')",
    "import numpy as np\nnp.save('w.npy', 1)",
    "import numpy as np\nnp.savez('w.npz', a=1)",
    "import numpy as np\nnp.loadtxt('w.txt')",
    "import numpy as np\nnp.savetxt('w.txt', 1)",
    "import numpy as np\nnp.fromfile('w.bin')",
    "import numpy\nnumpy.save('w.npy', 1)",
    "import numpy as xp\nxp.load('w.npy')",
    "from numpy import save",
    "w.tofile('w.bin')",
])
def test_scanner_catches_io(snippet):
    assert io_violations(snippet) != []


def test_scanner_allows_ordinary_numpy():
    ok = ("import numpy as np\nfrom io import BytesIO\nx = np.zeros(3)\ny = np.asarray(x).sum()"
          "\nopened = 1\n")
    assert io_violations(ok) == []
