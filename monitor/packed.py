"""Text held lz4-compressed in memory until it is written: the per-account metric families.

At 100,000 accounts the per-account series are 33 MB of text, rendered once per cycle and
read once per scrape. Held as text they were a third of the daemon's memory. lz4 packs them
to about an eighth in ~25 ms and a scrape unpacks them in ~6 ms (bench/metrics.py), so holding
them packed costs a scrape little and a cycle less.
"""

from __future__ import annotations

import lz4.block


class Packed:
    """Bytes kept lz4-compressed; `len()` is the length of the text, as a body's length."""

    __slots__ = ("_data", "_size")

    def __init__(self, text: bytes) -> None:
        self._data: bytes = lz4.block.compress(text, store_size=False)
        self._size = len(text)

    def __len__(self) -> int:
        return self._size

    @property
    def packed_size(self) -> int:
        return len(self._data)

    def unpack(self) -> bytes:
        text: bytes = lz4.block.decompress(self._data, uncompressed_size=self._size)
        return text


# A piece of a `/metrics` body: text, or text packed.
Part = bytes | Packed


def unpack(part: Part) -> bytes:
    return part if isinstance(part, bytes) else part.unpack()
