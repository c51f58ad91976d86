"""Step 1: every deployed contract's code is the committed artifact, on the chain the record names.

The chain id and genesis hash are the deployment record's; each contract's runtime code equals
its artifact's (immutables masked); the record's deployment transaction created that address in
that block (or the node has pruned it, and the code is checked from state alone).
"""

from __future__ import annotations

from backend.audit.context import AuditContext
from backend.audit.errors import BytecodeMismatch
from backend.audit.report import StepOutcome, StepStatus
from backend.chain.client import http_web3
from backend.chain.compiler import load_artifact
from backend.chain.deploy import artifact_name, has_genesis, runtime_code_matches
from backend.errors import CompileError
from backend.proofs.hexstr import to_hex

__all__ = ["run"]


def run(ctx: AuditContext) -> StepOutcome:
    record = ctx.sources.deployment
    rpc = ctx.rpc
    findings: list[BytecodeMismatch] = []
    chain_id = rpc.chain_id()
    if chain_id != record.chain_id:
        findings.append(
            BytecodeMismatch(
                f"the chain's id is {chain_id}, the deployment record's {record.chain_id}", reason="chain_id"
            )
        )
    w3 = http_web3(ctx.sources.rpc_url, ctx.sources.rpc_timeout)
    genesis = rpc.block(0)
    genesis_hash = to_hex(bytes.fromhex(genesis["hash"][2:])) if genesis else None
    # anvil answers block 0 with any of the genesis blocks its restarts added: the recorded one
    # still held under its hash is the same chain (has_genesis).
    if genesis_hash is not None and genesis_hash != record.genesis_hash and not has_genesis(w3, record.genesis_hash):
        findings.append(
            BytecodeMismatch(
                f"the chain's genesis block is {genesis_hash[:10]}…, "
                f"the deployment record's {record.genesis_hash[:10]}…: a different or reset chain",
                reason="genesis",
            )
        )
    unverified_tx = 0
    for name in sorted(record.contracts):
        deployed = record.contracts[name]
        try:
            artifact = load_artifact(artifact_name(name), ctx.sources.layout)
        except CompileError:
            findings.append(
                BytecodeMismatch(
                    f"{name}: no committed artifact to compare with", reason="artifact_missing", contract=name
                )
            )
            continue
        code = rpc.code(deployed.address, ctx.head)
        if not code:
            findings.append(
                BytecodeMismatch(f"{name}: no code at {deployed.address.lower()}", reason="no_code", contract=name)
            )
            continue
        if not runtime_code_matches(w3, deployed.address, artifact):
            findings.append(
                BytecodeMismatch(
                    f"{name}: the code at {deployed.address.lower()} is not the committed artifact's runtime code",
                    reason="code_mismatch",
                    contract=name,
                )
            )
        receipt = rpc.call("eth_getTransactionReceipt", [deployed.tx])
        if receipt is None:
            if rpc.history_available(deployed.block):
                findings.append(
                    BytecodeMismatch(
                        f"{name}: the deployment transaction in the record is not in block {deployed.block}",
                        reason="deployment_tx",
                        contract=name,
                    )
                )
            else:
                unverified_tx += 1
        elif (str(receipt.get("contractAddress") or "").lower(), int(receipt["blockNumber"], 16)) != (
            deployed.address.lower(),
            deployed.block,
        ):
            findings.append(
                BytecodeMismatch(
                    f"{name}: the record's deployment transaction did not create {deployed.address.lower()} in block "
                    f"{deployed.block}",
                    reason="deployment_tx",
                    contract=name,
                )
            )
    detail = f"{len(record.contracts)} contracts compared with contracts/artifacts"
    if unverified_tx:
        detail += f"; {unverified_tx} deployment transaction(s) pruned by the node (code checked from state)"
    status = StepStatus.FAILED if findings else StepStatus.PASSED
    return StepOutcome(status, detail, checked={"contracts": len(record.contracts)}, findings=list(findings))
