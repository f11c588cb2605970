"""blur: a Gaussian blur of CIFAR-10 images by barenet's Conv2d, checked against scipy
(study.blur says how the kernel and the images are chosen).

Outputs: reports/blur/metrics.json (max_abs_diff_vs_reference, ...), reports/blur/info.json
(the reference, the images, the kernel), reports/blur/blurred.png (originals above their
blurred versions), reports/blur/filters.png (the conv's 3 filters).
"""

import numpy as np

from study.blur import blur_outputs
from study.hydra_app import stage_main
from study.io import write_outputs
from study.settings import Settings


@stage_main
def main(cfg: Settings) -> None:
    images, labels = (np.load(f"{cfg.paths.cifar10}/{name}.npy") for name in ("images", "labels"))
    outputs, summary = blur_outputs(cfg.blur, images, labels)
    write_outputs(f"{cfg.paths.reports}/blur", outputs)
    print(f"blur: {summary}", flush=True)


if __name__ == "__main__":
    main()
