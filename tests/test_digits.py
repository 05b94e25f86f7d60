import gzip
import struct

import numpy as np
import pytest
import torch

from steerlab.core.io import FileFormatError
from steerlab.data.digits import digits_dataset, load_mnist, procedural_digits, read_idx, sklearn_digits


def _write_idx(path, array: np.ndarray, code: int = 0x08, gz: bool = False, extra: bytes = b""):
    head = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    data = head + array.astype(array.dtype.newbyteorder(">")).tobytes() + extra
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def _com(images):
    x = images[:, 0]
    r = x.shape[-1]
    g = torch.arange(r, dtype=torch.float32)
    m = x.sum((1, 2))
    return (x * g[None, None, :]).sum((1, 2)) / m, (x * g[None, :, None]).sum((1, 2)) / m


@pytest.mark.parametrize("res", [28, 32])
def test_sklearn_digits_look_like_mnist(res):
    x, y = sklearn_digits(res)
    assert x.shape == (1797, 1, res, res) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() >= 0 and x.max() == 1 and set(y.tolist()) == set(range(10))
    cx, cy = _com(x)
    assert (cx - (res - 1) / 2).abs().max() < 1.0 and (cy - (res - 1) / 2).abs().max() < 1.0
    ink = x[:, 0] > 0.1
    box = int(round(20 / 28 * res))
    rows, cols = ink.any(2).sum(1), ink.any(1).sum(1)  # ink extent per image (digits are compact)
    assert rows.max() <= box and cols.max() <= box and rows.float().mean() > 0.8 * box
    assert ink.float().mean() > 0.1  # strokes, not faint blur


def test_procedural_digits_are_seeded_balanced_and_centred():
    a, la = procedural_digits(40, 32, seed=3)
    b, lb = procedural_digits(40, 32, seed=3)
    c, _ = procedural_digits(40, 32, seed=4)
    assert torch.equal(a, b) and torch.equal(la, lb) and not torch.equal(a, c)
    assert torch.bincount(la, minlength=10).tolist() == [4] * 10
    cx, cy = _com(a)
    assert (cx - 15.5).abs().max() < 1.0 and (cy - 15.5).abs().max() < 1.0
    assert ((a > 0.5).float().mean((1, 2, 3)) > 0.03).all()  # every image has a digit


def test_idx_reader_and_mnist_loader(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    xi = _write_idx(tmp_path / "train-images-idx3-ubyte.gz", images, gz=True)
    yi = _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels, gz=True)
    assert np.array_equal(read_idx(xi), images) and np.array_equal(read_idx(yi), labels)
    wide = np.arange(6, dtype=np.int32).reshape(2, 3) - 3
    assert np.array_equal(read_idx(_write_idx(tmp_path / "i32", wide, code=0x0C)), wide)
    x, y = load_mnist(xi, yi, resolution=32)
    assert x.shape == (5, 1, 32, 32) and y.tolist() == [3, 1, 4, 1, 5]
    assert torch.allclose(x[:, 0, 2:30, 2:30], torch.from_numpy(images / 255.0).float())
    assert x[:, :, :2].abs().sum() == 0  # padded border
    x28, _ = load_mnist(xi, yi, resolution=28, limit=2)
    assert x28.shape == (2, 1, 28, 28)
    dx, dy = digits_dataset(32, mnist=tmp_path)
    assert torch.equal(dx, x) and torch.equal(dy, y)


def test_idx_reader_refuses_bad_files(tmp_path):
    images = np.zeros((2, 4, 4), dtype=np.uint8)
    with pytest.raises(FileFormatError, match="size mismatch"):
        read_idx(_write_idx(tmp_path / "long", images, extra=b"\x00"))
    short = _write_idx(tmp_path / "short", images)
    short.write_bytes(short.read_bytes()[:-3])
    with pytest.raises(FileFormatError, match="size mismatch"):
        read_idx(short)
    (tmp_path / "magic").write_bytes(b"\x08\x03\x00\x00" + b"\x00" * 40)
    with pytest.raises(FileFormatError, match="magic"):
        read_idx(tmp_path / "magic")
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b" + b"junk")
    with pytest.raises(FileFormatError, match="gzip"):
        read_idx(tmp_path / "bad.gz")
    with pytest.raises(FileFormatError, match="not found"):
        read_idx(tmp_path / "missing")
    xi = _write_idx(tmp_path / "x", images)
    yi = _write_idx(tmp_path / "y", np.zeros(3, dtype=np.uint8))
    with pytest.raises(FileFormatError, match="same N"):
        load_mnist(xi, yi)
    with pytest.raises(FileNotFoundError, match="train-images"):
        digits_dataset(32, mnist=tmp_path)


def test_digits_dataset_mixes_procedural():
    x, y = digits_dataset(32, procedural=20, limit=100, seed=1)
    assert x.shape == (120, 1, 32, 32) and y.shape == (120,)
