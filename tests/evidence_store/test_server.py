"""Kubo RPC request / response shapes of the embedded server, over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from evidence_store import LocalBlockstore
from evidence_store.server import running_server

HELLO = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[str]:
    with running_server(LocalBlockstore(tmp_path)) as url:
        yield f"{url}/api/v0"


def _add(api: str, data: bytes, **params: str) -> httpx.Response:
    return httpx.post(f"{api}/add", params=params, files={"file": ("hello.txt", data)}, timeout=10)


def test_add_answers_kubo_json_line(api: str) -> None:
    response = _add(api, b"hello world\n")
    assert response.status_code == 200
    assert json.loads(response.text.strip()) == {"Name": "hello.txt", "Hash": HELLO, "Size": "20"}
    v1 = _add(api, b"hello world\n", **{"cid-version": "1"})
    assert json.loads(v1.text)["Hash"] == "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"


def test_cat_offset_and_length_stream_file_bytes(api: str) -> None:
    data = bytes(range(256)) * 2000
    cid = json.loads(_add(api, data).text)["Hash"]
    assert httpx.post(f"{api}/cat", params={"arg": cid}).content == data
    part = httpx.post(f"{api}/cat", params={"arg": f"/ipfs/{cid}", "offset": "262140", "length": "10"})
    assert part.content == data[262140:262150]


def test_errors_use_kubo_error_json(api: str) -> None:
    missing = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    response = httpx.post(f"{api}/block/get", params={"arg": missing})
    assert response.status_code == 500
    body = response.json()
    assert body["Type"] == "error"
    assert body["Code"] == 0
    assert missing in body["Message"]
    no_arg = httpx.post(f"{api}/block/stat")
    assert no_arg.status_code == 400
    assert no_arg.json() == {"Message": 'argument "cid" is required', "Code": 1, "Type": "error"}
    unpinned = httpx.post(f"{api}/pin/rm", params={"arg": HELLO})
    assert unpinned.status_code == 500
    assert "not pinned" in unpinned.json()["Message"]


def test_get_is_refused_like_kubo(api: str) -> None:
    assert httpx.get(f"{api}/version").status_code == 405


def test_block_put_formats_and_stat(api: str) -> None:
    raw = httpx.post(f"{api}/block/put", files={"data": ("b", b"abc")}).json()
    assert raw == {"Key": "bafkreif2pall7dybz7vecqka3zo24irdwabwdi4wc55jznaq75q7eaavvu", "Size": 3}
    stat = httpx.post(f"{api}/block/stat", params={"arg": raw["Key"]}).json()
    assert stat == raw
    node = httpx.post(f"{api}/block/get", params={"arg": json.loads(_add(api, b"hello world\n").text)["Hash"]})
    v0 = httpx.post(f"{api}/block/put", params={"format": "v0"}, files={"data": ("b", node.content)}).json()
    assert v0 == {"Key": HELLO, "Size": len(node.content)}


def test_pin_ls_gc_and_id_shapes(api: str) -> None:
    _add(api, b"hello world\n")
    scratch = httpx.post(f"{api}/block/put", files={"data": ("b", b"scratch")}).json()["Key"]
    assert httpx.post(f"{api}/pin/ls", params={"type": "recursive"}).json() == {"Keys": {HELLO: {"Type": "recursive"}}}
    assert httpx.post(f"{api}/pin/ls", params={"arg": scratch}).json()["Message"] == f"path '{scratch}' is not pinned"
    gc = [json.loads(line) for line in httpx.post(f"{api}/repo/gc").text.splitlines()]
    assert gc == [{"Key": {"/": scratch}}]
    ident = httpx.post(f"{api}/id").json()
    assert ident["ID"].startswith("12D3KooW")
    assert set(ident) >= {"PublicKey", "Addresses", "AgentVersion"}
    assert httpx.post(f"{api}/version").json()["Version"] == "0.22.0"


def test_dag_export_import_round_trip(api: str) -> None:
    cid = json.loads(_add(api, bytes(300_000), **{"cid-version": "1", "pin": "false"}).text)["Hash"]
    car = httpx.post(f"{api}/dag/export", params={"arg": cid}).content
    answer = httpx.post(f"{api}/dag/import", files={"file": ("x.car", car)})
    assert json.loads(answer.text) == {"Root": {"Cid": {"/": cid}, "PinErrorMsg": ""}}
    assert httpx.post(f"{api}/pin/ls", params={"arg": cid}).json() == {"Keys": {cid: {"Type": "recursive"}}}


def test_server_refuses_non_loopback_bind(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="loopback"), running_server(LocalBlockstore(tmp_path), host="0.0.0.0"):
        pass
