"""Step 3's signature half: what a ``VerdictRecorded`` log says was signed, its EIP-712 digest, its signer.

Verification-critical (pure). ClaimLedger's EIP-712 domain is ("Hubao", "2", this chain, this
ClaimLedger); a verdict's digest is rebuilt from the event's own fields, and its signature must
recover to the event's reviewer over that digest in the low-s form ``ECDSA.recover`` accepts.
:func:`recover_recorded` is the costly part (libsecp256k1) and takes plain data, so that the audit
can run it in worker processes while it still reads the chain (``backend.audit.readers``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from backend.audit.ledger_events import LedgerLog
from backend.chain.eip712 import VERDICT_TYPEHASH
from backend.proofs.keccak import keccak256
from backend.proofs.signatures import is_high_s, recover_address

__all__ = [
    "RecordedVerdict",
    "SignatureProblem",
    "domain_separator",
    "recorded_verdict",
    "recover_recorded",
    "signature_problems",
    "verdict_digest",
]

RecordedVerdict = tuple[bytes, int, int, bytes, bytes, int, int, bytes]
"""What a ``VerdictRecorded`` log says was signed: claim id, verdict, reason code, report hash,
rule set, nonce, deadline — the ``verdict_digest`` arguments — and the signature."""


def recorded_verdict(log: LedgerLog) -> RecordedVerdict:
    f = log.fields
    assert log.claim is not None
    return (
        log.claim,
        f["verdict"],
        f["reasonCode"],
        f["reportHash"],
        f["ruleSetHash"],
        f["nonce"],
        f["deadline"],
        f["signature"],
    )


def recover_recorded(separator: bytes, verdicts: Sequence[RecordedVerdict]) -> list[tuple[bytes, str | None]]:
    """For each recorded verdict: the EIP-712 digest its fields rebuild under ``separator``, and the
    address its signature recovers to over that digest (None: it does not recover).

    Step 3's costly half (libsecp256k1), kept apart so that the audit can run it in another process
    while it still reads and decodes the logs; plain data in and out.
    """
    out: list[tuple[bytes, str | None]] = []
    for claim_id, verdict, reason_code, report_hash, rule_set_hash, nonce, deadline, signature in verdicts:
        digest = verdict_digest(separator, claim_id, verdict, reason_code, report_hash, rule_set_hash, nonce, deadline)
        out.append((digest, recover_address(digest, signature)))
    return out


def verdict_digest(
    separator: bytes,
    claim_id: bytes,
    verdict: int,
    reason_code: int,
    report_hash: bytes,
    rule_set_hash: bytes,
    nonce: int,
    deadline: int,
) -> bytes:
    """The EIP-712 digest of a verdict under ``separator`` (= ``backend.chain.eip712.verdict_digest``,
    written out word by word: the replay hashes every recorded verdict)."""
    struct = keccak256(
        VERDICT_TYPEHASH
        + claim_id
        + verdict.to_bytes(32, "big")
        + reason_code.to_bytes(32, "big")
        + report_hash
        + rule_set_hash
        + nonce.to_bytes(32, "big")
        + deadline.to_bytes(32, "big")
    )
    return keccak256(b"\x19\x01" + separator + struct)


def domain_separator(chain_id: int, ledger: str) -> bytes:
    """``hashStruct(EIP712Domain)`` of ClaimLedger ("Hubao", "2", chain, contract)."""
    type_hash = keccak256(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    return keccak256(
        type_hash
        + keccak256(b"Hubao")
        + keccak256(b"2")
        + chain_id.to_bytes(32, "big")
        + bytes(12)
        + bytes.fromhex(ledger.removeprefix("0x"))
    )


SignatureProblem = tuple[LedgerLog, str, str, list[str]]
"""A recorded verdict that does not verify: the log, the finding's reason, its message, the fields."""


def signature_problems(
    separator: bytes,
    signed: Sequence[LedgerLog],
    signers: Mapping[tuple[int, int], tuple[bytes, str | None]],
) -> Iterator[SignatureProblem]:
    """Each recorded verdict's fields rebuild its digest, and its signature recovers to its reviewer.

    ``signers`` holds (some of) the verdicts already recovered, by log position; the others are
    recovered here.
    """
    for log in signed:
        f = log.fields
        known = signers.get(log.position)
        if known is None:
            [known] = recover_recorded(separator, [recorded_verdict(log)])
        digest, signer = known
        if digest != f["digest"]:
            yield (
                log,
                "digest",
                "the event's claim, verdict, reasonCode, reportHash, ruleSetHash, nonce and deadline do not "
                "hash to its EIP-712 digest: the recorded digest is not of the verdict the event reports",
                ["digest"],
            )
        if signer != f["reviewer"]:
            yield (
                log,
                "signer",
                f"the signature recovers to {signer}, not to the reviewer {f['reviewer']}",
                ["reviewer", "signature"],
            )
        if is_high_s(f["signature"]):
            yield (
                log,
                "malleable",
                "the signature's s is in the upper half of secp256k1's order: ClaimLedger's ECDSA.recover "
                "refuses that form, so the contract that recorded it did not verify this signature",
                ["signature"],
            )
