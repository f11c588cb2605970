"""module_grad: the gradients of barenet's Linear, ReLU, MLP, max pooling and Conv2d (over
random kernel sizes, paddings, strides and dilations) against centred finite differences, with
a random upstream gradient (study.module_grad).

Outputs: reports/module_grad/gradients.json.
"""


from study.hydra_app import stage_main
from study.io import write_outputs
from study.module_grad import module_gradient_outputs
from study.settings import Settings


@stage_main
def main(cfg: Settings) -> None:
    outputs, summary = module_gradient_outputs(cfg.module_grad.seed, cfg.module_grad.conv_cases,
                                               cfg.module_grad.fd_step)
    write_outputs(f"{cfg.paths.reports}/module_grad", outputs)
    print(f"module_grad: {summary}", flush=True)


if __name__ == "__main__":
    main()
