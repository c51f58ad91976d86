"""Evidence store: CID throughput vs plain sha256 of the same bytes, peak RSS on a 512 MB stream,
and the embedded blockstore's cost per 1 MiB upload as its pin count grows.

Baselines are measured in the same run: ``sha256`` over the identical chunk stream (the floor any
content addressing pays), and the peak RSS of a child process that only runs that sha256 — the
difference is what the DAG builder holds, which must not grow with the stream (512 MB here).

``add_per_upload``: for stores already holding N pins, the CPU (process time, every thread) and
wall time of ``add`` per sealed 1 MiB upload (the ciphertext of 1 MiB: six blocks), against a
baseline in the same run — :class:`PinsJsonBlockstore`, the add path of the blockstore before its
pins moved to SQLite (commit 6e7fa26: one file create + fsync + rename + directory fsync + mkdir per
block, and the whole ``pins.json`` loaded, searched and rewritten per pin). Stores live in a
scratch directory outside ``/tmp`` (on this machine a file created in ``/tmp`` costs ~1 ms CPU
against ~0.1 ms elsewhere on the same disk); ``scratch_dir`` names it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from evidence_store.interface import PinType
from evidence_store.multiformats import CID

PIECE = 1 << 20
UPLOAD_BYTES = 1 << 20
SCRATCH_PARENT = Path("/var/tmp")


@dataclass(frozen=True)
class Config:
    throughput_bytes: int
    rss_bytes: int
    pin_counts: tuple[int, ...]
    uploads: int  # timed uploads per store and pin count (the baseline at the largest count: fewer)
    baseline_uploads_at_max: int


FULL = Config(256 * 1024 * 1024, 512 * 1024 * 1024, (0, 10_000, 100_000), 40, 12)
QUICK = Config(8 * 1024 * 1024, 16 * 1024 * 1024, (0, 300), 3, 3)

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


def _child_rss_kib(mode: str, total: int) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(total), str(PIECE)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip())


class PinsJsonBlockstore:
    """The baseline: the blockstore's add path as it was before this change (blocks and pins only,
    same files, same syscalls), kept here so the benchmark can compare both in one run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._blocks = root / "blocks"
        self._tmp = root / "tmp"
        for path in (self._blocks, self._tmp):
            path.mkdir(parents=True, exist_ok=True)
        self._pins_path = root / "pins.json"

    @contextlib.contextmanager
    def _flock(self, name: str, exclusive: bool) -> Iterator[None]:
        with open(self.root / name, "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield

    def _write_block(self, cid: CID, data: bytes) -> None:
        from evidence_store.multiformats import b32encode

        name = b32encode(cid.multihash).upper()
        path = self._blocks / name[-3:-1] / name
        if path.exists():
            with contextlib.suppress(OSError):
                if cid.verify(path.read_bytes()):
                    return
        path.parent.mkdir(exist_ok=True)
        tmp = self._tmp / f"{path.name}.{secrets.token_hex(6)}"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _record_pin(self, cid: CID) -> None:
        with self._flock("pins.lock", exclusive=True):
            try:
                raw = json.loads(self._pins_path.read_text())
            except FileNotFoundError:
                raw = {}
            pins = {"recursive": list(raw.get("recursive", [])), "direct": list(raw.get("direct", []))}
            text = str(cid)
            if text in pins["direct"]:
                pins["direct"].remove(text)
            if text not in pins["recursive"]:
                pins["recursive"].append(text)
            tmp = self._tmp / f"pins.{secrets.token_hex(6)}"
            with open(tmp, "w") as fh:
                json.dump(pins, fh, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self._pins_path)

    def add(self, chunks: Iterable[bytes], *, cid_version: int = 0, pin: bool = True) -> CID:
        from evidence_store.unixfs import FileDagBuilder

        with self._flock("gc.lock", exclusive=False):
            builder = FileDagBuilder(cid_version, sink=self._write_block)
            for chunk in chunks:
                builder.write(chunk)
            root = builder.finish()
            if pin:
                self._record_pin(root)
        return root

    def pin_count(self) -> int:
        raw = json.loads(self._pins_path.read_text())
        return len(raw["recursive"]) + len(raw["direct"])


def _sealed_uploads(count: int) -> list[list[bytes]]:
    """``count`` ciphertexts of distinct 1 MiB plaintexts, as ``seal_evidence`` streams them."""
    from evidence_store.crypto import encrypt_stream, new_data_key

    return [list(encrypt_stream(new_data_key(), [os.urandom(UPLOAD_BYTES)])) for _ in range(count)]


def _prepare_root(root: Path, count: int) -> None:
    """A store root as one holding ``count`` items looks to an add: all 1,024 shard directories,
    and a pins.json of ``count`` recursive pins (CIDv1 like real uploads; no blocks behind them)."""
    from evidence_store.multiformats import RAW, sha256_multihash

    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    for first in alphabet:
        for second in alphabet:
            (root / "blocks" / f"{first}{second}").mkdir(parents=True)
    recursive = [str(CID(1, RAW, sha256_multihash(i.to_bytes(8, "big")))) for i in range(count)]
    (root / "pins.json").write_text(json.dumps({"recursive": recursive, "direct": []}, sort_keys=True))


class _AddClock:
    """CPU (process time: every thread) and wall time of one store's adds, summed."""

    def __init__(self, add: Callable[..., CID]) -> None:
        self._add = add
        self.uploads = 0
        self._cpu = 0.0
        self._wall = 0.0

    def add(self, ciphertext: list[bytes]) -> None:
        cpu, wall = time.process_time(), time.perf_counter()
        self._add(ciphertext, cid_version=1, pin=True)
        self._cpu += time.process_time() - cpu
        self._wall += time.perf_counter() - wall
        self.uploads += 1

    @property
    def cpu_ms(self) -> float:
        return self._cpu * 1000 / self.uploads

    @property
    def wall_ms(self) -> float:
        return self._wall * 1000 / self.uploads


def _add_per_upload(config: Config, scratch: Path) -> dict[str, object]:
    from evidence_store.local import LocalBlockstore

    uploads = _sealed_uploads(config.uploads)
    out: dict[str, object] = {"blocks_per_upload": len(_block_cids(uploads[0]))}
    for pins in config.pin_counts:
        base_root, hubao_root = scratch / f"baseline-{pins}", scratch / f"hubao-{pins}"
        _prepare_root(base_root, pins)
        _prepare_root(hubao_root, pins)
        baseline = PinsJsonBlockstore(base_root)
        started = time.perf_counter()
        store = LocalBlockstore(hubao_root)  # imports the pins.json once
        import_s = time.perf_counter() - started
        base_clock, hubao_clock = _AddClock(baseline.add), _AddClock(store.add)
        base_count = config.uploads if pins < max(config.pin_counts) else config.baseline_uploads_at_max
        # Interleaved, so a change in the machine's load (other jobs, the disk) hits both alike.
        for i, ciphertext in enumerate(uploads):
            if i < base_count:
                base_clock.add(ciphertext)
            hubao_clock.add(ciphertext)
        base_pins = baseline.pin_count()
        hubao_pins = len(store.pin_ls(PinType.RECURSIVE))
        store.close()
        shutil.rmtree(base_root)
        shutil.rmtree(hubao_root)
        out[f"pins_{pins}"] = {
            "baseline_pins_json": {
                "uploads": base_clock.uploads,
                "cpu_ms_per_upload": round(base_clock.cpu_ms, 2),
                "wall_ms_per_upload": round(base_clock.wall_ms, 2),
                "pins_after": base_pins,
            },
            "hubao": {
                "uploads": hubao_clock.uploads,
                "cpu_ms_per_upload": round(hubao_clock.cpu_ms, 2),
                "wall_ms_per_upload": round(hubao_clock.wall_ms, 2),
                "pins_after": hubao_pins,
                "import_pins_json_s": round(import_s, 3),
            },
            "cpu_ratio_baseline_vs_hubao": round(base_clock.cpu_ms / hubao_clock.cpu_ms, 2),
            "wall_ratio_baseline_vs_hubao": round(base_clock.wall_ms / hubao_clock.wall_ms, 2),
        }
    return out


def _block_cids(ciphertext: list[bytes]) -> list[CID]:
    from evidence_store.unixfs import FileDagBuilder

    cids: list[CID] = []
    builder = FileDagBuilder(1, sink=lambda cid, _block: cids.append(cid))
    for chunk in ciphertext:
        builder.write(chunk)
    builder.finish()
    return cids


def run(quick: bool = False) -> dict[str, object]:
    from evidence_store.unixfs import compute_cid

    config = QUICK if quick else FULL
    total = config.throughput_bytes
    mb = total / 1e6

    def sha() -> None:
        h = hashlib.sha256()
        for chunk in _stream(total):
            h.update(chunk)

    sha_s = min(_timed(sha) for _ in range(2))
    v0_s = min(_timed(lambda: compute_cid(_stream(total), 0)) for _ in range(2))
    v1_s = min(_timed(lambda: compute_cid(_stream(total), 1)) for _ in range(2))
    rss_sha = _child_rss_kib("sha", config.rss_bytes)
    rss_cid = _child_rss_kib("cid", config.rss_bytes)
    parent = SCRATCH_PARENT if SCRATCH_PARENT.is_dir() else Path(tempfile.gettempdir())
    scratch = Path(tempfile.mkdtemp(prefix="hubao-bench-evidence-", dir=parent))
    try:
        add_figures = _add_per_upload(config, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "throughput_bytes": total,
        "sha256_MBps": round(mb / sha_s, 1),
        "cid_v0_MBps": round(mb / v0_s, 1),
        "cid_v1_MBps": round(mb / v1_s, 1),
        "cid_v0_vs_sha256_ratio": round(sha_s / v0_s, 3),
        "cid_v1_vs_sha256_ratio": round(sha_s / v1_s, 3),
        "rss_stream_bytes": config.rss_bytes,
        "peak_rss_sha256_only_MiB": round(rss_sha / 1024, 1),
        "peak_rss_cid_MiB": round(rss_cid / 1024, 1),
        "cid_extra_rss_MiB": round((rss_cid - rss_sha) / 1024, 1),
        "scratch_dir": str(parent),
        "add_per_upload": add_figures,
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
