"""backend.chain.eip712 against its golden vectors and against ClaimLedger's own hashing on anvil (C2).

The vectors (tests/vectors/eip712_verdict.json, eip712_vote_commitment.json) fix the digests,
signatures, vote commitments and claim ids; the anvil tests show the Solidity contract computes
the very same values: ``hashVerdict`` for each vector's chain id and verifying contract (the
runtime code is placed at the vector's address with ``anvil_setCode``; OpenZeppelin's EIP712
rebuilds its domain for the address and chain it runs on) and ``VOTE_COMMIT_TYPEHASH``. The vote
vectors (tests/vectors/eip712_vote.json: VoteSalt, salt, commitment, VoteCommit) are also checked
by forge (contracts/test/ClaimLedgerJury.t.sol); ``commitVoteBySig`` accepting Python-signed
VoteCommit documents is exercised by the access matrix and the claims flows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.contract import Contract

from backend.chain import eip712, typed_data
from backend.chain.anvil import AnvilNode, rpc_call
from backend.chain.client import connect, contract_at
from backend.errors import InvalidInput
from tests.contracts.test_claim_ledger_anvil import ledger_artifact

pytestmark = pytest.mark.xdist_group("claim-ledger")

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
VERDICTS: dict[str, Any] = json.loads((VECTORS / "eip712_verdict.json").read_text(encoding="utf-8"))
COMMITMENTS: dict[str, Any] = json.loads((VECTORS / "eip712_vote_commitment.json").read_text(encoding="utf-8"))
VOTES: dict[str, Any] = json.loads((VECTORS / "eip712_vote.json").read_text(encoding="utf-8"))
DOMAIN_TYPEHASH = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")


def _b(hex_str: str) -> bytes:
    return bytes.fromhex(hex_str.removeprefix("0x"))


def _verdict(raw: dict[str, Any]) -> eip712.Verdict:
    return eip712.Verdict(
        claim_id=_b(raw["claimId"]),
        verdict=int(raw["verdict"]),
        reason_code=int(raw["reasonCode"]),
        report_hash=_b(raw["reportHash"]),
        rule_set_hash=_b(raw["ruleSetHash"]),
        nonce=int(raw["nonce"]),
        deadline=int(raw["deadline"]),
    )


def _domain(raw: dict[str, Any]) -> eip712.Eip712Domain:
    assert (raw["name"], raw["version"]) == (eip712.DOMAIN_NAME, eip712.DOMAIN_VERSION)
    return eip712.Eip712Domain(int(raw["chainId"]), raw["verifyingContract"])


def _hand_rolled_digest(verdict: eip712.Verdict, domain: eip712.Eip712Domain) -> bytes:
    """The EIP-712 digest written out from the spec, independent of eth-account's encoder."""
    separator = keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [DOMAIN_TYPEHASH, keccak(text="Hubao"), keccak(text="2"), domain.chain_id, domain.verifying_contract],
        )
    )
    struct_hash = keccak(
        abi_encode(
            ["bytes32", "bytes32", "uint8", "uint16", "bytes32", "bytes32", "uint256", "uint256"],
            [keccak(text=VERDICTS["typeString"]), *verdict.as_abi_tuple()],
        )
    )
    return keccak(b"\x19\x01" + separator + struct_hash)


# ───────────────────────── golden vectors, pure ─────────────────────────


def test_type_hash_matches_vector() -> None:
    assert VERDICTS["typeString"] == eip712.VERDICT_TYPE_STRING
    assert _b(VERDICTS["typeHash"]) == eip712.VERDICT_TYPEHASH


@pytest.mark.parametrize("vector", VERDICTS["vectors"], ids=lambda v: v["name"])
def test_verdict_digest_and_signature_match_vector(vector: dict[str, Any]) -> None:
    verdict, domain = _verdict(vector["verdict"]), _domain(vector["domain"])
    assert eip712.domain_separator(domain) == _b(vector["domainSeparator"])
    assert eip712.verdict_struct_hash(verdict) == _b(vector["structHash"])
    assert eip712.verdict_digest(verdict, domain) == _b(vector["digest"])
    signer = Account.from_key(vector["privateKey"])
    assert signer.address == vector["signer"]
    signature = eip712.sign_verdict(signer, verdict, domain)
    assert signature == _b(vector["signature"])  # RFC 6979: deterministic
    assert int.from_bytes(signature[32:64], "big") <= 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
    assert eip712.recover_verdict_signer(verdict, domain, signature) == vector["signer"]


def test_vote_commitments_and_claim_ids_match_vectors() -> None:
    for v in COMMITMENTS["voteCommitments"]:
        computed = eip712.vote_commitment(_b(v["claimId"]), int(v["round"]), v["juror"], v["approve"], _b(v["salt"]))
        assert computed == _b(v["commitment"])
    for c in COMMITMENTS["claimIds"]:
        computed = eip712.claim_id(
            _b(c["memberCommitment"]),
            _b(c["evidenceRoot"]),
            _b(c["ruleSetHash"]),
            int(c["payoutFen"]),
            c["claimantKey"],
        )
        assert computed == _b(c["claimId"])


@pytest.mark.parametrize("vector", VOTES["vectors"], ids=lambda v: v["name"])
def test_vote_salt_and_commit_match_vector(vector: dict[str, Any]) -> None:
    """The juror's VoteSalt signature gives the salt; the commitment binds claim, round and juror;
    VoteCommit is what commitVoteBySig checks. RFC 6979: the same key re-derives the same salt."""
    assert VOTES["voteSaltTypeString"] == eip712.VOTE_SALT_TYPE_STRING
    assert _b(VOTES["voteCommitTypeHash"]) == eip712.VOTE_COMMIT_TYPEHASH
    d = vector["domain"]
    assert (d["name"], d["version"]) == (eip712.DOMAIN_NAME, eip712.DOMAIN_VERSION)
    domain = eip712.Eip712Domain(int(d["chainId"]), d["verifyingContract"])
    juror = Account.from_key(vector["privateKey"])
    assert juror.address == vector["juror"]
    claim, round_ = _b(vector["claimId"]), int(vector["round"])
    salt_doc = typed_data.vote_salt_document(domain.as_dict(), claim_id=claim, round_=round_)
    assert typed_data.digest(salt_doc) == _b(vector["voteSaltDigest"])
    salt_sig = typed_data.sign(salt_doc, juror.key)
    assert salt_sig == _b(vector["voteSaltSignature"])
    assert typed_data.recover_signer(salt_doc, salt_sig) == juror.address
    salt = eip712.salt_from_signature(salt_sig)
    assert salt == _b(vector["salt"])
    commitment = eip712.vote_commitment(claim, round_, juror.address, vector["approve"], salt)
    assert commitment == _b(vector["commitment"])
    commit_doc = typed_data.vote_commit_document(domain.as_dict(), claim_id=claim, round_=round_, commitment=commitment)
    assert typed_data.digest(commit_doc) == _b(vector["voteCommitDigest"])
    assert typed_data.sign(commit_doc, juror.key) == _b(vector["voteCommitSignature"])
    # The builder's fields are the contract's type strings (ClaimLedger hashes VOTE_COMMIT_TYPEHASH).
    for doc, type_string in ((salt_doc, eip712.VOTE_SALT_TYPE_STRING), (commit_doc, eip712.VOTE_COMMIT_TYPE_STRING)):
        fields = ",".join(f"{f['type']} {f['name']}" for f in doc["types"][doc["primaryType"]])
        assert f"{doc['primaryType']}({fields})" == type_string


def test_typed_data_document_is_eth_sign_typed_data_v4_shape() -> None:
    vector = VERDICTS["vectors"][0]
    doc = eip712.verdict_typed_data(_verdict(vector["verdict"]), _domain(vector["domain"]))
    assert doc["primaryType"] == "Verdict"
    assert [f["name"] for f in doc["types"]["Verdict"]] == [
        "claimId",
        "verdict",
        "reasonCode",
        "reportHash",
        "ruleSetHash",
        "nonce",
        "deadline",
    ]
    assert doc["domain"] == vector["domain"]


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: eip712.Verdict(b"\0" * 31, 1, 0, b"\0" * 32, b"\0" * 32, 0, 0), "claim_id"),
        (lambda: eip712.Verdict(b"\0" * 32, 256, 0, b"\0" * 32, b"\0" * 32, 0, 0), "verdict"),
        (lambda: eip712.Verdict(b"\0" * 32, 1, 65536, b"\0" * 32, b"\0" * 32, 0, 0), "reason_code"),
        (lambda: eip712.Verdict(b"\0" * 32, 1, 0, b"\0" * 32, b"\0" * 32, -1, 0), "nonce"),
        (lambda: eip712.Verdict(b"\0" * 32, 1, 0, b"\0" * 32, b"\0" * 32, 0, 2**256), "deadline"),
        (lambda: eip712.Eip712Domain(1, "0x1234"), "verifying_contract"),
        (lambda: eip712.claim_id(b"\0" * 32, b"\0" * 32, b"\0" * 32, 2**64, "0x" + "11" * 20), "payout_fen"),
        (lambda: eip712.claim_id(b"\0" * 32, b"\0" * 32, b"\0" * 32, 1, "not an address"), "claimant_key"),
        (lambda: eip712.vote_commitment(b"\0" * 32, 1, "not an address", True, b"\0" * 32), "juror"),
        (lambda: eip712.vote_commitment(b"\0" * 32, 2**32, "0x" + "11" * 20, True, b"\0" * 32), "round"),
    ],
)
def test_malformed_fields_raise_invalid_input(build: Callable[[], object], field: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        build()
    assert excinfo.value.fields["field"] == field


def test_recover_rejects_signature_of_wrong_length() -> None:
    vector = VERDICTS["vectors"][0]
    with pytest.raises(InvalidInput, match="65 bytes"):
        eip712.recover_verdict_signer(_verdict(vector["verdict"]), _domain(vector["domain"]), b"\1" * 64)


_bytes32 = st.binary(min_size=32, max_size=32)
_verdicts = st.builds(
    eip712.Verdict,
    claim_id=_bytes32,
    verdict=st.integers(0, 255),
    reason_code=st.integers(0, 2**16 - 1),
    report_hash=_bytes32,
    rule_set_hash=_bytes32,
    nonce=st.integers(0, 2**256 - 1),
    deadline=st.integers(0, 2**256 - 1),
)
_domains = st.builds(
    eip712.Eip712Domain,
    chain_id=st.integers(1, 2**64),
    verifying_contract=st.binary(min_size=20, max_size=20).map(lambda b: Web3.to_checksum_address(b)),
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(verdict=_verdicts, domain=_domains)
def test_verdict_digest_equals_hand_rolled_encoding(verdict: eip712.Verdict, domain: eip712.Eip712Domain) -> None:
    assert eip712.verdict_digest(verdict, domain) == _hand_rolled_digest(verdict, domain)


# ───────────────────────── against the contract on anvil ─────────────────────────


def _runtime_at(w3: Web3, node: AnvilNode, address: str) -> Contract:
    """ClaimLedger's runtime code placed at ``address`` on this chain.

    The code is taken from a real deployment: the artifact's runtime code has its immutables
    (the hashed EIP-712 name and version among them) still zeroed by the compiler.
    """
    artifact = ledger_artifact()
    admin = w3.eth.accounts[0]
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor(admin, admin, 0, admin).transact({"from": admin}))
    deployed = receipt["contractAddress"]
    assert deployed is not None
    code = bytes(w3.eth.get_code(deployed))
    rpc_call(node.url, "anvil_setCode", [address, "0x" + code.hex()])
    return contract_at(w3, address, artifact)


@pytest.mark.parametrize("chain_id", sorted({int(v["domain"]["chainId"]) for v in VERDICTS["vectors"]}))
def test_hash_verdict_on_anvil_equals_vectors(anvil_factory: Callable[..., AnvilNode], chain_id: int) -> None:
    node = anvil_factory(chain_id=chain_id)
    w3 = connect(node.url)
    assert w3.eth.chain_id == chain_id
    vectors = [v for v in VERDICTS["vectors"] if int(v["domain"]["chainId"]) == chain_id]
    for vector in vectors:
        ledger = _runtime_at(w3, node, vector["domain"]["verifyingContract"])
        verdict = _verdict(vector["verdict"])
        on_chain = bytes(ledger.functions.hashVerdict(verdict.as_abi_tuple()).call())
        assert on_chain == _b(vector["digest"]), vector["name"]
        assert on_chain == eip712.verdict_digest(verdict, _domain(vector["domain"]))
        assert bytes(ledger.functions.VERDICT_TYPEHASH().call()) == eip712.VERDICT_TYPEHASH


def test_vote_commit_typehash_on_anvil_equals_python(anvil: AnvilNode) -> None:
    w3 = connect(anvil.url)
    ledger = _runtime_at(w3, anvil, "0x000000000000000000000000000000000000C1A1")
    assert bytes(ledger.functions.VOTE_COMMIT_TYPEHASH().call()) == eip712.VOTE_COMMIT_TYPEHASH


@pytest.fixture(scope="module")
def deployed_ledger() -> Iterator[tuple[Contract, eip712.Eip712Domain]]:
    """A ClaimLedger deployed by its constructor on a fresh anvil (its real address and domain)."""
    node = AnvilNode().start()
    try:
        w3 = connect(node.url)
        artifact = ledger_artifact()
        admin = w3.eth.accounts[0]
        factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        receipt = w3.eth.wait_for_transaction_receipt(
            factory.constructor(admin, admin, 0, admin).transact({"from": admin})
        )
        contract = contract_at(w3, str(receipt["contractAddress"]), artifact)
        yield contract, eip712.Eip712Domain(w3.eth.chain_id, contract.address)
    finally:
        node.kill()


def test_eip712_domain_of_deployment_matches_python(deployed_ledger: tuple[Contract, eip712.Eip712Domain]) -> None:
    contract, domain = deployed_ledger
    _, name, version, chain_id, verifying, _, _ = contract.functions.eip712Domain().call()
    assert (name, version, chain_id, verifying) == ("Hubao", "2", domain.chain_id, domain.verifying_contract)
    assert contract.functions.version().call().split(".")[0] == eip712.DOMAIN_VERSION


@settings(max_examples=40, derandomize=True, deadline=None)
@given(verdict=_verdicts)
def test_hash_verdict_on_anvil_equals_python_for_random_verdicts(
    deployed_ledger: tuple[Contract, eip712.Eip712Domain], verdict: eip712.Verdict
) -> None:
    contract, domain = deployed_ledger
    assert bytes(contract.functions.hashVerdict(verdict.as_abi_tuple()).call()) == eip712.verdict_digest(
        verdict, domain
    )
