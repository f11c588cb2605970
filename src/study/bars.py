"""The promises the study makes, checked against the committed reports (run by .ci/run after
`dvc repro`): every metrics file of the contract exists with its keys, and the accuracy bars
hold. Exit status 1 lists every broken promise.

    python -m study.bars
"""

from __future__ import annotations

import sys
from pathlib import Path

from study.io import read_json

# file -> dotted keys that users and tools rely on
CONTRACT = {
    "reports/linear/metrics.json": ["test.accuracy", "test.loss", "val.accuracy",
                                    "train.accuracy", "best.lr", "best.lambda", "best_class",
                                    "worst_class"],
    "reports/sklearn/metrics.json": ["train.accuracy", "val.accuracy", "test.accuracy"],
    "reports/linear/fraction.json": ["0.1", "0.2", "0.5", "1.0"],
}
LINEAR_MIN_TEST_ACCURACY = 0.925
LINEAR_MAX_GAP_TO_SKLEARN = 0.003


def lookup(obj, dotted: str):
    for part in dotted.split("."):
        obj = obj[part]
    return obj


def broken_promises(root: Path) -> list[str]:
    problems, loaded = [], {}
    for name, keys in CONTRACT.items():
        path = root / name
        if not path.is_file():
            problems.append(f"{name} is missing")
            continue
        loaded[name] = data = read_json(path)
        for key in keys:
            try:
                lookup(data, key)
            except (KeyError, TypeError):
                problems.append(f"{name} lacks {key}")
    if not problems:
        ours = loaded["reports/linear/metrics.json"]["test"]["accuracy"]
        theirs = loaded["reports/sklearn/metrics.json"]["test"]["accuracy"]
        if ours < LINEAR_MIN_TEST_ACCURACY:
            problems.append(f"linear test accuracy {ours:.4f} < {LINEAR_MIN_TEST_ACCURACY}")
        if ours < theirs - LINEAR_MAX_GAP_TO_SKLEARN:
            problems.append(f"linear test accuracy {ours:.4f} is more than "
                            f"{LINEAR_MAX_GAP_TO_SKLEARN} below scikit-learn's {theirs:.4f}")
    return problems


def main() -> int:
    problems = broken_promises(Path.cwd())
    for p in problems:
        print(f"FAIL: {p}", file=sys.stderr)
    if not problems:
        print(f"study.bars: all {sum(map(len, CONTRACT.values()))} contract keys present, "
              "accuracy bars hold")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
