"""The one evidence-store interface every backend implements (and one conformance suite tests).

Promises common to all implementations:

- Every byte returned (``cat``, ``block_get``, ``export_car``) has been re-hashed against its CID
  first; a mismatch raises :class:`~evidence_store.errors.IntegrityError` ("digest mismatch") and
  returns nothing of that block.
- ``add`` builds the same DAG as Kubo's ``ipfs add`` (CIDv0 defaults, or CIDv1 with raw leaves)
  and, with ``pin=True`` (the default, as in Kubo), pins it before returning: an acknowledged CID
  survives GC.
- ``block_put`` does not pin (as in Kubo); ``gc`` removes every block no pin reaches, and aborts
  without removing anything when a pinned DAG is broken.
- Streams go in and out chunk by chunk: memory does not grow with the file size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from evidence_store.multiformats import CID, RAW


class PinType(StrEnum):
    RECURSIVE = "recursive"
    DIRECT = "direct"
    INDIRECT = "indirect"


@dataclass(frozen=True, slots=True)
class BlockStat:
    cid: CID
    size: int


CidLike = CID | str


@runtime_checkable
class EvidenceStore(Protocol):
    """Content-addressed evidence storage (embedded blockstore or a Kubo node)."""

    def add(self, chunks: Iterable[bytes], *, cid_version: int = 0, pin: bool = True) -> CID:
        """Store the concatenated ``chunks`` as a UnixFS file; return the root CID (as ``ipfs add``)."""
        ...

    def cat(self, cid: CidLike) -> Iterator[bytes]:
        """The file under ``cid`` as verified chunks. Raises NotFound eagerly for an unknown root."""
        ...

    def block_get(self, cid: CidLike) -> bytes:
        """One verified block."""
        ...

    def block_put(self, data: bytes, *, codec: int = RAW, cid_version: int = 1, pin: bool = False) -> CID:
        """Store one block under the CID of ``data`` with ``codec``; not pinned unless asked."""
        ...

    def block_stat(self, cid: CidLike) -> BlockStat: ...

    def pin_add(self, cid: CidLike, *, recursive: bool = True) -> None:
        """Pin a block (direct) or a whole DAG (recursive; every block must be present and valid)."""
        ...

    def pin_rm(self, cid: CidLike, *, recursive: bool = True) -> None: ...

    def pin_ls(self, pin_type: PinType | None = None) -> dict[CID, PinType]:
        """Pins by CID; ``None`` lists recursive, direct and indirect pins."""
        ...

    def gc(self) -> list[CID]:
        """Remove unpinned blocks; return their CIDs (CIDv1 raw, the blockstore keys by multihash)."""
        ...

    def export_car(self, root: CidLike) -> Iterator[bytes]:
        """The DAG under ``root`` as CAR v1 bytes (verified blocks, ``ipfs dag export`` order)."""
        ...

    def import_car(self, chunks: Iterable[bytes]) -> list[CID]:
        """Import a CAR v1 stream, verifying every block; pin and return its roots."""
        ...

    def version(self) -> str:
        """Backend version string (Kubo's ``Version`` for a Kubo node)."""
        ...

    def close(self) -> None: ...


__all__ = ["BlockStat", "CidLike", "EvidenceStore", "PinType"]
