"""The pipeline's own helpers, shared by the stage scripts in stages/: data sources and
checksums, atomic writers, Hydra entry point, plots. The maths lives in barenet."""
