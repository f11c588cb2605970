"""Shared test helpers (imported as ``from helpers import ...``; tests/ is on sys.path)."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_stage(name: str):
    """Import stages/<name>.py as a module (its main() only runs under __main__), registered
    in sys.modules first, as a real import would be."""
    spec = importlib.util.spec_from_file_location(f"stage_{name}", ROOT / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
