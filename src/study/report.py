"""The study's results as one Markdown document (reports/report.md), its figures
(reports/figures/) and the README's headline block, written from the committed reports/ and the
composed settings only: every number is formatted from a loaded file, none is typed by hand.

Three rooms: ``study.results`` loads the reports into plain data, the prose lives in Jinja
templates (study/templates/*.md.j2) that format it through the filters below, and
``study.figures`` draws the plots dvc.yaml declares. ``write_report`` runs all three.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2

from study import layout
from study.figures import draw, plot_definitions
from study.io import atomic_dir, write_outputs, write_text
from study.results import C0_RUNS, CNN, MODELS, ReportInputs, Results, load_results
from study.stats import UPPER_95, t_quantile, wilson_interval

README = "README.md"
HEADLINE_START, HEADLINE_END = "<!-- headline:start -->", "<!-- headline:end -->"


# ------------------------------------------------------------------------------ number formats

def pct(fraction: float | None) -> str:
    """An accuracy (a fraction) in percent with two decimals, as every accuracy in the report."""
    return "diverged" if fraction is None else f"{100 * fraction:.2f}%"


def quoted_pct(percent: float) -> str:
    """A percentage quoted from elsewhere, with the digits it was given (92 -> "92%")."""
    return f"{percent:g}%"


def setting(value) -> str:
    """A configured value as it reads in conf/ (0.0001 -> "0.0001", 1e-05 -> "1e-05", True ->
    "true", None -> "null")."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return f"{value:g}" if isinstance(value, float) else str(value)


def settings(section: dict, skip: str | None = None) -> str:
    """Settings as "key value, key value", leaving out the key ``skip``."""
    return ", ".join(f"{key} {setting(value)}" for key, value in section.items() if key != skip)


def bracketed(values) -> str:
    """Nested lists of numbers as they read in conf/: [[0.0625, 0.125], [0.125, 0.25]]."""
    if isinstance(values, list):
        return "[" + ", ".join(bracketed(v) for v in values) + "]"
    return setting(float(values))


def points(fraction: float | None) -> str:
    """A change of accuracy (a fraction) in percentage points, signed, two decimals."""
    return "n/a" if fraction is None else f"{100 * fraction:+.2f}"


def points_unsigned(fraction: float) -> str:
    """A difference of accuracies (a fraction) in percentage points, two decimals, no sign:
    for a gap the sentence already says the direction of."""
    return f"{100 * abs(fraction):.2f}"


SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def sci(value: float, digits: int = 3) -> str:
    """A quantity spanning many orders of magnitude, to ``digits`` significant digits: plain
    between 0.001 and 100,000 (whole numbers from 1,000 up with thousands separators), else as
    "2.03 × 10⁷", never as 2.03e+07."""
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    if -3 <= exponent < 3:
        return f"{value:.{digits}g}"
    if 3 <= exponent < 5:
        return f"{round(value):,}"
    mantissa, power = f"{value:.{digits - 1}e}".split("e")
    return f"{mantissa} × 10{str(int(power)).translate(SUPERSCRIPT)}"


def bound(value: float, digits: int = 2) -> str:
    """A largest error, quoted after "within" or before "at most": as ``sci`` writes it, but
    rounded up, never down, so the bound the text states still holds (2.026e-10 -> 2.1 × 10⁻¹⁰)."""
    if value == 0:
        return "0"
    step = 10.0 ** (math.floor(math.log10(abs(value))) - digits + 1)
    # less 1e-9: a value already at ``digits`` digits (5.75e-11 / 1e-13 = 575.0000001) stays
    return sci(math.ceil(value / step - 1e-9) * step, digits)


def change_interval(change: dict) -> str:
    """A paired change (study.ablation.paired) in points with its 95% interval."""
    if change["low"] is None:
        return points(change["mean"])
    return f"{points(change['mean'])} [{points(change['low'])}, {points(change['high'])}]"


def verdict(change: dict) -> str:
    """Whether a paired change's 95% interval excludes zero."""
    if change["low"] is None:
        return "too few pairs to tell"
    if change["low"] == change["high"] == 0:
        return "identical on every seed"
    return "beyond the noise" if change["low"] > 0 or change["high"] < 0 else "within the noise"


def prediction_interval(row: dict, n: int) -> tuple[float, float]:
    """The 95% interval a further seed's value would fall in, from ``n`` seeds' mean and sample
    standard deviation (t distribution)."""
    half = t_quantile(n - 1, UPPER_95) * row["sd"] * (1 + 1 / n) ** 0.5
    return row["mean"] - half, row["mean"] + half


def wilson(accuracy: float, n: int) -> tuple[float, float]:
    """The Wilson 95% interval of a test accuracy on ``n`` test images (a mean over seeds is
    taken as one run's accuracy)."""
    return wilson_interval(accuracy * n, n)


def with_interval(accuracy: float, n: int) -> str:
    """A test accuracy in percent with its Wilson 95% interval: "92.51% [91.99, 93.00]"."""
    low, high = wilson(accuracy, n)
    return f"{pct(accuracy)} [{100 * low:.2f}, {100 * high:.2f}]"


def p_value(p: float) -> str:
    """A p-value as a reader compares it with 0.05: "p = 0.035" (two significant digits), or
    "p < 0.001"."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def bold_if(text: str, condition: bool) -> str:
    return f"**{text}**" if condition else text


TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("study", "templates"),
    undefined=jinja2.StrictUndefined,  # a misspelt name fails the render, never shows as ""
    keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False)
# number formats by filter name: sig3 for errors and other quantities spanning many orders of
# magnitude, sig4 for the replication's table, sig6 for large quoted numbers, fixed4 for losses
# and statistics, fixed1 for image counts with a fraction, count with thousands separators
NUMBER_FORMATS = {"sig3": ".3g", "sig4": ".4g", "sig6": ".6g", "fixed1": ".1f", "fixed4": ".4f",
                  "count": ","}
TEMPLATES.filters.update({name: (lambda value, spec=spec: format(value, spec))
                          for name, spec in NUMBER_FORMATS.items()})
TEMPLATES.filters.update(pct=pct, quoted_pct=quoted_pct, setting=setting, settings=settings,
                         bracketed=bracketed, bold_if=bold_if, points=points,
                         points_unsigned=points_unsigned, sci=sci, bound=bound,
                         with_interval=with_interval, wilson=wilson, p_value=p_value,
                         change_interval=change_interval, verdict=verdict,
                         prediction_interval=prediction_interval)
TEMPLATES.globals.update(MODELS=MODELS, CNN=CNN, C0_RUNS=C0_RUNS)
TEMPLATES.tests["last_is_zero"] = lambda values: values[-1] == 0
TEMPLATES.tests["matching"] = lambda text, pattern: re.search(pattern, text) is not None


# ------------------------------------------------------------------------------------ rendering

def dataset_label(results: Results) -> str:
    """The classification data set's name as the text shows it (conf/data's name; MNIST)."""
    name = results.data["idx"]["dataset"]
    return "MNIST" if name == "mnist" else name


def render(template: str, results: Results) -> str:
    return TEMPLATES.get_template(template).render(results=results,
                                                   dataset=dataset_label(results))


def report_markdown(results: Results) -> str:
    """The whole of reports/report.md; its links are relative to reports/."""
    return render("report.md.j2", results)


def appendix_markdown(results: Results) -> str:
    """reports/appendix.md, the details the report links; links relative to reports/."""
    return render("appendix.md.j2", results)


def readme_block(results: Results) -> str:
    """The README's headline block, markers included."""
    return f"{HEADLINE_START}\n{render('readme_headline.md.j2', results)}{HEADLINE_END}"


def replace_block(text: str, block: str) -> str:
    """``text`` with the part from HEADLINE_START to HEADLINE_END replaced by ``block``."""
    start, end = text.find(HEADLINE_START), text.find(HEADLINE_END)
    if start < 0 or end < start or text.count(HEADLINE_START) != 1:
        raise ValueError(f"README.md must hold exactly one {HEADLINE_START} line followed by a "
                         f"{HEADLINE_END} line, where the report stage writes the headline "
                         "numbers; add them (e.g. under the first paragraph)")
    return text[:start] + block + text[end + len(HEADLINE_END):]


LINK = re.compile(r"\]\(([^)\s]+)\)")


def links(markdown: str) -> list[str]:
    """The targets of every Markdown link and image in ``markdown``, in order."""
    return LINK.findall(markdown)


def missing_links(markdown: str, base: Path) -> list[str]:
    """Link targets in ``markdown`` that are not files under ``base`` (web links excepted)."""
    return [target for target in links(markdown)
            if "://" not in target and not (base / target).is_file()]


@dataclass(frozen=True)
class Written:
    """What ``write_report`` wrote and read: report.md's and appendix.md's text, the figures'
    file names (under reports/figures/) and every file it read (project-relative paths)."""
    markdown: str
    appendix: str
    figures: list[str]
    read: set[str]


def write_report(root: Path, params: dict) -> Written:
    """Write report.md, its figures and the README's headline block under ``root`` from the
    reports there and ``params`` (the composed config). Raises FileNotFoundError, before
    writing anything, if report.md would link a file that does not exist."""
    root = Path(root)
    inputs = ReportInputs(root)
    results = load_results(inputs, params)
    plots = plot_definitions(inputs, params)
    markdown, appendix = report_markdown(results), appendix_markdown(results)
    reports = params["paths"]["reports"]
    report, readme = root / layout.report(reports), root / README
    # everything that can fail comes before the first write: no half-written set of outputs
    readme_text = replace_block(readme.read_text(encoding="utf-8"), readme_block(results))
    figure_links = {f"{layout.FIGURES}/{plot.file_name}" for plot in plots}
    missing = [link for link in missing_links(markdown + appendix, report.parent)
               if link not in figure_links and link not in ("report.md", "appendix.md")]
    if missing:
        raise FileNotFoundError(f"report.md would link files that do not exist under "
                                f"{report.parent}/: {missing}; run the stages that write them "
                                "(dvc repro)")
    with atomic_dir(root / layout.figures(reports)) as folder:  # figures of removed plots go too
        for plot in plots:  # one at a time: write_outputs closes each figure once saved
            write_outputs(folder, {plot.file_name: draw(plot, inputs)})
    write_text(report, markdown)
    write_text(root / layout.appendix(reports), appendix)
    write_text(readme, readme_text)  # other edits to the README, read just above, are kept
    return Written(markdown, appendix, [plot.file_name for plot in plots], inputs.read)
