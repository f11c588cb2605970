"""The data stage's sources and checks: checksums, corrupt and missing files, mirror layout,
and the seeded split. Written against small files the tests make themselves."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from study import data as D


@pytest.fixture
def fake_files(tmp_path, monkeypatch):
    """A folder of four small files and checksum constants that match them."""
    folder = tmp_path / "mirror" / "MNIST" / "raw"
    folder.mkdir(parents=True)
    expected = {}
    for i, name in enumerate(D.MNIST_SHA256):
        payload = bytes([i]) * (100 + i)
        (folder / name).write_bytes(payload)
        expected[name] = hashlib.sha256(payload).hexdigest()
    monkeypatch.setattr(D, "MNIST_SHA256", expected)
    return folder


def offline(monkeypatch):
    """Make torchvision's official download fail at once, as it does with no network."""
    import torchvision.datasets

    class Unreachable:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("Error downloading: <urlopen error Name or service not known>")

    monkeypatch.setattr(torchvision.datasets, "MNIST", Unreachable)
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", Unreachable)


def test_verify_files_accepts_matching_checksums(fake_files):
    D.verify_files(fake_files, D.MNIST_SHA256)


def test_a_truncated_file_is_named_with_expected_hash_and_fix(fake_files):
    name = next(iter(D.MNIST_SHA256))
    (fake_files / name).write_bytes(b"\x00" * 10)
    with pytest.raises(D.DataSourceError) as err:
        D.verify_files(fake_files, D.MNIST_SHA256)
    message = str(err.value)
    assert name in message and D.MNIST_SHA256[name] in message and "Delete it" in message


def test_a_missing_file_is_named(fake_files):
    name = list(D.MNIST_SHA256)[2]
    (fake_files / name).unlink()
    with pytest.raises(D.DataSourceError, match=name):
        D.verify_files(fake_files, D.MNIST_SHA256)


def test_fetch_falls_back_to_the_mirror_and_records_it(fake_files, tmp_path, monkeypatch):
    offline(monkeypatch)
    root = tmp_path / "root"
    fetched = D.fetch_mnist(root, tmp_path / "mirror")
    assert fetched.source == "local mirror"
    for name in D.MNIST_SHA256:
        assert (root / "MNIST" / "raw" / name).read_bytes() == (fake_files / name).read_bytes()
    # the data root is now populated: used as is, with the provenance kept
    assert D.fetch_mnist(root, None).source == "local mirror"


def test_no_source_lists_every_attempt_and_the_fix(tmp_path, monkeypatch):
    offline(monkeypatch)
    monkeypatch.delenv(D.MIRROR_ENV, raising=False)
    with pytest.raises(D.DataSourceError) as err:
        D.fetch_mnist(tmp_path / "root", D.mirror_root(None))
    message = str(err.value)
    assert "official download" in message and "Name or service not known" in message
    assert "local mirror: none given" in message and D.MIRROR_ENV in message


def test_a_corrupt_mirror_writes_nothing_into_the_data_root(fake_files, tmp_path, monkeypatch):
    offline(monkeypatch)
    (fake_files / next(iter(D.MNIST_SHA256))).write_bytes(b"altered")
    root = tmp_path / "root"
    with pytest.raises(D.DataSourceError, match="corrupt"):
        D.fetch_mnist(root, tmp_path / "mirror")
    assert not any(p.is_file() for p in root.rglob("*")) if root.exists() else True


def test_mirror_from_environment_when_config_is_null(monkeypatch, tmp_path):
    monkeypatch.setenv(D.MIRROR_ENV, str(tmp_path))
    assert D.mirror_root(None) == tmp_path
    assert D.mirror_root("/elsewhere") == Path("/elsewhere")


def test_split_is_seeded_disjoint_and_complete():
    train, val = D.split_train_val(1000, 0.2, seed=3)
    assert len(val) == 200 and len(train) == 800
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(1000))
    again = D.split_train_val(1000, 0.2, seed=3)
    assert np.array_equal(train, again[0]) and np.array_equal(val, again[1])
    assert not np.array_equal(val, D.split_train_val(1000, 0.2, seed=4)[1])


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1])
def test_split_rejects_a_bad_fraction(bad):
    with pytest.raises(ValueError, match="val_fraction"):
        D.split_train_val(100, bad, 0)


def make_image_folder(root: Path, classes, per_class=2):
    from PIL import Image

    for c in classes:
        (root / "cifar10-jpg" / "train" / c).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.full((32, 32, 3), 10 * i + len(c), dtype=np.uint8)
            Image.fromarray(pixels).save(root / "cifar10-jpg" / "train" / c / f"{i:04d}.png")


def test_cifar_mirror_sample_is_nchw_uint8_and_seeded(tmp_path, monkeypatch):
    offline(monkeypatch)
    make_image_folder(tmp_path, D.CIFAR10_CLASSES)
    images, labels, source = D.fetch_cifar10_sample(tmp_path / "root", tmp_path, 5, seed=1)
    assert images.shape == (5, 3, 32, 32) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and "JPEG mirror" in source
    again, _, _ = D.fetch_cifar10_sample(tmp_path / "root", tmp_path, 5, seed=1)
    assert np.array_equal(images, again)


def test_cifar_mirror_with_a_missing_class_is_a_clear_error(tmp_path, monkeypatch):
    offline(monkeypatch)
    make_image_folder(tmp_path, D.CIFAR10_CLASSES[:-1])
    with pytest.raises(D.DataSourceError, match="missing \\['truck'\\]"):
        D.fetch_cifar10_sample(tmp_path / "root", tmp_path, 5, seed=0)


def test_cifar_too_many_images_requested(tmp_path, monkeypatch):
    offline(monkeypatch)
    make_image_folder(tmp_path, D.CIFAR10_CLASSES, per_class=1)
    with pytest.raises(ValueError, match="n_images"):
        D.fetch_cifar10_sample(tmp_path / "root", tmp_path, 11, seed=0)
