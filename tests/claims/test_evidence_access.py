"""Evidence of a claim: the reviewer's four checks, downloads, the access log (E5), who may decrypt (E6)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from backend.db.models import EvidenceAccess, EvidenceItem
from backend.proofs.receipts import verify_receipt_offline
from backend.services.review_access_log import verify_access_log
from evidence_store.multiformats import CID
from tests.claims.builders import Person, World, pdf, png, world_fixture

pytestmark = pytest.mark.xdist_group("claims-evidence")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from world_fixture(tmp_path_factory, "evidence")


@dataclass
class Filed:
    claimant: Person
    claim: dict[str, Any]
    evidence_id: str
    plaintext: bytes
    reviewers: list[Person]

    @property
    def pk(self) -> str:
        return str(self.claim["id"])


def _file(world: World, text: str, name: str = "病历 scan 1.pdf") -> Filed:
    claimant = world.member()
    plaintext = pdf(text)
    response = world.file(claimant, [(name, plaintext, "application/pdf")])
    assert response.status_code == 201, response.text
    claim = response.json()
    return Filed(claimant, claim, claim["evidence"][0]["id"], plaintext, world.reviewers_of(claim["id"]))


def _verification(world: World, filed: Filed, reviewer: Person | None = None) -> dict[str, Any]:
    reviewer = reviewer or filed.reviewers[0]
    url = f"/review/claims/{filed.pk}/evidence/{filed.evidence_id}/verification"
    response = world.api.get(url, reviewer.token)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _statuses(report: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in report["checks"]}


def _access_rows(world: World) -> int:
    with world.runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(EvidenceAccess)) or 0)


def test_verification_is_pending_until_anchored_then_four_passes(world: World) -> None:
    filed = _file(world, "verification pending then pass")
    early = _verification(world, filed)
    assert _statuses(early) == {"decrypt": "pass", "rehash": "pass", "commitment": "pass", "inclusion": "pending"}
    assert early["verified"] is False
    world.anchor()
    report = _verification(world, filed)
    assert _statuses(report) == {"decrypt": "pass", "rehash": "pass", "commitment": "pass", "inclusion": "pass"}
    assert report["verified"] is True
    assert "batch" in next(c["detail"] for c in report["checks"] if c["name"] == "inclusion")


def test_verification_fails_decrypt_for_a_flipped_ciphertext_byte(world: World) -> None:
    filed = _file(world, "flipped byte")
    world.anchor()
    with world.runtime.sessions() as session:
        item = session.get(EvidenceItem, filed.evidence_id)
        assert item is not None
        path = world.runtime.store.block_path(CID.from_bytes(item.cid))
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    report = _verification(world, filed)
    statuses = _statuses(report)
    assert (statuses["decrypt"], statuses["rehash"], report["verified"]) == ("fail", "fail", False)
    assert "digest mismatch" in next(c["detail"] for c in report["checks"] if c["name"] == "decrypt")
    assert statuses["inclusion"] == "pass"  # the commitment itself is still notarized


def test_verification_fails_commitment_for_a_wrong_salt(world: World) -> None:
    filed = _file(world, "wrong salt")
    world.anchor()
    with world.runtime.sessions.begin() as session:
        item = session.get(EvidenceItem, filed.evidence_id)
        assert item is not None
        item.salt = bytes(32)
    report = _verification(world, filed)
    assert _statuses(report) == {"decrypt": "pass", "rehash": "pass", "commitment": "fail", "inclusion": "pass"}
    assert report["verified"] is False


def test_download_is_an_attachment_with_rfc6266_name(world: World) -> None:
    filed = _file(world, "download headers")
    response = world.api.get(
        f"/review/claims/{filed.pk}/evidence/{filed.evidence_id}/content", filed.reviewers[0].token
    )
    assert response.status_code == 200
    assert response.content == filed.plaintext
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-content-type-options"] == "nosniff"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="evidence-')
    # The reviewer never sees the claimant's file name; the claimant gets its stem, the server's extension.
    assert disposition.endswith(f"filename*=UTF-8''evidence-{filed.evidence_id}.pdf")
    own = world.api.get(f"/claims/{filed.pk}/evidence/{filed.evidence_id}/content", filed.claimant.token)
    assert "filename*=UTF-8''%E7%97%85%E5%8E%86%20scan%201.pdf" in own.headers["content-disposition"]


def test_only_claimant_and_assigned_reviewers_decrypt(world: World) -> None:
    """E6: the role matrix over both download routes; the auditor sees commitments only."""
    filed = _file(world, "role matrix")
    unassigned = next(r for r in world.reviewers if r not in filed.reviewers)
    stranger = world.member()
    review_url = f"/review/claims/{filed.pk}/evidence/{filed.evidence_id}/content"
    claim_url = f"/claims/{filed.pk}/evidence/{filed.evidence_id}/content"
    outcomes = {}
    for label, person in [
        ("claimant", filed.claimant),
        ("assigned reviewer", filed.reviewers[0]),
        ("unassigned reviewer", unassigned),
        ("auditor", world.auditor),
        ("operator", world.operator),
        ("other member", stranger),
        ("juror", world.jurors[0]),
    ]:
        codes = {world.api.get(url, person.token).status_code for url in (review_url, claim_url)}
        plaintext = any(world.api.get(url, person.token).content == filed.plaintext for url in (review_url, claim_url))
        outcomes[label] = (200 in codes, plaintext)
    assert outcomes == {
        "claimant": (True, True),
        "assigned reviewer": (True, True),
        "unassigned reviewer": (False, False),
        "auditor": (False, False),
        "operator": (False, False),
        "other member": (False, False),
        "juror": (False, False),
    }
    audited = world.api.get(f"/claims/{filed.pk}", world.auditor.token).json()
    evidence = audited["evidence"][0]
    assert evidence["commitment"].startswith("0x")
    assert evidence["originalName"] is None


def test_claimant_receipt_is_private_and_verifies_offline(world: World) -> None:
    filed = _file(world, "receipt")
    url = f"/claims/{filed.pk}/evidence/{filed.evidence_id}/receipt"
    assert world.api.get(url, filed.claimant.token).json()["code"] == "NOT_YET_ANCHORED"
    world.anchor()
    private = world.api.get(url, filed.claimant.token).json()
    assert "salt" in private
    assert verify_receipt_offline(private).ok
    public = world.api.get(url, world.auditor.token).json()
    assert "salt" not in public
    assert world.api.get(url, world.member().token).status_code == 404


def test_access_log_counts_every_decryption_and_detects_tampering(world: World) -> None:
    """E5: log rows == decrypt calls (N/N); editing or deleting one row is named by the verifier."""
    filed = _file(world, "access log")
    before = _access_rows(world)
    calls = 0
    for _ in range(3):
        assert (
            world.api.get(f"/claims/{filed.pk}/evidence/{filed.evidence_id}/content", filed.claimant.token).status_code
            == 200
        )
        calls += 1
    for reviewer in filed.reviewers:
        _verification(world, filed, reviewer)
        calls += 1
        url = f"/review/claims/{filed.pk}/evidence/{filed.evidence_id}/content"
        assert world.api.get(url, reviewer.token).status_code == 200
        calls += 1
    # Refused attempts decrypt nothing and log nothing.
    assert (
        world.api.get(f"/claims/{filed.pk}/evidence/{filed.evidence_id}/content", world.member().token).status_code
        == 404
    )
    assert _access_rows(world) - before == calls
    with world.runtime.sessions() as session:
        assert verify_access_log(session).ok
        rows = session.scalars(select(EvidenceAccess).order_by(EvidenceAccess.id)).all()
        target = rows[len(rows) // 2]
        target_id, purpose = target.id, target.purpose
        following = rows[len(rows) // 2 + 1].id
    with world.runtime.sessions.begin() as session:
        row = session.get(EvidenceAccess, target_id)
        assert row is not None
        row.purpose = "nothing_to_see"
    with world.runtime.sessions() as session:
        edited = verify_access_log(session)
    assert (edited.ok, edited.bad_row) == (False, target_id)
    assert "edited" in str(edited.problem)
    with world.runtime.sessions.begin() as session:
        row = session.get(EvidenceAccess, target_id)
        assert row is not None
        row.purpose = purpose
        saved = {
            c: getattr(row, c) for c in ("id", "evidence_id", "account_id", "purpose", "at", "prev_hash", "entry_hash")
        }
        session.delete(row)
    with world.runtime.sessions() as session:
        deleted = verify_access_log(session)
    assert (deleted.ok, deleted.bad_row) == (False, following)
    with world.runtime.sessions.begin() as session:
        session.add(EvidenceAccess(**saved))
    with world.runtime.sessions() as session:
        assert verify_access_log(session).ok


def test_claim_detail_and_verification_refuse_unassigned_reviewers(world: World) -> None:
    filed = _file(world, "unassigned", name="x.png")
    unassigned = next(r for r in world.reviewers if r not in filed.reviewers)
    for url in (
        f"/review/claims/{filed.pk}",
        f"/review/claims/{filed.pk}/evidence/{filed.evidence_id}/verification",
    ):
        response = world.api.get(url, unassigned.token)
        missing = world.api.get(url.replace(filed.pk, "0" * 32), unassigned.token)
        assert response.status_code == 404
        assert response.content == missing.content
    assert png(b"x").startswith(b"\x89PNG")


def test_download_name_takes_its_extension_from_the_verified_type(world: World) -> None:
    """A PNG uploaded as ``evil.html`` is saved as ``evil.png`` (issue 17 item 13): the claimant's
    name gives only the stem, the server's verified media type the extension."""
    from tests.claims.builders import png

    claimant = world.member()
    filed = world.file(claimant, [("evil.html", png(b"not html"), "image/png")])
    assert filed.status_code == 201, filed.text
    claim = filed.json()
    evidence_id = claim["evidence"][0]["id"]
    own = world.api.get(f"/claims/{claim['id']}/evidence/{evidence_id}/content", claimant.token)
    disposition = own.headers["content-disposition"]
    assert disposition == f"attachment; filename=\"evidence-{evidence_id}.png\"; filename*=UTF-8''evil.png"
    assert ".html" not in disposition
    reviewer = world.reviewers_of(claim["id"])[0]
    theirs = world.api.get(f"/review/claims/{claim['id']}/evidence/{evidence_id}/content", reviewer.token)
    assert "evil" not in theirs.headers["content-disposition"]
