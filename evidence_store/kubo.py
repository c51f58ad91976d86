"""Evidence store on any Kubo RPC endpoint, through ipfshttpclient.

``ipfshttpclient.connect()`` (0.7.0, the last release) refuses daemons >= 0.8.0, so the client is
built with ``ipfshttpclient.Client(addr)`` directly and the version is only logged
(RELIABILITY B6). Nothing Kubo returns is trusted: ``add`` recomputes the CID locally while the
bytes stream out and refuses a different answer (:class:`CidMismatch`, the DAG is unpinned);
``cat``, ``block_get`` and ``export_car`` fetch blocks with ``block/get`` and re-hash each one
(Kubo does not re-hash on read by default).

Transport failures become typed errors: connection refused -> :class:`StoreUnavailable`
(API 503), no answer within the read timeout -> :class:`StoreTimeout` (API 504).
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

import ipfshttpclient
import requests
import urllib3
from ipfshttpclient import exceptions as ipfs_exc

from evidence_store.car import CarReader, car_stream
from evidence_store.errors import (
    CidMismatch,
    EvidenceStoreError,
    GcAborted,
    IntegrityError,
    NotFound,
    NotPinned,
    StoreTimeout,
    StoreUnavailable,
)
from evidence_store.interface import BlockStat, CidLike, PinType
from evidence_store.multiformats import CID, CODEC_NAMES, RAW
from evidence_store.unixfs import CHUNK_SIZE, FileDagBuilder, iter_dag, iter_file

# ipfshttpclient 0.7 (its last release) passes urllib3 2 a ``strict`` argument, and urllib3 warns
# on every new connection; `hubao audit` and `hubao serve` printed that warning to operators and
# auditors. Known and harmless below urllib3 3 (pinned in pyproject; RELIABILITY.md B7; the test
# suite's canary tolerates exactly this one).
warnings.filterwarnings(
    "ignore", message="The 'strict' parameter is no longer needed", category=FutureWarning, module=r"urllib3\."
)

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_CONNECT_TIMEOUT = 2.0


def to_multiaddr(api: str) -> str:
    """Accept a multiaddr (``/ip4/127.0.0.1/tcp/5001/http``) or a URL (``http://127.0.0.1:5001``)."""
    if api.startswith("/"):
        return api
    parts = urlsplit(api)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"Kubo RPC endpoint must be a URL or a multiaddr, got {api!r}")
    host = parts.hostname
    if host.replace(".", "").isdigit():
        proto = "ip4"
    elif ":" in host:
        proto = "ip6"
    else:
        proto = "dns"
    port = parts.port or (443 if parts.scheme == "https" else 5001)
    return f"/{proto}/{host}/tcp/{port}/{parts.scheme}"


def _exception_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if any(current is seen for seen in chain):
            continue
        chain.append(current)
        pending.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)
    return chain


def _is_timeout(exc: BaseException) -> bool:
    """A read or connect timeout, as opposed to a refused or reset connection.

    urllib3's NewConnectionError (connection refused) subclasses ConnectTimeoutError, so refusals
    are recognised first.
    """
    chain = _exception_chain(exc)
    if any(isinstance(e, urllib3.exceptions.NewConnectionError | ConnectionRefusedError) for e in chain):
        return False
    return any(
        isinstance(e, ipfs_exc.TimeoutError | requests.Timeout | urllib3.exceptions.TimeoutError | TimeoutError)
        for e in chain
    )


class _TeeReader(io.RawIOBase):
    """File-like view of a chunk iterator that also feeds every byte to a local DAG builder."""

    def __init__(self, chunks: Iterable[bytes], builder: FileDagBuilder) -> None:
        self._source = iter(chunks)
        self._builder = builder
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        want = CHUNK_SIZE if size is None or size < 0 else size
        while not self._buffer:
            nxt = next(self._source, None)
            if nxt is None:
                return b""
            self._builder.write(nxt)
            self._buffer = bytes(nxt)
        out, self._buffer = self._buffer[:want], self._buffer[want:]
        return out


class _BytesStreamReader(io.RawIOBase):
    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._source = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        want = CHUNK_SIZE if size is None or size < 0 else size
        while not self._buffer:
            nxt = next(self._source, None)
            if nxt is None:
                return b""
            self._buffer = bytes(nxt)
        out, self._buffer = self._buffer[:want], self._buffer[want:]
        return out


class KuboStore:
    """An :class:`~evidence_store.interface.EvidenceStore` backed by a Kubo RPC API.

    ``timeout`` is the read timeout in seconds for every RPC call; connecting gives up after
    ``connect_timeout`` seconds (daemon down answers at once with connection refused anyway).
    """

    def __init__(self, api: str, timeout: float, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
        self.api = api
        self.timeout = timeout
        # Client(), not connect(): connect() refuses Kubo >= 0.8.0 (py-ipfs-http-client#313).
        self._client: Any = ipfshttpclient.Client(to_multiaddr(api), timeout=(connect_timeout, timeout))
        self._version: str | None = None

    # --- error mapping --------------------------------------------------------------------------

    def _call(self, fn: Callable[[], T], cid: str = "") -> T:
        try:
            return fn()
        except EvidenceStoreError:
            raise
        except ipfs_exc.ErrorResponse as exc:
            raise self._map_error_response(str(exc), cid) from exc
        except (ipfs_exc.CommunicationError, requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            if _is_timeout(exc):
                raise StoreTimeout(f"Kubo RPC at {self.api} did not answer within {self.timeout}s") from exc
            raise StoreUnavailable(f"Kubo RPC at {self.api} unavailable ({exc.__class__.__name__})") from exc

    @staticmethod
    def _map_error_response(message: str, cid: str) -> EvidenceStoreError:
        lowered = message.lower()
        if "digest mismatch" in lowered:
            return IntegrityError(cid or "?", f"block {cid}: digest mismatch (reported by the node)")
        if "not pinned" in lowered:
            return NotPinned(message)
        if "not found" in lowered or "could not find" in lowered:
            return NotFound(cid or "?", message)
        return EvidenceStoreError(f"Kubo RPC error: {message}", code="EVIDENCE_STORE_ERROR")

    # --- blocks ---------------------------------------------------------------------------------

    def block_get(self, cid: CidLike) -> bytes:
        parsed = CID.parse(cid)
        text = str(parsed)
        data = self._call(lambda: bytes(self._client.block.get(text)), text)
        if not parsed.verify(data):
            raise IntegrityError(text)
        return data

    def block_put(self, data: bytes, *, codec: int = RAW, cid_version: int = 1, pin: bool = False) -> CID:
        expected = CID.for_block(data, codec, cid_version)
        opts = {"format": "v0"} if cid_version == 0 else {"cid-codec": CODEC_NAMES[codec]}
        answer = self._call(lambda: self._client.block.put(io.BytesIO(data), opts=opts))
        got = CID.parse(str(answer["Key"]))
        if got.multihash != expected.multihash:
            raise CidMismatch(str(expected), str(got))
        if pin:
            self.pin_add(expected, recursive=False)
        return expected

    def block_stat(self, cid: CidLike) -> BlockStat:
        text = str(CID.parse(cid))
        answer = self._call(lambda: self._client.block.stat(text), text)
        return BlockStat(CID.parse(text), int(answer["Size"]))

    # --- files ----------------------------------------------------------------------------------

    def add(self, chunks: Iterable[bytes], *, cid_version: int = 0, pin: bool = True) -> CID:
        builder = FileDagBuilder(cid_version)
        reader = _TeeReader(chunks, builder)
        answer = self._call(
            lambda: self._client.add(
                reader,
                pin=pin,
                cid_version=cid_version,
                raw_leaves=cid_version == 1,
                chunker=f"size-{CHUNK_SIZE}",
            )
        )
        expected = builder.finish()
        got = CID.parse(str(answer["Hash"]))
        if got != expected:
            if pin:
                with contextlib.suppress(EvidenceStoreError):
                    self.pin_rm(got)
            raise CidMismatch(str(expected), str(got))
        return expected

    def cat(self, cid: CidLike) -> Iterator[bytes]:
        root = CID.parse(cid)
        first = self.block_get(root)

        def get(c: CID) -> bytes:
            return first if c == root else self.block_get(c)

        return iter_file(get, root)

    # --- pins -----------------------------------------------------------------------------------

    def pin_add(self, cid: CidLike, *, recursive: bool = True) -> None:
        text = str(CID.parse(cid))
        self._call(lambda: self._client.pin.add(text, recursive=recursive), text)

    def pin_rm(self, cid: CidLike, *, recursive: bool = True) -> None:
        text = str(CID.parse(cid))
        self._call(lambda: self._client.pin.rm(text, recursive=recursive), text)

    def pin_ls(self, pin_type: PinType | None = None) -> dict[CID, PinType]:
        answer = self._call(lambda: self._client.pin.ls(type=str(pin_type) if pin_type else "all"))
        keys = answer["Keys"] or {}
        return {CID.parse(str(text)): PinType(str(info["Type"])) for text, info in keys.items()}

    def gc(self) -> list[CID]:
        try:
            answer = self._call(lambda: self._client.repo.gc())
        except EvidenceStoreError as exc:
            if exc.code == "EVIDENCE_STORE_ERROR":
                raise GcAborted(f"gc aborted by the node: {exc.message}") from exc
            raise
        removed: list[CID] = []
        for item in answer or []:
            if item.get("Error"):
                raise GcAborted(f"gc reported an error: {item['Error']}")
            key = item.get("Key")
            if key:
                removed.append(CID.parse(str(key["/"])))
        return removed

    # --- CAR ------------------------------------------------------------------------------------

    def export_car(self, root: CidLike) -> Iterator[bytes]:
        parsed = CID.parse(root)
        first = self.block_get(parsed)

        def get(c: CID) -> bytes:
            return first if c == parsed else self.block_get(c)

        return car_stream([parsed], iter_dag(get, parsed))

    def import_car(self, chunks: Iterable[bytes]) -> list[CID]:
        reader = CarReader.open(chunks)
        # Blocks are re-hashed here as they stream to the node: a bad block aborts the upload,
        # and Kubo pins the roots only after a complete import.
        verified = car_stream(reader.roots, reader.blocks())
        items = self._call(lambda: list(self._client.dag.imprt(_BytesStreamReader(verified), stream=True)))
        imported: set[str] = set()
        for item in items:
            root = item.get("Root")
            if not root:
                continue
            if root.get("PinErrorMsg"):
                raise EvidenceStoreError(f"CAR import: pinning failed: {root['PinErrorMsg']}")
            imported.add(str(CID.parse(str(root["Cid"]["/"]))))
        missing = [str(r) for r in reader.roots if str(r) not in imported]
        if missing:
            raise EvidenceStoreError(f"CAR import: node did not report roots {missing}")
        return reader.roots

    # --- misc -----------------------------------------------------------------------------------

    def version(self) -> str:
        answer = self._call(lambda: self._client.version())
        version = str(answer["Version"])
        if version != self._version:
            log.info("kubo rpc version", extra={"kubo_version": version, "api": self.api})
            self._version = version
        return version

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()


__all__ = ["KuboStore", "to_multiaddr"]
