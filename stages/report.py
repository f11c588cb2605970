"""report: the study's results as one document, reports/report.md, and the headline block of
README.md (between <!-- headline:start --> and <!-- headline:end -->; the rest of the README is
left alone), both written from the committed reports/ and the settings only: no number is typed
by hand. The original attempt's numbers, set beside ours, are settings (report.original).

The plots DVC draws from CSV/JSON (curves, sweep heatmaps, per-class bars, confusion matrices,
training-set-size curves, C0 error curves) are rendered as PNGs under reports/figures/, since
Markdown cannot show DVC's Vega plots; the PNGs other stages wrote are linked as they are.
Fails before writing report.md or README.md if a file the report links is missing.

Outputs: reports/report.md, reports/figures/*.png, and the headline block of README.md.
"""

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from study.hydra_app import stage_main
from study.io import save_figure, write_text
from study.plots import close
from study.report import (
    FIGURE_NAMES,
    FIGURES,
    REPORT,
    figures,
    load_results,
    missing_links,
    readme_block,
    replace_block,
    report_markdown,
)

README = Path("README.md")


def write_report(root: Path, params: dict) -> str:
    """Render the figures, report.md and the README's headline block under ``root`` from the
    reports there and ``params`` (the composed config); returns report.md's text."""
    results = load_results(root, params)
    markdown = report_markdown(results)
    report, readme = root / REPORT, root / README
    # everything that can fail comes before the first write: no half-written set of outputs
    readme_text = replace_block(readme.read_text(encoding="utf-8"), readme_block(results))
    drawn_below = {f"{FIGURES}/{name}" for name in FIGURE_NAMES}
    missing = [link for link in missing_links(markdown, report.parent) if link not in drawn_below]
    if missing:
        raise FileNotFoundError(f"report.md would link files that do not exist under "
                                f"{report.parent}/: {missing}; run the stages that write them "
                                "(dvc repro)")
    for name, fig in figures(results):
        save_figure(report.parent / FIGURES / name, fig)
        close(fig)
    write_text(report, markdown)
    write_text(readme, readme_text)  # other edits to the README, read just above, are kept
    return markdown


@stage_main
def main(cfg: DictConfig) -> None:
    markdown = write_report(Path("."), OmegaConf.to_container(cfg, resolve=True))
    print(f"report: {REPORT} ({len(markdown.splitlines())} lines), {len(FIGURE_NAMES)} figures "
          f"in {REPORT.parent / FIGURES}/ and the headline block of {README} written",
          flush=True)


if __name__ == "__main__":
    main()
