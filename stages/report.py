"""report: the study's results as one document, reports/report.md, its figures
(reports/figures/<plot id>.png: the plots dvc.yaml declares, drawn as static images, since
Markdown cannot show DVC's Vega plots) and the headline block of README.md (between
<!-- headline:start --> and <!-- headline:end -->; the rest of the README is left alone), all
written from the committed reports/ and the settings only: no number is typed by hand. The
original attempt's numbers, set beside ours, are settings (report.original). The prose lives in
src/study/templates/. Fails before writing anything if a file the report links is missing.

Outputs: reports/report.md, reports/figures/, and the headline block of README.md.
"""

from pathlib import Path

from study.hydra_app import stage_main
from study.layout import figures, report
from study.report import README, write_report
from study.settings import Settings


@stage_main
def main(cfg: Settings) -> None:
    written = write_report(Path("."), cfg)
    print(f"report: {report(cfg.paths.reports)} ({len(written.markdown.splitlines())} lines), "
          f"{len(written.figures)} figures in {figures(cfg.paths.reports)}/ and the headline "
          f"block of {README} written", flush=True)


if __name__ == "__main__":
    main()
