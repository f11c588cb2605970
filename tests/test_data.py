"""The data stage's sources and checks (study.data): a data set defined by its config (checked
by study.validate), the IDX reader, every kind of bad raw file and wrong mirror layout (each
one error that names the file, what was expected and the fix, with nothing copied into the data
root), checksums, and the seeded split. Written against small files the tests make
themselves, and the real MNIST mirror if present."""

import gzip
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import MIRROR, ROOT, idx_bytes, write_idx_dataset, write_image_folder

from study import data as D
from study.validate import config_problems

MNIST_CONF = yaml.safe_load((ROOT / "conf" / "data" / "mnist.yaml").read_text())
TINY_FILES = ("tiny-train-images", "tiny-train-labels", "tiny-test-images", "tiny-test-labels")


def tiny_config(raw: Path | None = None, **changes) -> dict:
    """A data section for a 3-class data set whose files are pinned to those in ``raw``."""
    files = {role: {"name": name, "sha256": D.sha256(raw / name) if raw else None}
             for role, name in zip(D.ROLES, TINY_FILES, strict=True)}
    return {"name": "tiny", "torchvision": None, "folder": "TINY", "files": files,
            "class_names": ["circle", "square", "star"], **changes}


@pytest.fixture
def mirror(tmp_path):
    """A mirror holding the tiny data set at <mirror>/TINY/raw."""
    write_idx_dataset(tmp_path / "mirror" / "TINY" / "raw", TINY_FILES, 3, n_train=12, n_test=6)
    return tmp_path / "mirror"


@pytest.fixture
def tiny(mirror):
    return D.IdxDataset.from_config(tiny_config(mirror / "TINY" / "raw"))


def offline(monkeypatch):
    """Make torchvision's official download fail at once, as it does with no network."""
    import torchvision.datasets

    class Unreachable:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("Error downloading: <urlopen error Name or service not known>")

    monkeypatch.setattr(torchvision.datasets, "MNIST", Unreachable)
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", Unreachable)


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --- a data set is its config -----------------------------------------------------------------

def test_conf_data_mnist_defines_mnist_with_every_file_pinned():
    mnist = D.IdxDataset.from_config(MNIST_CONF)
    assert mnist.name == "mnist" and mnist.torchvision == mnist.folder == "MNIST"
    assert list(mnist.files) == list(D.ROLES) and mnist.unpinned == []
    assert mnist.files["test_labels"] == "t10k-labels-idx1-ubyte"
    assert mnist.class_names == tuple(str(digit) for digit in range(10))
    assert mnist.raw(Path("data/raw")) == Path("data/raw/MNIST/raw")


@pytest.mark.parametrize("change, match", [
    ({"files": {"train_images": {"name": "a", "sha256": None}}}, r"missing \['train_labels'"),
    ({"class_names": ["only"]}, "at least two distinct"),
    ({"class_names": ["cat", "dog", "cat"]}, "at least two distinct"),
    ({"torchvision": "FashionMNIST"}, "set data.folder to 'FashionMNIST'"),
    ({"folder": "a/b"}, r"data\.folder must be a file or folder name without slashes"),
])
def test_a_bad_data_config_names_the_key_and_the_fix(change, match):
    (problem,) = config_problems({"data": tiny_config(**change)})
    assert re.search(match, problem) and "fix it in conf/data/" in problem


@pytest.mark.parametrize("role, entry, match", [
    ("test_labels", {"name": "x", "sha256": "ABC"},
     r"data\.files\.test_labels\.sha256 must be a SHA-256 as 64 lower-case hex digits"),
    ("test_labels", {"name": "sub/x", "sha256": None}, r"data\.files\.test_labels\.name must be"),
    ("test_labels", {"name": TINY_FILES[0], "sha256": None}, "names the same file twice"),
])
def test_a_bad_file_entry_is_named(role, entry, match):
    config = tiny_config()
    config["files"][role] = entry
    (problem,) = config_problems({"data": config})
    assert re.search(match, problem)


def test_the_tiny_data_set_definition_is_valid():
    assert config_problems({"data": tiny_config()}) == []


# --- the IDX reader ---------------------------------------------------------------------------

def test_idx_round_trip(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    (tmp_path / "f").write_bytes(idx_bytes(images))
    assert D.read_idx_header(tmp_path / "f") == (2, 28, 28)
    assert np.array_equal(D.read_idx(tmp_path / "f"), images)


def test_load_dataset_gives_uint8_images_and_int64_labels(tiny, mirror):
    full = D.load_dataset(tiny, mirror / "TINY" / "raw")
    assert full["x_train"].shape == (12, 28, 28) and full["x_train"].dtype == np.uint8
    assert full["y_test"].tolist() == [0, 1, 2, 0, 1, 2] and full["y_test"].dtype == np.int64


@pytest.mark.skipif(not (MIRROR / "MNIST" / "raw").is_dir(), reason="needs the MNIST mirror")
def test_real_mnist_passes_every_check_and_reads_as_torchvision_reads_it():
    from torchvision.datasets import MNIST

    mnist = D.IdxDataset.from_config(MNIST_CONF)
    digests = D.check_raw_files(mnist.raw(MIRROR), mnist)
    assert digests == {f["name"]: f["sha256"] for f in MNIST_CONF["files"].values()}
    ours = D.load_dataset(mnist, mnist.raw(MIRROR))
    theirs = MNIST(str(MIRROR), train=False, download=False)
    assert np.array_equal(ours["x_test"], theirs.data.numpy())
    assert np.array_equal(ours["y_test"], theirs.targets.numpy())


# --- bad raw files: one error naming the file, what was expected and the fix -------------------

def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-10])


def alter_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # a pixel: the header still fits, only the checksum can tell
    path.write_bytes(bytes(data))


def empty(path: Path) -> None:
    path.write_bytes(b"")


def compress(path: Path) -> None:
    path.write_bytes(gzip.compress(path.read_bytes()))


def make_text(path: Path) -> None:
    path.write_text("not an idx file\n")


def float_type(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[2] = 0x0D
    path.write_bytes(bytes(data))


def pad(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"\x00" * 3)


def images_32x32(path: Path) -> None:
    path.write_bytes(idx_bytes(np.zeros((12, 32, 32))))


def labels_2d(path: Path) -> None:
    path.write_bytes(idx_bytes(np.zeros((12, 1))))


def too_few_labels(path: Path) -> None:
    path.write_bytes(idx_bytes(np.zeros(11)))


def label_beyond_the_classes(path: Path) -> None:
    path.write_bytes(idx_bytes(np.arange(12) % 4))


@pytest.mark.parametrize("role, spoil, match, pinned", [
    ("train_images", truncate, r"has 9414 bytes, but its IDX header \(shape \(12, 28, 28\)\) "
     r"promises 9424: the file is truncated\. Fix: delete it", True),
    ("train_images", alter_one_byte, "corrupt or not the official file: sha256 .* expected "
     r".*\(data.files.train_images.sha256\)\. Delete it and fetch it again", True),
    ("test_labels", empty, r"is empty \(0 bytes\); expected an IDX file\. Fix", True),
    ("test_images", compress, r"gzip-compressed; expected the uncompressed IDX file\. Fix: "
     "decompress", True),
    ("test_images", make_text, "not an IDX file: it starts with bytes 6e 6f 74 20, expected "
     "00 00 08", True),
    ("test_images", float_type, "type 0x0d; expected 0x08", True),
    ("train_labels", pad, "longer than its header says", True),
    ("train_images", images_32x32, r"shape \(12, 32, 32\); expected images \(N, 28, 28\)", False),
    ("train_labels", labels_2d, r"shape \(12, 1\); expected labels \(N,\)", False),
    ("train_labels", too_few_labels, "holds 12 images but .* holds 11 labels; expected one label "
     "per image", False),
    ("train_labels", label_beyond_the_classes, r"holds label 3, but data.class_names names 3 "
     r"classes \(labels 0..2\)\. Fix: name every class", False),
])
def test_a_bad_raw_file_in_the_mirror_is_named_and_nothing_is_copied(
        tmp_path, mirror, role, spoil, match, pinned):
    raw = mirror / "TINY" / "raw"
    dataset = D.IdxDataset.from_config(tiny_config(raw if pinned else None))
    path = raw / dataset.files[role]
    spoil(path)
    root = tmp_path / "root"
    with pytest.raises(D.DataSourceError, match=match) as error:
        D.fetch_dataset(dataset, root, mirror)
    assert str(path) in str(error.value)
    assert files_under(root) == []


def test_a_corrupt_file_in_the_data_root_is_an_error_not_a_fallback(tiny, mirror, tmp_path):
    root = tmp_path / "root"
    D.fetch_dataset(tiny, root, mirror)
    alter_one_byte(root / "TINY" / "raw" / TINY_FILES[3])
    with pytest.raises(D.DataSourceError, match=f"{root}.*{TINY_FILES[3]} is corrupt"):
        D.fetch_dataset(tiny, root, mirror)


def test_a_missing_file_is_named(tiny, mirror):
    (mirror / "TINY" / "raw" / TINY_FILES[2]).unlink()
    with pytest.raises(D.DataSourceError, match=f"{TINY_FILES[2]} is missing"):
        D.check_raw_files(mirror / "TINY" / "raw", tiny)


# --- a mirror laid out wrongly ----------------------------------------------------------------

def files_at_the_mirror_root(mirror: Path) -> None:
    for path in (mirror / "TINY" / "raw").iterdir():
        path.rename(mirror / path.name)


def no_raw_folder(mirror: Path) -> None:
    for path in (mirror / "TINY" / "raw").iterdir():
        path.rename(mirror / "TINY" / path.name)


def gz_only(mirror: Path) -> None:
    for path in (mirror / "TINY" / "raw").iterdir():
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()


def no_data_set_folder(mirror: Path) -> None:
    for path in (mirror / "TINY" / "raw").iterdir():
        path.unlink()
    (mirror / "TINY" / "raw").rmdir()
    (mirror / "TINY").rmdir()


@pytest.mark.parametrize("rearrange, found", [
    (files_at_the_mirror_root, "{mirror}/tiny-train-images"),
    (no_raw_folder, "{mirror}/TINY/tiny-train-images"),
    (gz_only, "{mirror}/TINY/raw/tiny-train-images.gz"),
    (no_data_set_folder, None),
])
def test_a_mirror_with_the_wrong_layout_says_what_is_where_and_the_layout(
        tiny, mirror, tmp_path, rearrange, found):
    rearrange(mirror)
    root = tmp_path / "root"
    with pytest.raises(D.DataSourceError) as error:
        D.fetch_dataset(tiny, root, mirror)
    message = str(error.value)
    assert f"local mirror {mirror}: {mirror}/TINY/raw" in message
    assert "laid out as <mirror>/TINY/raw/ holding tiny-train-images, tiny-train-labels" in message
    if found:
        assert found.format(mirror=mirror) in message and f"move them into {mirror}" in message
    assert "official download: none (data.torchvision is null)" in message
    assert "connect to the internet" not in message  # nothing to download this data set from
    assert files_under(root) == []


def test_a_mirror_that_is_not_a_folder_is_named(tiny, tmp_path):
    with pytest.raises(D.DataSourceError, match=f"{tmp_path}/nowhere is not a folder"):
        D.fetch_dataset(tiny, tmp_path / "root", tmp_path / "nowhere")


# --- sources, provenance and pinning ----------------------------------------------------------

def test_fetch_falls_back_to_the_mirror_and_records_it(mirror, tmp_path, monkeypatch):
    """A data set with a torchvision download (MNIST's layout, tiny files) offline."""
    offline(monkeypatch)
    (mirror / "TINY").rename(mirror / "MNIST")
    dataset = D.IdxDataset.from_config(
        tiny_config(mirror / "MNIST" / "raw", torchvision="MNIST", folder="MNIST"))
    root = tmp_path / "root"
    fetched = D.fetch_dataset(dataset, root, mirror)
    assert fetched.source == "local mirror" and fetched.folder == root / "MNIST" / "raw"
    assert fetched.sha256 == dataset.sha256
    for name in TINY_FILES:
        assert (root / "MNIST" / "raw" / name).read_bytes() == \
            (mirror / "MNIST" / "raw" / name).read_bytes()
    # the data root is now populated: used as is, with the provenance kept
    assert D.fetch_dataset(dataset, root, None).source == "local mirror"


def test_no_source_lists_every_attempt_and_the_fix(tmp_path, monkeypatch):
    offline(monkeypatch)
    monkeypatch.delenv(D.MIRROR_ENV, raising=False)
    mnist = D.IdxDataset.from_config(MNIST_CONF)
    with pytest.raises(D.DataSourceError) as err:
        D.fetch_dataset(mnist, tmp_path / "root", D.mirror_root(None))
    message = str(err.value)
    assert "official download" in message and "Name or service not known" in message
    assert "local mirror: none given" in message and D.MIRROR_ENV in message
    assert "<mirror>/MNIST/raw/ holding train-images-idx3-ubyte" in message


def test_an_unknown_torchvision_class_is_a_config_error_not_a_fallback(mirror, tmp_path):
    dataset = D.IdxDataset.from_config(tiny_config(torchvision="NoSuchSet", folder="NoSuchSet"))
    with pytest.raises(ValueError, match="data.torchvision: torchvision.datasets has no"):
        D.fetch_dataset(dataset, tmp_path / "root", mirror)


def test_unpinned_files_are_accepted_and_their_digests_returned(mirror, tmp_path):
    dataset = D.IdxDataset.from_config(tiny_config())
    assert dataset.unpinned == list(TINY_FILES)
    fetched = D.fetch_dataset(dataset, tmp_path / "root", mirror)
    raw = mirror / "TINY" / "raw"
    assert fetched.sha256 == {name: hashlib.sha256((raw / name).read_bytes()).hexdigest()
                              for name in TINY_FILES}


def test_mirror_from_environment_when_config_is_null(monkeypatch, tmp_path):
    monkeypatch.setenv(D.MIRROR_ENV, str(tmp_path))
    assert D.mirror_root(None) == tmp_path
    assert D.mirror_root("/elsewhere") == Path("/elsewhere")


# --- the split --------------------------------------------------------------------------------

def test_split_is_seeded_disjoint_and_complete():
    train, val = D.split_train_val(1000, 0.2, seed=3)
    assert len(val) == 200 and len(train) == 800
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(1000))
    again = D.split_train_val(1000, 0.2, seed=3)
    assert np.array_equal(train, again[0]) and np.array_equal(val, again[1])
    assert not np.array_equal(val, D.split_train_val(1000, 0.2, seed=4)[1])


# --- CIFAR-10 ---------------------------------------------------------------------------------

def test_cifar_mirror_sample_is_nchw_uint8_and_seeded(tmp_path, monkeypatch):
    offline(monkeypatch)
    write_image_folder(tmp_path, D.CIFAR10_CLASSES)
    images, labels, source = D.fetch_cifar10_sample(tmp_path / "root", tmp_path, 5, seed=1)
    assert images.shape == (5, 3, 32, 32) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and "JPEG mirror" in source
    again, _, _ = D.fetch_cifar10_sample(tmp_path / "root", tmp_path, 5, seed=1)
    assert np.array_equal(images, again)


def test_cifar_mirror_with_a_missing_class_is_a_clear_error(tmp_path, monkeypatch):
    offline(monkeypatch)
    write_image_folder(tmp_path, D.CIFAR10_CLASSES[:-1])
    with pytest.raises(D.DataSourceError, match=r"missing \['truck'\], unexpected \[\]\. Fix: "
                       "add the missing class folders"):
        D.fetch_cifar10_sample(tmp_path / "root", tmp_path, 5, seed=0, source="mirror")


def test_cifar_mirror_with_an_empty_class_or_no_folder_is_a_clear_error(tmp_path):
    with pytest.raises(D.DataSourceError, match="cifar10-jpg/train does not exist.*Fix: point"):
        D.fetch_cifar10_sample(tmp_path / "root", tmp_path, 5, seed=0, source="mirror")
    write_image_folder(tmp_path, D.CIFAR10_CLASSES, per_class=0)
    with pytest.raises(D.DataSourceError, match=r"class folders \['airplane'.* are empty"):
        D.fetch_cifar10_sample(tmp_path / "root", tmp_path, 5, seed=0, source="mirror")


def test_cifar_mirror_image_of_the_wrong_size_or_unreadable_is_named(tmp_path):
    write_image_folder(tmp_path, D.CIFAR10_CLASSES, per_class=1, size=28)
    with pytest.raises(D.DataSourceError, match=r"0000.png is 28x28 pixels; expected 32x32 RGB"):
        D.fetch_cifar10_sample(tmp_path / "root", tmp_path, 10, seed=0, source="mirror")
    for path in (tmp_path / "cifar10-jpg" / "train").rglob("*.png"):
        path.write_bytes(b"not an image")
    with pytest.raises(D.DataSourceError, match="0000.png is not a readable image"):
        D.fetch_cifar10_sample(tmp_path / "root", tmp_path, 10, seed=0, source="mirror")


def test_cifar_too_many_images_requested(tmp_path, monkeypatch):
    offline(monkeypatch)
    write_image_folder(tmp_path, D.CIFAR10_CLASSES, per_class=1)
    with pytest.raises(ValueError, match="n_images"):
        D.fetch_cifar10_sample(tmp_path / "root", tmp_path, 11, seed=0)
