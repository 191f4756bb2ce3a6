"""Physical memory: a ``bytearray`` of ``pages * 4096`` bytes holding 32-bit little-endian words.

Every kernel structure lives in this memory in the encodings of docs/kernel.md §2, so a page that
was used as a kernel table reads back exactly as the C core's would.

Robustness (**model choice**, the contract says nothing about it): a physical address outside the
simulated RAM can only come from corrupted state (``debug_write_word``).  Such reads return 0 and
such writes are dropped, so no walk over corrupted structures can crash the model.
"""
from __future__ import annotations

import struct

from ..abi import PAGE_SIZE

_WORD = struct.Struct("<I")
WORD_MASK = 0xFFFFFFFF
WORDS_PER_PAGE = PAGE_SIZE // 4


class PhysicalMemory:
    """The simulated RAM (``pages`` 4 KiB pages, page 0 is the null page)."""

    def __init__(self, pages: int):
        self.pages = pages
        self.size = pages * PAGE_SIZE
        self.data = bytearray(self.size)
        #: bumped on every write, so observers can cache what they derived from the memory
        self.generation = 0

    def valid_page(self, page: int) -> bool:
        return 0 <= page < self.pages

    # ---- 32-bit words ----
    def read_word(self, pa: int) -> int:
        if 0 <= pa <= self.size - 4:
            return _WORD.unpack_from(self.data, pa)[0]
        return 0

    def write_word(self, pa: int, value: int) -> None:
        if 0 <= pa <= self.size - 4:
            _WORD.pack_into(self.data, pa, value & WORD_MASK)
            self.generation += 1

    def read_words(self, pa: int, count: int) -> tuple[int, ...]:
        """``count`` consecutive words (zeros where they fall outside memory)."""
        if 0 <= pa and pa + 4 * count <= self.size:
            return struct.unpack_from(f"<{count}I", self.data, pa)
        return tuple(self.read_word(pa + 4 * i) for i in range(count))

    def zero_words(self, pa: int, count: int) -> None:
        end = min(pa + 4 * count, self.size)
        if 0 <= pa < end:
            self.data[pa:end] = bytes(end - pa)
            self.generation += 1

    # ---- bytes (memory accesses of partitions, contexts) ----
    def read_bytes(self, pa: int, n: int) -> bytes:
        if 0 <= pa and pa + n <= self.size:
            return bytes(self.data[pa:pa + n])
        return bytes(self.read_byte(pa + i) for i in range(n))

    def read_byte(self, pa: int) -> int:
        return self.data[pa] if 0 <= pa < self.size else 0

    def write_bytes(self, pa: int, data: bytes) -> None:
        if 0 <= pa and pa + len(data) <= self.size:
            self.data[pa:pa + len(data)] = data
            self.generation += 1
