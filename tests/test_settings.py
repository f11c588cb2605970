"""study.settings: a stage's config records the settings read (leaves only), values laid over a
section are not settings, and a forked worker's reads reach the log."""

import pytest

from study.pool import fork_map
from study.settings import LOG_ENV, Settings, overlaid

CONFIG = {"model": "mlp", "mlp": {"epochs": 2, "grid": {"lr": [0.1], "batch_size": [64]},
                                  "hidden": 10, "final_seeds": 5}}


@pytest.fixture
def log(tmp_path, monkeypatch):
    path = tmp_path / "read.tsv"
    monkeypatch.setenv(LOG_ENV, str(path))
    monkeypatch.setattr("study.settings._logged", set())

    def read() -> set[str]:
        return {line.split("\t")[1] for line in path.read_text().splitlines()} \
            if path.exists() else set()
    return read


def test_leaves_read_are_recorded_and_sections_keys_and_membership_are_not(log):
    cfg = Settings(CONFIG)
    section = cfg[cfg.model]
    assert list(section["grid"]) == ["lr", "batch_size"] and "hidden" in section
    assert log() == {"model"}
    assert section.epochs == 2 and section["grid"]["lr"] == [0.1]
    assert log() == {"model", "mlp.epochs", "mlp.grid.lr"}


def test_values_laid_over_a_section_are_not_read_from_it(log):
    section = overlaid(Settings(CONFIG)["mlp"], {"hidden": 3, "lr": 0.5})
    assert (section["hidden"], section["lr"], section["epochs"]) == (3, 0.5, 2)
    assert log() == {"mlp.epochs"}
    assert overlaid({"a": 1}, {"b": 2}) == {"a": 1, "b": 2}  # a plain section stays plain


def test_a_copy_reads_every_setting_in_it(log):
    assert Settings(CONFIG)["mlp"].to_dict() == CONFIG["mlp"]
    assert log() == {"mlp.epochs", "mlp.grid.lr", "mlp.grid.batch_size", "mlp.hidden",
                     "mlp.final_seeds"}


def test_reads_in_forked_workers_are_logged(log):
    section = Settings(CONFIG)["mlp"]
    assert fork_map(lambda key: section[key], ["hidden", "epochs"], workers=2) == [10, 2]
    assert log() == {"mlp.hidden", "mlp.epochs"}


def test_a_missing_setting_names_its_whole_path():
    with pytest.raises(AttributeError, match="'mlp.optimizer'"):
        _ = Settings(CONFIG).mlp.optimizer
    with pytest.raises(KeyError):
        Settings(CONFIG)["mlp"]["optimizer"]
