"""The mutations of scripts/fuzz_artifacts.py: seeded damage aimed at an artifact's
structure (flatbuffer tables, protobuf tags, zip and npy headers) rather than its weights.

    mutator = Mutator(Path("imdb-float32.onnx").read_bytes(), seed=0)
    description, data = mutator.mutate(12)     # the same bytes for (data, seed, 12)
"""
from __future__ import annotations

import random
import struct

# The first cases of every run are the same fixed ones; the rest are random mutations.
TRUNCATIONS = (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99)
FIXED = ("empty", "header-8", *(f"truncate-{int(p * 100)}%" for p in TRUNCATIONS),
         "truncate-last-byte")
KINDS = ("bitflip", "byte", "int32", "ff-run", "zero-run", "delete", "insert", "copy",
         "truncate")
INTERESTING_INT32 = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000,
                     0xFFFFFFFE, 0xFFFFFFFF)


def structure_regions(data: bytes, window: int = 256, distinct: int = 120) -> list:
    """(start, end) byte ranges that look like structure rather than weights: windows with
    few distinct byte values. A window of random float32 weights has ~180 distinct bytes;
    flatbuffer tables, protobuf tags, zip and npy headers have far fewer. The first and last
    KB are always included (headers, root offsets, zip central directory)."""
    n = len(data)
    starts = [i for i in range(0, n, window) if len(set(data[i:i + window])) < distinct]
    regions = [[0, min(n, 1024)], [max(0, n - 1024), n]]
    for i in starts:
        regions.append([i, min(n, i + window)])
    regions.sort()
    merged = []
    for start, end in regions:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged if b > a]


class Mutator:
    """mutate(index) -> (description, bytes): deterministic for (data, seed, index)."""

    def __init__(self, data: bytes, seed: int = 0):
        self.data, self.seed = data, seed
        self.regions = structure_regions(data)
        self._weights = [b - a for a, b in self.regions]

    def position(self, rng: random.Random) -> int:
        """3 in 4 inside a structure region, else anywhere."""
        if len(self.data) <= 1:
            return 0
        if rng.random() < 0.75:
            start, end = rng.choices(self.regions, weights=self._weights)[0]
            return rng.randrange(start, end)
        return rng.randrange(len(self.data))

    def mutate(self, index: int) -> tuple:
        data, n = self.data, len(self.data)
        if index < len(FIXED):
            kind = FIXED[index]
            if kind == "empty":
                return kind, b""
            if kind == "header-8":
                return kind, data[:8]
            if kind == "truncate-last-byte":
                return kind, data[:-1]
            return kind, data[:int(n * TRUNCATIONS[index - 2])]
        rng = random.Random(f"{self.seed}:{index}")  # str seeds hash with SHA-512: stable
        for _ in range(20):
            desc, out = self._random(rng)
            if out != data:
                return desc, out
        return "bitflip@0", bytes([data[0] ^ 1]) + data[1:]

    def _random(self, rng: random.Random) -> tuple:
        data, n = bytearray(self.data), len(self.data)
        kind = rng.choice(KINDS)
        at = self.position(rng)
        if kind == "bitflip":
            spots = [at] + [self.position(rng) for _ in range(rng.randrange(4))]
            for p in spots:
                data[p] ^= 1 << rng.randrange(8)
            return f"bitflip@{','.join(map(str, spots))}", bytes(data)
        if kind == "byte":
            value = rng.choice([0, 0xFF, 0x7F, 0x80, rng.randrange(256)])
            count = rng.randrange(1, 5)
            data[at:at + count] = bytes([value]) * len(data[at:at + count])
            return f"byte@{at}x{count}={value:#04x}", bytes(data)
        if kind == "int32":
            at &= ~3
            value = rng.choice(INTERESTING_INT32 + (n, n - 1, n + 1, rng.getrandbits(32)))
            data[at:at + 4] = struct.pack("<I", value & 0xFFFFFFFF)[:len(data[at:at + 4])]
            return f"int32@{at}={value:#x}", bytes(data)
        if kind == "ff-run":
            count = rng.randrange(2, 11)
            data[at:at + count] = b"\xff" * len(data[at:at + count])
            return f"ff-run@{at}x{count}", bytes(data)
        if kind == "zero-run":
            count = rng.randrange(8, 513)
            data[at:at + count] = bytes(len(data[at:at + count]))
            return f"zero-run@{at}x{count}", bytes(data)
        if kind == "delete":
            count = rng.randrange(1, 65)
            del data[at:at + count]
            return f"delete@{at}x{count}", bytes(data)
        if kind == "insert":
            chunk = rng.randbytes(rng.randrange(1, 65))
            data[at:at] = chunk
            return f"insert@{at}x{len(chunk)}", bytes(data)
        if kind == "copy":
            source = self.position(rng)
            count = min(rng.randrange(4, 257), n - at, n - source)
            data[at:at + count] = data[source:source + count]
            return f"copy@{source}->{at}x{count}", bytes(data)
        cut = at if at > 0 else 1
        return f"truncate@{cut}", bytes(data[:cut])
