"""A Kubo-RPC-compatible HTTP server over the embedded blockstore (loopback only).

Implements, with Kubo's request and response shapes (POST ``/api/v0/<command>``, arguments in
``arg`` query parameters, multipart bodies for ``add``, ``block/put`` and ``dag/import``, JSON
answers, errors as ``{"Message", "Code", "Type": "error"}`` with status 500 — 400 with ``Code``
1 for a bad or missing argument, as go-ipfs-cmds does): ``add``, ``cat``, ``block/get``,
``block/put``, ``block/stat``, ``pin/add``, ``pin/rm``, ``pin/ls``, ``dag/export``,
``dag/import``, ``repo/gc``, ``version``, ``id``.

Bodies stream both ways: multipart uploads are parsed incrementally on the event loop and pulled
chunk by chunk by the store running in a worker thread, so nothing is spooled to disk or memory
beyond one chunk (``evidence_store.multipart``); ``cat`` and ``dag/export`` stream verified
blocks. A block that fails its hash mid-stream aborts the response (Kubo would set
``X-Stream-Error``): no unverified byte is sent.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Final

import anyio
import anyio.to_thread
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from evidence_store.dagpb import decode_pbnode
from evidence_store.errors import (
    EvidenceStoreError,
    GcAborted,
    IntegrityError,
    InvalidCid,
    NotFound,
    NotPinned,
)
from evidence_store.interface import PinType
from evidence_store.local import LocalBlockstore
from evidence_store.multiformats import CID, CODECS_BY_NAME, DAG_PB, RAW, b58encode, encode_varint
from evidence_store.multipart import BadArgument, MultipartStream
from evidence_store.unixfs import compute_cid

# The Kubo release whose RPC shapes (and CIDs) this server reproduces.
KUBO_COMPAT_VERSION: Final = "0.22.0"
LOOPBACK: Final = frozenset({"127.0.0.1", "::1"})
_TRUE: Final = frozenset({"true", "1", "yes", "t", "y", ""})


def _kubo_error(message: str, status: int = 500, code: int = 0) -> JSONResponse:
    return JSONResponse({"Message": message, "Code": code, "Type": "error"}, status_code=status)


def _error_response(exc: Exception) -> JSONResponse:
    if isinstance(exc, BadArgument):
        return _kubo_error(str(exc), 400, 1)
    if isinstance(exc, NotFound):
        return _kubo_error(f"block was not found locally (offline): ipld: could not find {exc.cid}")
    if isinstance(exc, NotPinned):
        return _kubo_error(f"{exc.message}" if "not pinned" in exc.message else "not pinned or pinned indirectly")
    if isinstance(exc, IntegrityError):
        return _kubo_error(exc.message)
    if isinstance(exc, InvalidCid):
        return _kubo_error(f"invalid path: {exc.message}", 400, 1)
    if isinstance(exc, EvidenceStoreError):
        return _kubo_error(exc.message)
    return _kubo_error("internal error")


def _ndjson(items: list[dict[str, Any]]) -> Response:
    body = "".join(json.dumps(item, separators=(",", ":")) + "\n" for item in items)
    return Response(body, media_type="application/json", headers={"X-Chunked-Output": "1"})


def _flag(request: Request, name: str, default: bool) -> bool:
    value = request.query_params.get(name)
    return default if value is None else value.lower() in _TRUE


def _args(request: Request, name: str) -> list[str]:
    args = request.query_params.getlist("arg")
    if not args:
        raise BadArgument(f'argument "{name}" is required')
    return args


def _cid_arg(text: str) -> CID:
    text = text.strip()
    if text.startswith("/ipfs/"):
        text = text[len("/ipfs/") :]
    if "/" in text:
        raise BadArgument(f"paths below a CID are not supported: {text}")
    return CID.parse(text)


def _dag_size(root: CID, block: bytes) -> int:
    if root.codec == RAW:
        return len(block)
    return len(block) + sum(link.tsize for link in decode_pbnode(block).links)


class KuboRpcApp:
    """The ASGI application; ``version`` is what ``/api/v0/version`` reports."""

    def __init__(self, store: LocalBlockstore, *, version: str = KUBO_COMPAT_VERSION) -> None:
        self.store = store
        self.kubo_version = version
        self.peer_id, self.public_key = _identity(store.root / "identity.key")
        handlers: dict[str, Callable[[Request], Awaitable[Response]]] = {
            "add": self.add,
            "cat": self.cat,
            "block/get": self.block_get,
            "block/put": self.block_put,
            "block/stat": self.block_stat,
            "pin/add": self.pin_add,
            "pin/rm": self.pin_rm,
            "pin/ls": self.pin_ls,
            "dag/export": self.dag_export,
            "dag/import": self.dag_import,
            "repo/gc": self.repo_gc,
            "version": self.version,
            "id": self.id,
        }
        routes = [Route(f"/api/v0/{name}", self._wrap(fn), methods=["POST", "GET"]) for name, fn in handlers.items()]
        self.app = Starlette(routes=routes)

    @staticmethod
    def _wrap(fn: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if request.method != "POST":  # Kubo refuses GET on the RPC API (CSRF protection)
                return Response("405 - Method Not Allowed", status_code=405, media_type="text/plain")
            try:
                return await fn(request)
            except (EvidenceStoreError, BadArgument) as exc:
                return _error_response(exc)
            except ValueError as exc:  # malformed numbers in query parameters
                return _error_response(BadArgument(str(exc)))

        return endpoint

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    # --- files ----------------------------------------------------------------------------------

    async def add(self, request: Request) -> Response:
        cid_version = int(request.query_params.get("cid-version", "0"))
        raw_leaves = _flag(request, "raw-leaves", cid_version == 1)
        chunker = request.query_params.get("chunker", "size-262144")
        if cid_version not in (0, 1) or raw_leaves != (cid_version == 1) or chunker != "size-262144":
            raise BadArgument("only Kubo's defaults (or --cid-version=1 with raw leaves) are supported")
        if _flag(request, "trickle", False) or _flag(request, "wrap-with-directory", False):
            raise BadArgument("trickle and wrap-with-directory are not supported")
        pin = _flag(request, "pin", True)
        only_hash = _flag(request, "only-hash", False)
        parts = MultipartStream(request)

        def run() -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            for part, data in parts.parts():
                if part.content_type == "application/x-directory":
                    raise BadArgument("directories are not supported")
                if only_hash:
                    cid = compute_cid(data, cid_version)
                    size = "0"
                else:
                    cid = self.store.add(data, cid_version=cid_version, pin=pin)
                    size = str(_dag_size(cid, self.store.block_get(cid)))
                out.append({"Name": part.filename or str(cid), "Hash": str(cid), "Size": size})
            if not out:
                raise BadArgument("file argument 'path' is required")
            return out

        return _ndjson(await anyio.to_thread.run_sync(run))

    async def cat(self, request: Request) -> Response:
        cid = _cid_arg(_args(request, "ipfs-path")[0])
        offset = int(request.query_params.get("offset", "0"))
        length_text = request.query_params.get("length")
        length = int(length_text) if length_text is not None else None
        if offset < 0 or (length is not None and length < 0):
            raise BadArgument("offset and length must be non-negative")
        chunks = await anyio.to_thread.run_sync(self.store.cat, cid)
        return StreamingResponse(
            _window(chunks, offset, length), media_type="text/plain", headers={"X-Stream-Output": "1"}
        )

    # --- blocks ---------------------------------------------------------------------------------

    async def block_get(self, request: Request) -> Response:
        cid = _cid_arg(_args(request, "cid")[0])
        data = await anyio.to_thread.run_sync(self.store.block_get, cid)
        return Response(data, media_type="text/plain")

    async def block_put(self, request: Request) -> Response:
        codec, version = _block_put_codec(request)
        pin = _flag(request, "pin", False)
        parts = MultipartStream(request)

        def run() -> list[dict[str, Any]]:
            out = []
            for _part, data in parts.parts():
                block = bytearray()
                for piece in data:
                    block += piece
                    if len(block) > 2 * 1024 * 1024:
                        raise EvidenceStoreError("produced block is over 2MiB: big blocks can't be exchanged")
                cid = self.store.block_put(bytes(block), codec=codec, cid_version=version, pin=pin)
                out.append({"Key": str(cid), "Size": len(block)})
            if not out:
                raise BadArgument("file argument 'data' is required")
            return out

        return _ndjson(await anyio.to_thread.run_sync(run))

    async def block_stat(self, request: Request) -> Response:
        cid = _cid_arg(_args(request, "cid")[0])
        stat = await anyio.to_thread.run_sync(self.store.block_stat, cid)
        return JSONResponse({"Key": str(stat.cid), "Size": stat.size})

    # --- pins -----------------------------------------------------------------------------------

    async def pin_add(self, request: Request) -> Response:
        cids = [_cid_arg(a) for a in _args(request, "ipfs-path")]
        recursive = _flag(request, "recursive", True)

        def run() -> None:
            for cid in cids:
                self.store.pin_add(cid, recursive=recursive)

        await anyio.to_thread.run_sync(run)
        return JSONResponse({"Pins": [str(c) for c in cids]})

    async def pin_rm(self, request: Request) -> Response:
        cids = [_cid_arg(a) for a in _args(request, "ipfs-path")]
        recursive = _flag(request, "recursive", True)

        def run() -> None:
            for cid in cids:
                self.store.pin_rm(cid, recursive=recursive)

        await anyio.to_thread.run_sync(run)
        return JSONResponse({"Pins": [str(c) for c in cids]})

    async def pin_ls(self, request: Request) -> Response:
        type_name = request.query_params.get("type", "all")
        if type_name not in ("all", "recursive", "direct", "indirect"):
            raise BadArgument(f"invalid type '{type_name}', must be one of {{direct, indirect, recursive, all}}")
        pin_type = None if type_name == "all" else PinType(type_name)
        pins = await anyio.to_thread.run_sync(self.store.pin_ls, pin_type)
        wanted = [_cid_arg(a) for a in request.query_params.getlist("arg")]
        if wanted:
            by_hash = {c.multihash: (c, t) for c, t in pins.items()}
            keys = {}
            for cid in wanted:
                if cid.multihash not in by_hash:
                    return _kubo_error(f"path '{cid}' is not pinned")
                keys[str(cid)] = {"Type": str(by_hash[cid.multihash][1])}
        else:
            keys = {str(c): {"Type": str(t)} for c, t in pins.items()}
        return JSONResponse({"Keys": keys})

    # --- DAG / CAR ------------------------------------------------------------------------------

    async def dag_export(self, request: Request) -> Response:
        cid = _cid_arg(_args(request, "root")[0])
        chunks = await anyio.to_thread.run_sync(self.store.export_car, cid)
        return StreamingResponse(chunks, media_type="application/vnd.ipld.car", headers={"X-Stream-Output": "1"})

    async def dag_import(self, request: Request) -> Response:
        parts = MultipartStream(request)

        def run() -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            for _part, data in parts.parts():
                for root in self.store.import_car(data):
                    out.append({"Root": {"Cid": {"/": str(root)}, "PinErrorMsg": ""}})
            return out

        return _ndjson(await anyio.to_thread.run_sync(run))

    async def repo_gc(self, request: Request) -> Response:
        try:
            removed = await anyio.to_thread.run_sync(self.store.gc)
        except GcAborted as exc:
            # Kubo reports GC failures in-band, one {"Error": ...} object per problem.
            return _ndjson([{"Error": exc.message}])
        return _ndjson([{"Key": {"/": str(cid)}} for cid in removed])

    # --- misc -----------------------------------------------------------------------------------

    async def version(self, request: Request) -> Response:
        return JSONResponse(
            {"Version": self.kubo_version, "Commit": "hubao", "Repo": "15", "System": "amd64/linux", "Golang": "n/a"}
        )

    async def id(self, request: Request) -> Response:
        return JSONResponse(
            {
                "ID": self.peer_id,
                "PublicKey": self.public_key,
                "Addresses": [],
                "AgentVersion": f"kubo/{self.kubo_version}/hubao-evidence-store",
                "ProtocolVersion": "ipfs/0.1.0",
                "Protocols": [],
            }
        )


def _window(chunks: Iterator[bytes], offset: int, length: int | None) -> Iterator[bytes]:
    position = 0
    remaining = length
    for chunk in chunks:
        start = max(0, offset - position)
        position += len(chunk)
        if start >= len(chunk):
            continue
        piece = chunk[start:] if remaining is None else chunk[start : start + remaining]
        if remaining is not None:
            remaining -= len(piece)
        if piece:
            yield piece
        if remaining == 0:
            return


def _block_put_codec(request: Request) -> tuple[int, int]:
    """Kubo >= 0.13: ``cid-codec`` (default raw, CIDv1); legacy ``format`` (v0 / protobuf / raw)."""
    legacy = request.query_params.get("format")
    codec_name = request.query_params.get("cid-codec")
    if legacy and codec_name:
        raise BadArgument('unable to use "format" (deprecated) and a custom "cid-codec" at the same time')
    if legacy:
        if legacy in ("v0", "protobuf"):
            return DAG_PB, 0
        if legacy == "raw":
            return RAW, 1
        raise BadArgument(f"unsupported format {legacy!r}")
    codec_name = codec_name or "raw"
    if codec_name not in CODECS_BY_NAME:
        raise BadArgument(f"unsupported cid-codec {codec_name!r} (raw, dag-pb)")
    return CODECS_BY_NAME[codec_name], 1


def _identity(path: Path) -> tuple[str, str]:
    """A persistent ed25519 peer identity: (peer id ``12D3KooW…``, base64 protobuf public key)."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, Ed25519PrivateKey)
    else:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        with contextlib.suppress(FileExistsError), open(path, "xb") as fh:
            fh.write(pem)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    proto = b"\x08\x01\x12" + encode_varint(len(raw)) + raw  # libp2p PublicKey{Type: Ed25519, Data}
    peer_id = b58encode(b"\x00" + encode_varint(len(proto)) + proto)  # identity multihash
    return peer_id, base64.b64encode(proto).decode("ascii")


def create_app(store: LocalBlockstore, *, version: str = KUBO_COMPAT_VERSION) -> KuboRpcApp:
    return KuboRpcApp(store, version=version)


def _check_loopback(host: str) -> None:
    if host not in LOOPBACK:
        raise ValueError(f"the Kubo RPC API is admin-level: bind it to loopback only, not {host!r}")


def serve(store: LocalBlockstore, port: int, *, host: str = "127.0.0.1", version: str = KUBO_COMPAT_VERSION) -> None:
    """Serve in the foreground until interrupted."""
    _check_loopback(host)
    uvicorn.run(create_app(store, version=version), host=host, port=port, log_level="warning", lifespan="off")


@contextlib.contextmanager
def running_server(
    store: LocalBlockstore,
    *,
    version: str = KUBO_COMPAT_VERSION,
    host: str = "127.0.0.1",
    app_class: type[KuboRpcApp] = KuboRpcApp,
) -> Iterator[str]:
    """Serve on a free loopback port in a background thread; yield the API URL.

    ``app_class`` lets tests serve a deliberately misbehaving node over real HTTP."""
    _check_loopback(host)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app_class(store, version=version), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("evidence-store RPC server did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


__all__ = ["KUBO_COMPAT_VERSION", "KuboRpcApp", "create_app", "running_server", "serve"]
