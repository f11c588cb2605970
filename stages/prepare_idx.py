"""prepare_idx: fetch the classification data set that `data` selects (MNIST by default, or
any IDX image data set defined by one file in conf/data/) from the data root, the official
download or a local mirror; check every raw file before anything is written; split the official
training set into train/validation (study.data.prepare_idx).

Outputs: data/idx/{x,y}_{train,val,test}.npy + meta.json; reports/data/idx.json. Every
classification stage reads data/idx/, whatever the data set.
"""

import sys

from study.data import mirror_root, prepare_idx
from study.hydra_app import stage_main
from study.io import atomic_dir, write_outputs
from study.settings import Settings


def log(message: str, warning: bool = False) -> None:
    print(f"prepare_idx: {message}", file=sys.stderr if warning else sys.stdout, flush=True)


@stage_main
def main(cfg: Settings) -> None:
    arrays, report = prepare_idx(cfg.data, mirror_root(cfg.data.mirror),
                                 log)
    with atomic_dir(cfg.paths.idx) as out:  # the whole folder or nothing, never a partial set
        write_outputs(out, arrays)
    write_outputs(f"{cfg.paths.reports}/data", {"idx.json": report})


if __name__ == "__main__":
    main()
