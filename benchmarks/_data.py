"""Deterministic input files: small CSVs for batch imports, one big CSV for the memory run."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

__all__ = ["csv_rows", "make_big_csv", "make_csv_files"]

_HEADER = "name,category,value,latitude,longitude\n"
_CATEGORIES = ("cafe", "school", "park", "library", "station", "market")


def csv_rows(rng: random.Random, count: int) -> str:
    """``count`` CSV rows of points (lat/lon columns, so the importer builds ``the_geom``)."""
    lines = []
    for i in range(count):
        lines.append(
            f"place {i},{rng.choice(_CATEGORIES)},{rng.randint(0, 10_000)},"
            f"{rng.uniform(-60, 70):.6f},{rng.uniform(-180, 180):.6f}\n"
        )
    return "".join(lines)


def make_csv_files(directory: Path, count: int, *, rows: int = 50, seed: int = 1) -> list[Path]:
    """Write ``count`` small CSV files (``file_000.csv``...) afresh and return their paths."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        path = directory / f"file_{i:03d}.csv"
        path.write_text(_HEADER + csv_rows(rng, rows), encoding="ascii")
        paths.append(path)
    return paths


def make_big_csv(path: Path, size: int, *, seed: int = 1) -> Path:
    """A CSV of exactly ``size`` bytes, written once in 1 MiB blocks (kept if already there).

    A header, then a seeded 1 MiB block of rows over and over; rows may be cut at block
    edges, which does not matter here: only the upload is measured.
    """
    if path.exists() and path.stat().st_size == size:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    block = bytearray()
    while len(block) < 2**20:
        block += csv_rows(rng, 256).encode("ascii")
    block_bytes = bytes(block[: 2**20])
    header = _HEADER.encode("ascii")[:size]
    tmp = path.with_name(f"{path.name}.part-{os.getpid()}")  # runs at once do not collide
    with open(tmp, "wb") as f:
        f.write(header)
        left = size - len(header)
        while left > 0:
            chunk = block_bytes[: min(left, len(block_bytes))]
            f.write(chunk)
            left -= len(chunk)
    tmp.replace(path)
    return path
