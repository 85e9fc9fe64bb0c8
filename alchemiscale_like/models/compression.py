"""zstd helpers with a hard limit on decompressed size (zstd-bomb protection)."""

from __future__ import annotations

import io

import zstandard

from alchemiscale_like.errors import PayloadTooLarge, ValidationError

#: Default cap on the decompressed size of one structured payload (256 MiB).
DEFAULT_MAX_DECOMPRESSED = 256 * 1024 * 1024

_LEVEL = 3


def compress(data: bytes, level: int = _LEVEL) -> bytes:
    """Compress ``data`` with zstd (content size recorded in the frame)."""
    return zstandard.ZstdCompressor(level=level, write_content_size=True).compress(data)


def decompress(data: bytes, max_size: int = DEFAULT_MAX_DECOMPRESSED) -> bytes:
    """Decompress a zstd frame, refusing to produce more than ``max_size`` bytes.

    The output is produced in bounded chunks so a forged frame header cannot make
    us allocate more than ``max_size`` (plus one chunk) before we notice.

    Raises:
        PayloadTooLarge: the decompressed data would exceed ``max_size``.
        ValidationError: ``data`` is not a valid zstd stream.
    """
    out = io.BytesIO()
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data))
        with reader:
            while True:
                chunk = reader.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
                if out.tell() > max_size:
                    raise PayloadTooLarge(
                        f"decompressed payload exceeds the limit of {max_size} bytes"
                    )
    except zstandard.ZstdError as exc:
        raise ValidationError(f"invalid zstd data: {exc}") from exc
    return out.getvalue()
