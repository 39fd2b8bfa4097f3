"""Image width and height from the file header, without decoding a single pixel.

Converters need the size of every image (YOLO normalises by it) and read thousands of files, so
this reads a few dozen bytes with the standard library instead of asking Pillow to open the file.
The format is recognised from the magic bytes, not the extension, because extensions lie.

JPEG sizes honour the EXIF orientation tag (orientations 5-8 swap width and height): annotation
tools, browsers and Ultralytics (``exif_size``) all work on the image as displayed.
"""

from __future__ import annotations

import os
import struct

from synapse_steps.datasets.report import Tally
from synapse_steps.errors import DatasetError

# PNG, BMP and WEBP keep their size in the first 30 bytes; a JPEG's frame header usually follows
# within the first few kilobytes (reading 4 KiB costs the same one system call as 64 bytes).
_HEAD_BYTES = 4096
_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0)

# SOF0-SOF15 minus DHT (C4), JPG (C8) and DAC (CC), which share the range but carry no size.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field: TEM and RST0-RST7.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_EXIF_ORIENTATION_TAG = 0x0112


class _Unreadable(Exception):
    """Internal: the header is not one we can read; turned into a DatasetError with the file."""


class UnreadableImage(DatasetError):
    """An image whose size cannot be read; ``detail`` says why without the path."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


def size_or_skip(path: str | os.PathLike[str], label: str, tally: Tally) -> tuple[int, int] | None:
    """``image_size``, or None after reporting the image as an "unreadable image" skipped item.

    ``label`` names the image in the report (relative to the dataset, as the user knows it). An
    empty or corrupt image is one bad item, not a reason to stop a whole conversion.
    """
    try:
        return image_size(path)
    except UnreadableImage as error:
        tally.skip_item("unreadable image", f"{label}: {error.detail}")
        return None


def dm_image_label(json_label: str, image_name: str) -> str:
    """``train/original_files/x.png`` for the image paired with ``train/json/x.json``."""
    return os.path.join(os.path.dirname(os.path.dirname(json_label)), "original_files", image_name)


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Return ``(width, height)`` of a PNG, JPEG (baseline or progressive), BMP or WEBP file.

    Raises ``DatasetError`` naming the file when it cannot be opened or its header is not a
    supported, well-formed image header.
    """
    try:
        descriptor = os.open(path, _READ)
    except OSError as error:
        raise UnreadableImage(
            f"Cannot open image {os.fspath(path)}: {error.strerror}.",
            f"cannot open: {error.strerror}",
        ) from error
    try:
        head = os.read(descriptor, _HEAD_BYTES)
        if not head:
            raise _Unreadable("empty file")
        width, height = _size_from_head(_Header(descriptor, head))
    except OSError as error:  # e.g. a folder named like an image
        raise UnreadableImage(
            f"Cannot read image {os.fspath(path)}: {error.strerror}.",
            f"cannot read: {error.strerror}",
        ) from error
    except _Unreadable as error:
        raise UnreadableImage(
            f"Cannot read the image size of {os.fspath(path)}: {error}. Supported formats are "
            "PNG, JPEG, BMP and WEBP; replace or re-save the file.",
            str(error),
        ) from None
    finally:
        os.close(descriptor)
    if width <= 0 or height <= 0:
        raise UnreadableImage(
            f"Image {os.fspath(path)} declares a size of {width}x{height}; "
            "width and height must be positive. The file is probably corrupt.",
            f"declares a size of {width}x{height}",
        )
    return width, height


class _Header:
    """The first bytes of an open file, reading further only when asked to."""

    def __init__(self, descriptor: int, head: bytes) -> None:
        self.descriptor = descriptor
        self.head = head

    def at(self, offset: int, size: int) -> bytes:
        if offset + size <= len(self.head):
            return self.head[offset : offset + size]
        os.lseek(self.descriptor, offset, os.SEEK_SET)
        return os.read(self.descriptor, size)


def _size_from_head(header: _Header) -> tuple[int, int]:
    head = header.head
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png_size(head)
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(header)
    if head.startswith(b"BM"):
        return _bmp_size(head)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp_size(head)
    raise _Unreadable(f"unknown header (first bytes {head[:12]!r})")


def _png_size(head: bytes) -> tuple[int, int]:
    if len(head) < 24 or head[12:16] != b"IHDR":
        raise _Unreadable("PNG without an IHDR chunk (truncated file?)")
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def _bmp_size(head: bytes) -> tuple[int, int]:
    if len(head) < 26:
        raise _Unreadable("BMP header truncated")
    (dib_size,) = struct.unpack("<I", head[14:18])
    if dib_size == 12:  # OS/2 BITMAPCOREHEADER: unsigned 16-bit sizes
        width, height = struct.unpack("<HH", head[18:22])
    else:  # BITMAPINFOHEADER and later: signed 32-bit, negative height means top-down rows
        width, height = struct.unpack("<ii", head[18:26])
    return int(width), abs(int(height))


def _webp_size(head: bytes) -> tuple[int, int]:
    chunk = head[12:16]
    if chunk == b"VP8 " and len(head) >= 30:
        if head[23:26] != b"\x9d\x01\x2a":
            raise _Unreadable("WEBP (VP8) frame without its start code")
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(head) >= 25:
        if head[20] != 0x2F:
            raise _Unreadable("WEBP (VP8L) stream without its signature byte")
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(head) >= 30:
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    raise _Unreadable(f"WEBP with an unknown or truncated first chunk {chunk!r}")


def _jpeg_size(header: _Header) -> tuple[int, int]:
    """Walk the JPEG segments up to the first SOF, noting an EXIF orientation on the way."""
    offset = 2
    orientation = 1
    while True:
        marker = header.at(offset, 2)
        if len(marker) < 2:
            raise _Unreadable("JPEG ended before its frame header (SOF)")
        if marker[0] != 0xFF:
            raise _Unreadable(f"JPEG segment does not start with 0xFF at offset {offset}")
        if marker[1] == 0xFF:  # fill byte before a marker
            offset += 1
            continue
        code = marker[1]
        offset += 2
        if code in _JPEG_STANDALONE:
            continue
        if code in (0xD9, 0xDA):  # EOI / start of scan: no SOF came first
            raise _Unreadable("JPEG has no frame header (SOF) before its image data")
        length_bytes = header.at(offset, 2)
        if len(length_bytes) < 2:
            raise _Unreadable("JPEG ended inside a segment length")
        (length,) = struct.unpack(">H", length_bytes)
        if length < 2:
            raise _Unreadable(f"JPEG segment 0x{code:02X} has an invalid length {length}")
        if code in _JPEG_SOF:
            body = header.at(offset + 2, 5)
            if len(body) < 5:
                raise _Unreadable("JPEG frame header truncated")
            height, width = struct.unpack(">HH", body[1:5])
            if orientation in (5, 6, 7, 8):  # rotated by 90 degrees when displayed
                return int(height), int(width)
            return int(width), int(height)
        if code == 0xE1 and orientation == 1:
            orientation = _exif_orientation(header.at(offset + 2, length - 2))
        offset += length


def _exif_orientation(segment: bytes) -> int:
    """The EXIF orientation (1-8) in an APP1 segment, or 1 when absent or unreadable."""
    if not segment.startswith(b"Exif\x00\x00") or len(segment) < 14:
        return 1
    tiff = segment[6:]
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None:
        return 1
    (ifd_offset,) = struct.unpack(order + "I", tiff[4:8])
    if ifd_offset + 2 > len(tiff):
        return 1
    (count,) = struct.unpack(order + "H", tiff[ifd_offset : ifd_offset + 2])
    for index in range(count):
        start = ifd_offset + 2 + 12 * index
        entry = tiff[start : start + 12]
        if len(entry) < 12:
            return 1
        tag, _type, _count = struct.unpack(order + "HHI", entry[:8])
        if tag == _EXIF_ORIENTATION_TAG:
            (value,) = struct.unpack(order + "H", entry[8:10])
            return int(value) if 1 <= value <= 8 else 1
    return 1
