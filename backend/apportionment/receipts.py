"""Share receipts: the JSON a member keeps to check, without trusting the operator, what they were
charged in a period — and how to verify one.

Verification-critical (DESIGN.md "Exact formats" 5), pinned by the "receipt" section of
``tests/vectors/apportionment.json``. Same style as the evidence receipts of
``backend.proofs.receipts``: numbered steps, one typed error per step, a report.

Format, version 1 (JSON object, exactly these keys; hashes as lower-case ``0x`` hex; amounts
as JSON integers of fen)::

    {
      "version": 1,
      "kind": "share",
      "chainId": 31337 | null,            chain holding the period record   } null until the
      "contract": "0x…" | null,           contract recording the period     } period is recorded
      "ledgerCid": "0x…" | null,          binary CID of the share-ledger file in the evidence store
      "periodId": 20240307,               YYYYMMDD of the notice day (backend.apportionment.schedule)
      "period": {                         the period's public figures (arithmetic.PeriodInputs + totals)
        "ruleSetHash": "0x…32", "claimCount": 100, "payoutsFen": 3000000000, "feeBps": 800,
        "surplusInFen": 0, "memberCount": 5000000, "perCaseCapFen": 10, "annualCapFen": 18800,
        "windDown": false,
        "feeFen": 240000000, "dueFen": 3240000000, "baseFen": 648,
        "shareTotalFen": …, "subsidyTotalFen": …, "surplusOutFen": 0
      },
      "ledgerRoot": "0x…32",              share-ledger Merkle root
      "leaf": {                           (bytes32, uint64, uint64, uint64)
        "memberCommitment": "0x…32",
        "shareFen": 648, "subsidyFen": 0, "yearToDateFen": 1296
      },
      "leafHash": "0x…32",                keccak256(keccak256(abi.encode(leaf)))
      "proof": ["0x…32", …]               sibling hashes, leaf to root (MerkleProof.sol order)
    }

``chainId``, ``contract`` and ``ledgerCid`` are null in a receipt made before the period is
recorded on chain and are filled in afterwards (``ShareReceipt.anchored``); they are checked only
on chain. ``chainId`` and ``contract`` are null together or set together.

Verification, offline — ``verify_share_receipt_offline(receipt)``; the first failure stops it:

    1 SCHEMA         exact keys, types, ranges, canonical hex                       ShareSchemaError
    2 LEAF_HASH      leafHash == keccak256(keccak256(abi.encode(leaf)))              ShareLeafHashMismatch
    3 PROOF          proof folds leafHash into ledgerRoot                             ShareProofInvalid
    4 POSITION       len(proof) is the depth of a leaf in a tree of N = memberCount   SharePositionInvalid
                     leaves: floor(log2(t + 1)) for some tree index t in
                     [N − 1, 2N − 2] — one or two depths
    5 PERIOD_TOTALS  fee, D, base, S_out recompute from the period's inputs, and
                     Σshare + Σsubsidy = N × base = D + S_out                         PeriodTotalsMismatch
    6 SHARE          shareFen = max(0, min(base, perCaseCap × claims,
                     annualCap − (yearToDate − share))) (0 in wind-down),
                     subsidyFen = base − shareFen                                    ShareAmountMismatch

Steps 5–6 are what makes the receipt *the member's* check: from public period figures alone
they re-derive what this member owed. What they cannot see: that ``yearToDate − share`` is
really what the member paid before (the previous receipt of the same year shows it), and that
the period figures are the ones recorded on chain (on-chain steps 7–12,
``backend.apportionment.onchain``).

Position: inner nodes hash their children in sorted order, so a proof does not encode the
leaf's position, and the format carries none (as in evidence receipts, ``backend.proofs.receipts``)
— a position nobody can check would be a claim, not evidence. Offline, ``memberCount`` is bound
through the proof's depth (step 4) and through the period arithmetic (step 5), and fully on
chain (step 11).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeAlias

from backend.apportionment.arithmetic import (
    PERIOD_INPUT_KEYS,
    UINT64_MAX,
    PeriodInputs,
    PeriodTotals,
    compute_base,
    share_of_member,
)
from backend.apportionment.errors import (
    ApportionmentError,
    InvariantViolated,
    PeriodTotalsMismatch,
    ShareAmountMismatch,
    ShareLeafHashMismatch,
    SharePositionInvalid,
    ShareProofInvalid,
    ShareReceiptError,
    ShareReceiptStep,
    ShareSchemaError,
)
from backend.apportionment.ledger import ShareRow, share_leaf_hash
from backend.proofs.hexstr import from_hex, is_canonical_hex, to_hex
from backend.proofs.merkle import MerkleTree, process_proof, proof_length_for_tree_index
from backend.proofs.report import StepReport, StepResult, StepRunner
from backend.proofs.strict_json import ReceiptFields

__all__ = [
    "KIND_SHARE",
    "RECEIPT_VERSION",
    "ShareReceipt",
    "ShareStepResult",
    "ShareVerificationReport",
    "make_share_receipt",
    "parse_share_receipt",
    "share_receipt_from_proof",
    "verify_share_receipt_offline",
]

RECEIPT_VERSION = 1
KIND_SHARE = "share"

_KEYS = (
    "version",
    "kind",
    "chainId",
    "contract",
    "ledgerCid",
    "periodId",
    "period",
    "ledgerRoot",
    "leaf",
    "leafHash",
    "proof",
)
_INPUT_KEYS = tuple(k for k in PERIOD_INPUT_KEYS if k != "periodId")
_TOTAL_KEYS = ("feeFen", "dueFen", "baseFen", "shareTotalFen", "subsidyTotalFen", "surplusOutFen")
_UINT_PERIOD_KEYS = tuple(k for k in _INPUT_KEYS + _TOTAL_KEYS if k not in ("ruleSetHash", "windDown", "dueFen"))
_LEAF_KEYS = ("memberCommitment", "shareFen", "subsidyFen", "yearToDateFen")
_UINT256_MAX = 2**256 - 1
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class ShareReceipt:
    """A parsed, schema-valid share receipt (``parse_share_receipt`` / ``make_share_receipt``)."""

    period: PeriodInputs
    totals: PeriodTotals
    ledger_root: bytes
    leaf: ShareRow
    leaf_hash: bytes
    proof: tuple[bytes, ...]
    chain_id: int | None = None
    contract: str | None = None
    ledger_cid: bytes | None = None

    @property
    def period_id(self) -> int:
        return self.period.period_id

    def anchored(self, *, chain_id: int, contract: str, ledger_cid: bytes | None = None) -> ShareReceipt:
        """The same receipt with the chain fields filled in (once the period is on chain)."""
        return replace(self, chain_id=chain_id, contract=contract, ledger_cid=ledger_cid)

    def to_json(self) -> dict[str, Any]:
        """The version-1 JSON object (key order as in the module docstring)."""
        period = self.period.to_json()
        del period["periodId"]
        period.update(self.totals.to_json())
        return {
            "version": RECEIPT_VERSION,
            "kind": KIND_SHARE,
            "chainId": self.chain_id,
            "contract": self.contract,
            "ledgerCid": None if self.ledger_cid is None else to_hex(self.ledger_cid),
            "periodId": self.period.period_id,
            "period": period,
            "ledgerRoot": to_hex(self.ledger_root),
            "leaf": {
                "memberCommitment": to_hex(self.leaf.member_commitment),
                "shareFen": self.leaf.share_fen,
                "subsidyFen": self.leaf.subsidy_fen,
                "yearToDateFen": self.leaf.year_to_date_fen,
            },
            "leafHash": to_hex(self.leaf_hash),
            "proof": [to_hex(p) for p in self.proof],
        }

    def to_json_text(self) -> str:
        """Compact JSON text of ``to_json()``."""
        return json.dumps(self.to_json(), separators=(",", ":"))


def make_share_receipt(
    *,
    tree: MerkleTree,
    index: int,
    row: ShareRow,
    inputs: PeriodInputs,
    totals: PeriodTotals,
    chain_id: int | None = None,
    contract: str | None = None,
    ledger_cid: bytes | None = None,
) -> ShareReceipt:
    """Receipt for ledger row ``index`` of a period (``tree`` from ``ShareLedgerResult.tree`` or
    ``ShareLedgerReader.tree()``; input index = row index).

    ``index`` only locates the leaf and its proof; the receipt does not record it (step 4 of the
    module docstring). Checks that ``row`` is the leaf at that index and that the result verifies
    offline, so a receipt that leaves here is one its holder can verify.
    """
    tree_index = tree.tree_index(index)
    if tree.node(tree_index) != share_leaf_hash(row):
        raise ShareLeafHashMismatch("row is not the leaf at this index of the tree", field="leaf", index=index)
    return share_receipt_from_proof(
        ledger_root=tree.root,
        proof=tree.proof(index),
        row=row,
        inputs=inputs,
        totals=totals,
        chain_id=chain_id,
        contract=contract,
        ledger_cid=ledger_cid,
    )


def share_receipt_from_proof(
    *,
    ledger_root: bytes,
    proof: Sequence[bytes],
    row: ShareRow,
    inputs: PeriodInputs,
    totals: PeriodTotals,
    chain_id: int | None = None,
    contract: str | None = None,
    ledger_cid: bytes | None = None,
) -> ShareReceipt:
    """Receipt for ``row`` with an already-extracted ``proof`` (e.g. from a period's node file).

    Verified offline before it is returned, so a wrong proof or root raises instead of leaving.
    """
    receipt = ShareReceipt(
        period=inputs,
        totals=totals,
        ledger_root=ledger_root,
        leaf=row,
        leaf_hash=share_leaf_hash(row),
        proof=tuple(proof),
        chain_id=chain_id,
        contract=contract,
        ledger_cid=ledger_cid,
    )
    verify_share_receipt_offline(receipt).raise_for_failure()
    return receipt


# --- step 1: schema --------------------------------------------------------------------------


_FIELDS = ReceiptFields(ShareSchemaError)


def parse_share_receipt(receipt: Mapping[str, Any] | str | bytes) -> ShareReceipt:
    """Step 1: parse and validate a version-1 share receipt (JSON text or parsed object).

    Raises ``ShareSchemaError`` naming the offending field (``field``, a JSON path).
    """
    doc = _FIELDS.loads(receipt) if isinstance(receipt, str | bytes) else receipt
    if not isinstance(doc, Mapping):
        raise ShareSchemaError("receipt must be a JSON object", field="$")
    if "version" not in doc:
        raise ShareSchemaError("missing field version", field="version")
    if type(doc["version"]) is not int or doc["version"] != RECEIPT_VERSION:
        raise ShareSchemaError(f"unsupported receipt version {doc['version']!r}", field="version")
    _FIELDS.object(doc, _KEYS, "$")
    if doc["kind"] != KIND_SHARE:
        raise ShareSchemaError(f"kind must be {KIND_SHARE!r}", field="kind")
    if (doc["chainId"] is None) != (doc["contract"] is None):
        raise ShareSchemaError("chainId and contract are null together or set together", field="chainId")
    chain_id = None if doc["chainId"] is None else _FIELDS.integer(doc, "chainId", 1, _UINT256_MAX, "chainId")
    contract = None if doc["contract"] is None else _FIELDS.address(doc["contract"])
    ledger_cid = None
    if doc["ledgerCid"] is not None:
        if not is_canonical_hex(doc["ledgerCid"]) or doc["ledgerCid"] == "0x":
            raise ShareSchemaError("ledgerCid must be null or non-empty lower-case 0x hex", field="ledgerCid")
        ledger_cid = from_hex(doc["ledgerCid"])
    period_id = _FIELDS.integer(doc, "periodId", 0, UINT64_MAX, "periodId")
    raw_period = _FIELDS.object(doc["period"], _INPUT_KEYS + _TOTAL_KEYS, "period")
    amounts = {k: _FIELDS.integer(raw_period, k, 0, UINT64_MAX, f"period.{k}") for k in _UINT_PERIOD_KEYS}
    due = _FIELDS.integer(raw_period, "dueFen", _INT64_MIN, _INT64_MAX, "period.dueFen")
    rule_set_hash = _FIELDS.bytes32(raw_period, "ruleSetHash", "period.ruleSetHash")
    if type(raw_period["windDown"]) is not bool:
        raise ShareSchemaError("period.windDown must be a boolean", field="period.windDown")
    if amounts["memberCount"] < 1:
        raise ShareSchemaError("period.memberCount must be at least 1 for a receipt", field="period.memberCount")
    try:
        inputs = PeriodInputs(
            period_id=period_id,
            rule_set_hash=rule_set_hash,
            claim_count=amounts["claimCount"],
            payouts_fen=amounts["payoutsFen"],
            fee_bps=amounts["feeBps"],
            surplus_in_fen=amounts["surplusInFen"],
            member_count=amounts["memberCount"],
            per_case_cap_fen=amounts["perCaseCapFen"],
            annual_cap_fen=amounts["annualCapFen"],
            wind_down=raw_period["windDown"],
        )
    except ApportionmentError as exc:
        name = exc.fields.get("field", "")
        raise ShareSchemaError(f"period: {exc.message}", field=f"period.{name}") from exc
    totals = PeriodTotals(
        period_id=period_id,
        member_count=inputs.member_count,
        fee_fen=amounts["feeFen"],
        due_fen=due,
        base_fen=amounts["baseFen"],
        share_total_fen=amounts["shareTotalFen"],
        subsidy_total_fen=amounts["subsidyTotalFen"],
        surplus_out_fen=amounts["surplusOutFen"],
    )
    ledger_root = _FIELDS.bytes32(doc, "ledgerRoot", "ledgerRoot")
    raw_leaf = _FIELDS.object(doc["leaf"], _LEAF_KEYS, "leaf")
    leaf = ShareRow(
        _FIELDS.bytes32(raw_leaf, "memberCommitment", "leaf.memberCommitment"),
        _FIELDS.integer(raw_leaf, "shareFen", 0, UINT64_MAX, "leaf.shareFen"),
        _FIELDS.integer(raw_leaf, "subsidyFen", 0, UINT64_MAX, "leaf.subsidyFen"),
        _FIELDS.integer(raw_leaf, "yearToDateFen", 0, UINT64_MAX, "leaf.yearToDateFen"),
    )
    leaf_hash = _FIELDS.bytes32(doc, "leafHash", "leafHash")
    raw_proof = doc["proof"]
    if not isinstance(raw_proof, list):
        raise ShareSchemaError("proof must be a list", field="proof")
    for i, node in enumerate(raw_proof):
        if not is_canonical_hex(node, 32):
            raise ShareSchemaError(f"proof[{i}] must be 32 bytes of lower-case 0x hex", field=f"proof[{i}]")
    return ShareReceipt(
        period=inputs,
        totals=totals,
        ledger_root=ledger_root,
        leaf=leaf,
        leaf_hash=leaf_hash,
        proof=tuple(from_hex(p) for p in raw_proof),
        chain_id=chain_id,
        contract=contract,
        ledger_cid=ledger_cid,
    )


# --- the report ------------------------------------------------------------------------------

# backend.proofs.report's machinery, shared with evidence receipts; the old names stay.
ShareStepResult: TypeAlias = StepResult[ShareReceiptStep]


class ShareVerificationReport(StepReport[ShareReceiptStep, ShareReceiptError, ShareReceipt]):
    """Outcome of verifying one share receipt: one ``StepResult`` per step, in order.

    Same shape as ``backend.proofs.receipts.VerificationReport`` (``backend.proofs.report``):
    ``ok``, ``failed_step``, ``status_of``, ``raise_for_failure``, ``to_json``.
    """

    __slots__ = ()


def verify_share_receipt_offline(receipt: Mapping[str, Any] | str | bytes | ShareReceipt) -> ShareVerificationReport:
    """Verify a share receipt from its own contents (steps 1–6); never raises for a bad receipt.

    ``receipt`` is JSON text, a parsed JSON object, or a ``ShareReceipt``.
    """
    report = ShareVerificationReport()

    def schema() -> None:
        if isinstance(receipt, ShareReceipt):
            # Re-validate a constructed receipt through its JSON form: same checks either way.
            try:
                doc = receipt.to_json()
            except (TypeError, ValueError, AttributeError) as exc:
                raise ShareSchemaError(f"receipt fields have the wrong types: {exc}", field="$") from exc
            report.receipt = parse_share_receipt(doc)
        else:
            report.receipt = parse_share_receipt(receipt)

    def r() -> ShareReceipt:
        assert report.receipt is not None
        return report.receipt

    def leaf_hash() -> None:
        if share_leaf_hash(r().leaf) != r().leaf_hash:
            raise ShareLeafHashMismatch("leafHash is not the hash of leaf", field="leafHash")

    def proof() -> None:
        if process_proof(r().leaf_hash, r().proof) != r().ledger_root:
            raise ShareProofInvalid("proof does not lead from leafHash to ledgerRoot", field="proof")

    def position() -> None:
        rec = r()
        n = rec.period.member_count
        # Leaves occupy tree indices [n − 1, 2n − 2]; depth is monotonic in the index, so the
        # leaf depths are exactly the range between the depths of the two ends (at most two).
        shallowest = proof_length_for_tree_index(n - 1)
        deepest = proof_length_for_tree_index(2 * n - 2)
        if not shallowest <= len(rec.proof) <= deepest:
            depths = str(shallowest) if shallowest == deepest else f"{shallowest} or {deepest}"
            raise SharePositionInvalid(
                f"proof has {len(rec.proof)} nodes, but the leaves of a tree of period.memberCount leaves "
                f"have proofs of {depths}",
                field="proof",
                other_field="period.memberCount",
            )

    def period_totals() -> None:
        rec = r()
        try:
            base = compute_base(rec.period)  # memberCount ≥ 1 (schema): only an absurd base refuses
        except ApportionmentError as exc:
            raise PeriodTotalsMismatch(f"period inputs do not apportion: {exc.message}", field="period") from exc
        got = rec.totals
        for name, mine, theirs in (
            ("feeFen", base.fee_fen, got.fee_fen),
            ("dueFen", base.due_fen, got.due_fen),
            ("baseFen", base.base_fen, got.base_fen),
            ("surplusOutFen", base.surplus_out_fen, got.surplus_out_fen),
        ):
            if mine != theirs:
                raise PeriodTotalsMismatch(f"period.{name} is {theirs}, the inputs give {mine}", field=f"period.{name}")
        try:
            got.check_invariant()
        except InvariantViolated as exc:
            raise PeriodTotalsMismatch(
                "period.shareTotalFen + period.subsidyTotalFen is not memberCount × baseFen",
                field="period.shareTotalFen",
            ) from exc

    def share() -> None:
        rec = r()
        leaf = rec.leaf
        base = compute_base(rec.period)
        paid = leaf.year_to_date_fen - leaf.share_fen
        if paid < 0:
            raise ShareAmountMismatch("leaf.yearToDateFen is below leaf.shareFen", field="leaf.yearToDateFen")
        expected = share_of_member(
            case_cap_fen=base.case_cap_fen, annual_cap_fen=rec.period.annual_cap_fen, paid_this_year_fen=paid
        )
        if leaf.share_fen != expected:
            raise ShareAmountMismatch(
                f"leaf.shareFen is {leaf.share_fen}, the period's rules give {expected}", field="leaf.shareFen"
            )
        if leaf.subsidy_fen != base.base_fen - expected:
            raise ShareAmountMismatch(
                f"leaf.subsidyFen is {leaf.subsidy_fen}, base − share is {base.base_fen - expected}",
                field="leaf.subsidyFen",
            )

    runner = StepRunner(report, ShareReceiptError)
    runner.run(ShareReceiptStep.SCHEMA, schema)
    runner.run(ShareReceiptStep.LEAF_HASH, leaf_hash)
    runner.run(ShareReceiptStep.PROOF, proof)
    runner.run(ShareReceiptStep.POSITION, position)
    runner.run(ShareReceiptStep.PERIOD_TOTALS, period_totals)
    runner.run(ShareReceiptStep.SHARE, share)
    return report
