"""Image sizes from headers agree with Pillow, and bad headers name the file."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from synapse_steps.datasets import image_size
from synapse_steps.errors import DatasetError


def _save(path: Path, mode: str, size: tuple[int, int], fmt: str, **options: Any) -> Path:
    Image.new(mode, size, 90).save(path, format=fmt, **options)
    return path


@pytest.mark.parametrize(
    ("name", "mode", "fmt", "options"),
    [
        ("a.png", "RGB", "PNG", {}),
        ("a.jpg", "RGB", "JPEG", {}),
        ("progressive.jpg", "RGB", "JPEG", {"progressive": True}),
        ("grey.jpeg", "L", "JPEG", {"quality": 20}),
        ("a.bmp", "RGB", "BMP", {}),
        ("lossy.webp", "RGB", "WEBP", {"lossless": False}),
        ("lossless.webp", "RGB", "WEBP", {"lossless": True}),
        ("alpha.webp", "RGBA", "WEBP", {"lossless": False}),  # VP8X container
    ],
)
def test_sizes_match_pillow(
    tmp_path: Path, name: str, mode: str, fmt: str, options: dict[str, Any]
) -> None:
    path = _save(tmp_path / name, mode, (317, 203), fmt, **options)
    with Image.open(path) as image:
        assert image_size(path) == image.size == (317, 203)


def test_jpeg_after_a_large_exif_segment_and_orientation_swaps(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees when displayed
    exif[0x010E] = "x" * 20_000  # pushes the frame header far beyond the first read
    path = _save(tmp_path / "rotated.jpg", "RGB", (300, 100), "JPEG", exif=exif.tobytes())
    assert image_size(path) == (100, 300)
    exif[0x0112] = 1
    path = _save(tmp_path / "upright.jpg", "RGB", (300, 100), "JPEG", exif=exif.tobytes())
    assert image_size(path) == (300, 100)


def test_bmp_variants_written_by_hand(tmp_path: Path) -> None:
    top_down = b"BM" + bytes(12) + struct.pack("<Iii", 40, 64, -48) + bytes(40)
    (tmp_path / "top_down.bmp").write_bytes(top_down)
    assert image_size(tmp_path / "top_down.bmp") == (64, 48)
    os2 = b"BM" + bytes(12) + struct.pack("<IHH", 12, 33, 22) + bytes(40)
    (tmp_path / "os2.bmp").write_bytes(os2)
    assert image_size(tmp_path / "os2.bmp") == (33, 22)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.png", b"hello, I am text"),
        ("empty.jpg", b""),
        ("truncated.png", b"\x89PNG\r\n\x1a\n\x00\x00"),
        ("no_sof.jpg", b"\xff\xd8\xff\xda\x00\x04\x00\x00"),
        ("cut.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF"),
        ("zero.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + bytes(8) + bytes(20)),
    ],
)
def test_unreadable_headers_name_the_file(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=name):
        image_size(path)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nowhere\.png"):
        image_size(tmp_path / "nowhere.png")
