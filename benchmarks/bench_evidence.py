"""Evidence store: CID throughput vs plain sha256 of the same bytes, and peak RSS on a 512 MB stream.

Baselines are measured in the same run: ``sha256`` over the identical chunk stream (the floor any
content addressing pays), and the peak RSS of a child process that only runs that sha256 — the
difference is what the DAG builder holds, which must not grow with the stream (512 MB here).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator

THROUGHPUT_BYTES = 256 * 1024 * 1024
RSS_BYTES = 512 * 1024 * 1024
PIECE = 1 << 20

_CHILD = r"""
import hashlib, os, resource, sys
from evidence_store.unixfs import compute_cid
mode, total, piece = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
block = bytearray(os.urandom(piece))
def stream():
    for i in range(total // piece):
        block[:8] = i.to_bytes(8, "big")  # distinct chunks, no dedup shortcut
        yield bytes(block)
if mode == "cid":
    compute_cid(stream(), 0)
else:
    h = hashlib.sha256()
    for chunk in stream():
        h.update(chunk)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _stream(total: int) -> Iterator[bytes]:
    block = bytearray(os.urandom(PIECE))
    for i in range(total // PIECE):
        block[:8] = i.to_bytes(8, "big")
        yield bytes(block)


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def _child_rss_kib(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(RSS_BYTES), str(PIECE)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip())


def run() -> dict[str, object]:
    from evidence_store.unixfs import compute_cid

    mb = THROUGHPUT_BYTES / 1e6

    def sha() -> None:
        h = hashlib.sha256()
        for chunk in _stream(THROUGHPUT_BYTES):
            h.update(chunk)

    sha_s = min(_timed(sha) for _ in range(2))
    v0_s = min(_timed(lambda: compute_cid(_stream(THROUGHPUT_BYTES), 0)) for _ in range(2))
    v1_s = min(_timed(lambda: compute_cid(_stream(THROUGHPUT_BYTES), 1)) for _ in range(2))
    rss_sha = _child_rss_kib("sha")
    rss_cid = _child_rss_kib("cid")
    return {
        "throughput_bytes": THROUGHPUT_BYTES,
        "sha256_MBps": round(mb / sha_s, 1),
        "cid_v0_MBps": round(mb / v0_s, 1),
        "cid_v1_MBps": round(mb / v1_s, 1),
        "cid_v0_vs_sha256_ratio": round(sha_s / v0_s, 3),
        "cid_v1_vs_sha256_ratio": round(sha_s / v1_s, 3),
        "rss_stream_bytes": RSS_BYTES,
        "peak_rss_sha256_only_MiB": round(rss_sha / 1024, 1),
        "peak_rss_cid_MiB": round(rss_cid / 1024, 1),
        "cid_extra_rss_MiB": round((rss_cid - rss_sha) / 1024, 1),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
