"""params.yaml is generated from conf/ by the very function `dvc exp run` uses, so the file
`dvc repro` reads is always what DVC itself would compose.

    study-params --write   # regenerate params.yaml (also: make params)
    study-params --check   # exit 1 if params.yaml is stale
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from study.io import write_text


def compose(project_root: Path, overrides: list[str] | None = None) -> str:
    """The YAML text DVC writes to params.yaml for ``conf/config.yaml`` and ``overrides``."""
    from dvc.utils.hydra import compose_and_dump

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "params.yaml"
        compose_and_dump(out, str((project_root / "conf").resolve()), None, "config",
                         str(project_root.resolve()), overrides or [])
        return out.read_text(encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate params.yaml")
    mode.add_argument("--check", action="store_true", help="fail if params.yaml is stale")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="project root")
    args = parser.parse_args(argv)
    composed = compose(args.root)
    target = args.root / "params.yaml"
    if args.write:
        write_text(target, composed)
        return 0
    if not target.exists() or target.read_text(encoding="utf-8") != composed:
        print(f"{target} is stale: run `make params` to regenerate it from conf/",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
