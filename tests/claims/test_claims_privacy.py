"""D1 (BOLA) over generated (role, owner, endpoint) triples, and E1: nothing personal on chain."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.chain.anvil import rpc_call
from evidence_store import compute_cid
from tests.claims.builders import Person, World, pdf, world_fixture

pytestmark = pytest.mark.xdist_group("claims-privacy")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from world_fixture(tmp_path_factory, "privacy")


# --- D1 --------------------------------------------------------------------------------------------

ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/claims/{c}", None),
    ("GET", "/claims/{c}/timeline", None),
    ("GET", "/claims/{c}/evidence/{e}/receipt", None),
    ("GET", "/claims/{c}/evidence/{e}/content", None),
    ("GET", "/claims/{c}/filing-receipt", None),
    ("POST", "/claims/{c}/appeal/draft", None),
    ("POST", "/claims/{c}/appeal", {"deadline": 1, "signature": "0x" + "11" * 65}),
    ("POST", "/claims/{c}/withdraw/draft", None),
    ("POST", "/claims/{c}/withdraw", {"deadline": 1, "signature": "0x" + "11" * 65}),
    ("POST", "/claims/{c}/payout", {"reference": "R-1"}),
    ("POST", "/claims/{c}/finalize-notice", None),
    ("POST", "/claims/{c}/tally", None),
    ("POST", "/claims/{c}/jury", None),
    ("GET", "/review/claims/{c}", None),
    ("GET", "/review/claims/{c}/evidence/{e}/verification", None),
    ("GET", "/review/claims/{c}/evidence/{e}/content", None),
    ("POST", "/review/claims/{c}/verdict", {"verdict": "APPROVE", "report": "ok"}),
    ("GET", "/jury/claims/{c}", None),
    ("POST", "/jury/claims/{c}/commit", {"commitment": "0x" + "11" * 32, "signature": "0x" + "22" * 65}),
    ("POST", "/jury/claims/{c}/reveal", {"approve": True, "salt": "0x" + "33" * 32}),
]


@pytest.fixture(scope="module")
def bola_cast(world: World) -> dict[str, Any]:
    """Owner B with two claims (one under review, one in notice); callers who may see neither."""
    owner = world.member()
    claims = []
    for text in ("owner under review", "owner in notice"):
        response = world.file(owner, [("b.pdf", pdf(text), "application/pdf")])
        assert response.status_code == 201, response.text
        claims.append(response.json())
    world.approve_by_review(claims[1]["id"])
    world.anchor()
    outsider = world.staff("reviewer")  # joins after the assignments: assigned to neither claim
    world.reviewers.append(outsider)
    callers = {"member": world.member(), "juror": world.jurors[0], "reviewer": outsider}
    return {"owner": owner, "claims": claims, "callers": callers}


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], derandomize=True
)
@given(data=st.data())
def test_other_peoples_claims_answer_exactly_like_missing_ones(
    world: World, bola_cast: dict[str, Any], data: Any
) -> None:
    role = data.draw(st.sampled_from(sorted(bola_cast["callers"])))
    claim = data.draw(st.sampled_from(bola_cast["claims"]))
    method, template, body = data.draw(st.sampled_from(ENDPOINTS))
    caller: Person = bola_cast["callers"][role]
    evidence = claim["evidence"][0]["id"]
    kwargs = {"json": body} if body is not None else {}
    real = world.api.request(method, template.format(c=claim["id"], e=evidence), caller.token, **kwargs)
    missing_claim = world.api.request(
        method, template.format(c=secrets.token_hex(16), e=evidence), caller.token, **kwargs
    )
    missing_evidence = world.api.request(
        method, template.format(c=claim["id"], e=secrets.token_hex(16)), caller.token, **kwargs
    )
    assert real.status_code == 404, (role, method, template, real.text)
    assert real.content == missing_claim.content
    if "{e}" in template:
        assert real.content == missing_evidence.content
    assert claim["claimId"][2:] not in real.text
    assert claim["id"] not in real.text


# --- E1 ----------------------------------------------------------------------------------------------


def _chain_bytes(world: World) -> list[bytes]:
    """Every transaction's calldata and every log's topics and data, from block 0."""
    url = world.runtime.settings.chain_url
    latest = int(str(rpc_call(url, "eth_blockNumber")), 16)
    blobs: list[bytes] = []
    for number in range(latest + 1):
        block = rpc_call(url, "eth_getBlockByNumber", [hex(number), True])
        assert isinstance(block, dict)
        for tx in block["transactions"]:
            blobs.append(bytes.fromhex(str(tx["input"])[2:]))
    logs = rpc_call(url, "eth_getLogs", [{"fromBlock": "0x0", "toBlock": "latest"}])
    assert isinstance(logs, list)
    for entry in logs:
        blobs.append(bytes.fromhex(str(entry["data"])[2:]))
        blobs.extend(bytes.fromhex(str(t)[2:]) for t in entry["topics"])
    blobs.extend(_storage_bytes(url))
    return blobs


def _storage_bytes(url: str) -> list[bytes]:
    """Every storage slot (key and value) of every account, from anvil's full state dump.

    Values are joined per account in slot order as well, so strings and byte arrays spread over
    consecutive slots are found whole."""
    raw = bytes.fromhex(str(rpc_call(url, "anvil_dumpState"))[2:])
    with contextlib.suppress(OSError):
        raw = gzip.decompress(raw)
    blobs: list[bytes] = []
    for state in json.loads(raw)["accounts"].values():
        slots = sorted((int(k, 16), bytes.fromhex(v[2:].rjust(64, "0"))) for k, v in state["storage"].items())
        blobs.extend(k.to_bytes(32, "big") for k, _ in slots)
        blobs.extend(v for _, v in slots)
        blobs.append(b"".join(v for _, v in slots))
    return blobs


def test_nothing_personal_reaches_the_chain(world: World) -> None:
    """E1: a full scenario with canary PHI, then a scan of all calldata, logs and storage slots: 0 hits."""
    canary = "CANARY-" + secrets.token_hex(6)
    name = f"zhang-{canary.lower()}"
    claimant = world.member(name=name)
    objector = world.member(name=f"li-{canary.lower()}")
    file_bytes = pdf(f"Patient {name}, ID 110101199003071234, diagnosis: malignant tumour {canary}")
    image = b"\x89PNG\r\n\x1a\n" + f"x-ray of {canary}".encode() * 30
    response = world.file(
        claimant,
        [(f"{canary}.pdf", file_bytes, "application/pdf"), (f"{canary}.png", image, "image/png")],
    )
    assert response.status_code == 201, response.text
    claim = response.json()
    report = f"Reviewed the pathology of {name}: confirmed {canary}"
    world.approve_by_review(claim["id"], report=report)
    objection = f"{canary}: I know {name}, this is fake"
    assert world.object(objector, claim["claimId"], objection).status_code == 201
    world.jury_votes(claim["id"], [True, True, False])
    assert world.api.post(f"/claims/{claim['id']}/tally", world.operator.token).json()["status"] == "APPROVED"
    reference = f"BANK-{canary}"
    paid = world.api.post(f"/claims/{claim['id']}/payout", world.operator.token, json={"reference": reference})
    assert paid.status_code == 200, paid.text
    world.anchor()

    needles: dict[str, bytes] = {}
    for label, text in {
        "canary": canary,
        "name": name,
        "id number": "110101199003071234",
        "report": report,
        "objection": objection,
        "reference": reference,
        "member id": claimant.member.id if claimant.member else "",
        "account id": claimant.id,
    }.items():
        needles[label] = text.encode()
        needles[f"keccak({label})"] = keccak(text.encode())
        needles[f"sha256({label})"] = hashlib.sha256(text.encode()).digest()
    for label, blob in {"pdf": file_bytes, "png": image}.items():
        needles[f"sha256({label})"] = hashlib.sha256(blob).digest()
        needles[f"keccak({label})"] = keccak(blob)
        needles[f"plaintext cid({label})"] = compute_cid([blob], cid_version=1).to_bytes()
    blobs = _chain_bytes(world)
    assert len(blobs) > 20  # the scenario's transactions and events are there
    # Positive control: the scan does find what is meant to be public (the claim id; in storage, the
    # claim's evidence root).
    assert any(bytes.fromhex(claim["claimId"][2:]) in blob for blob in blobs)
    storage = _storage_bytes(world.runtime.settings.chain_url)
    evidence_root = bytes.fromhex(claim["evidenceRoot"][2:])
    assert len(evidence_root) == 32
    assert any(evidence_root in blob for blob in storage)
    hits = [label for label, needle in needles.items() if needle and any(needle in blob for blob in blobs)]
    assert hits == []
