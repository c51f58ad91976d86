"""Reproducible benchmarks with same-run baselines (``python -m benchmarks``; see README.md)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Where benchmarks put their run directories (data dir, SQLite file, evidence blocks): the
# repository's ``.bench/`` — the filesystem the product's default data dir (``.data``) lives on —
# unless HUBAO_BENCH_DIR says otherwise. Not the system temp dir: on the dev machines creating a
# file directly under /tmp costs ~1 ms of CPU (0.02–0.3 ms elsewhere on the same disk, measured
# with one create+close per file), which would bill every evidence block to the product.
BENCH_DIR = Path(os.environ.get("HUBAO_BENCH_DIR") or Path(__file__).resolve().parent.parent / ".bench")


def run_dir(prefix: str) -> tempfile.TemporaryDirectory[str]:
    """A fresh run directory under :data:`BENCH_DIR`, removed when the context exits."""
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=prefix, dir=BENCH_DIR)
