"""``hubao cid`` and ``hubao evidence-store export-car / import-car`` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from evidence_store import LocalBlockstore
from tests.evidence_store.support import VECTOR_DIR, vector_content

HUBAO = Path(sys.executable).with_name("hubao")
KUBO = json.loads((VECTOR_DIR / "cid-kubo-add.json").read_text())
V1 = json.loads((VECTOR_DIR / "cid-v1-raw-leaves.json").read_text())


def _hubao(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HUBAO), *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False)


@pytest.mark.parametrize("size", [0, 262145, 524288])
def test_cid_prints_kubo_cid_for_file(tmp_path: Path, size: int) -> None:
    path = tmp_path / "file.bin"
    with open(path, "wb") as fh:
        for chunk in vector_content(size):
            fh.write(chunk)
    v0 = _hubao("cid", str(path), cwd=tmp_path)
    assert v0.returncode == 0, v0.stderr
    assert v0.stdout == next(r["cid"] for r in KUBO["vectors"] if r["size"] == size) + "\n"
    v1 = _hubao("cid", str(path), "--cid-version", "1", cwd=tmp_path)
    assert v1.stdout == next(r["cid"] for r in V1["vectors"] if r["size"] == size) + "\n"


def test_cid_of_missing_file_is_one_error_line(tmp_path: Path) -> None:
    result = _hubao("cid", str(tmp_path / "nope"), cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr


def test_export_then_import_car_between_data_dirs(tmp_path: Path) -> None:
    source = LocalBlockstore(tmp_path / "a" / "evidence")
    root = source.add(vector_content(600_000), cid_version=1)
    out = tmp_path / "dag.car"
    exported = _hubao(
        "evidence-store", "export-car", str(root), str(out), "--data-dir", str(tmp_path / "a"), cwd=tmp_path
    )
    assert exported.returncode == 0, exported.stderr
    imported = _hubao("evidence-store", "import-car", str(out), "--data-dir", str(tmp_path / "b"), cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == str(root)
    target = LocalBlockstore(tmp_path / "b" / "evidence")
    assert b"".join(target.cat(root)) == b"".join(vector_content(600_000))


def test_import_car_of_corrupt_file_fails_cleanly(tmp_path: Path) -> None:
    source = LocalBlockstore(tmp_path / "a" / "evidence")
    root = source.add([b"hello world\n"])
    car = bytearray(b"".join(source.export_car(root)))
    car[-1] ^= 1
    (tmp_path / "bad.car").write_bytes(bytes(car))
    result = _hubao(
        "evidence-store", "import-car", str(tmp_path / "bad.car"), "--data-dir", str(tmp_path / "b"), cwd=tmp_path
    )
    assert result.returncode == 1
    assert "digest mismatch" in result.stderr
    assert "Traceback" not in result.stderr
