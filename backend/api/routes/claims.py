"""Claims over HTTP: filing (multipart, streamed), the claimant's views and actions, operator steps.

Filing is one ``multipart/form-data`` request: the fields ``illnessCode``, ``diagnosisDate``,
``claimantKey`` (the address of a fresh key the claimant's device made for this claim), and
``acknowledgeWaitingPeriod=true`` for a diagnosis inside the waiting period, first, then one or more
``files`` parts (PDF, PNG or JPEG, each within the upload limit). As with
S3's POST uploads, fields must precede files: the form is checked before any byte of evidence is
stored, and every file streams straight into the encrypting store (never spooled to disk). An
``Idempotency-Key`` header makes the filing idempotent for the member: a retry with the same key
answers the claim already recorded (header ``Idempotent-Replayed: true``), never a second claim.

The answer comes once the claim is on chain (``201``, ``UNDER_REVIEW``), or — with the header
``Prefer: respond-async`` (RFC 7240) — as soon as the claim and its evidence are durable in the
database (``202``, ``FILED``, ``Preference-Applied: respond-async``, ``Location`` of the claim).
Either way the answer carries the operator's signed filing receipt: its ``onChainBy`` deadline is
the promise an asynchronous filer holds, exactly as an evidence upload's receipt is anchored later
by the batch worker; a claim not on chain by then is provable censorship (``hubao receipt
verify``). The filing relay takes the claim on chain in its next shared transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import replace
from datetime import date
from typing import Annotated, Any

import anyio.to_thread
from eth_utils.address import is_address, to_checksum_address
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import Field

from backend.api.deps import CurrentPrincipal, RuntimeDep, SessionDep
from backend.api.downloads import evidence_response
from backend.api.multipart import FieldsThenFiles, MultipartReader, form_boundary
from backend.api.schemas import ApiModel, ClaimOut, TimelineOut
from backend.api.uploads import run_with_body
from backend.errors import InvalidInput, MalformedRequest, NotFound, PayloadTooLarge
from backend.logs import cause_of
from backend.services import claim_actions, claim_filing
from backend.services import claims as service
from backend.services.chain_clock import block_times
from backend.services.claim_filing import MAX_FILES_PER_CLAIM, ClaimRequest
from backend.services.evidence import size_text
from backend.services.filing_receipts import filing_receipt_of
from backend.services.operator_actions import run_operator_step
from backend.services.review_evidence import open_claim_evidence

log = logging.getLogger(__name__)

router = APIRouter(prefix="/claims", tags=["claims"])


class PayoutIn(ApiModel):
    reference: str = Field(min_length=1, max_length=200, description="the payment record (kept off chain)")


IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")
_TRUE, _FALSE = frozenset({"true", "1", "yes", "on"}), frozenset({"", "false", "0", "no", "off"})


def _idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not IDEMPOTENCY_KEY.match(value):
        raise InvalidInput(
            "Idempotency-Key: 8 to 64 characters of letters, digits and _ . : - (e.g. a UUID)",
            code="VALIDATION_ERROR",
        )
    return value


def _claim_request(fields: dict[str, str], idempotency_key: str | None = None) -> ClaimRequest:
    code = fields.get("illnessCode")
    raw_date = fields.get("diagnosisDate")
    if not code:
        raise MalformedRequest("illnessCode: field required (send the fields before the files)", code="MISSING_FIELD")
    if not raw_date:
        raise MalformedRequest("diagnosisDate: field required (send the fields before the files)", code="MISSING_FIELD")
    try:
        diagnosis = date.fromisoformat(raw_date)
    except ValueError as exc:
        raise InvalidInput("diagnosisDate: use YYYY-MM-DD", code="VALIDATION_ERROR") from exc
    key = fields.get("claimantKey")
    if not key:
        raise MalformedRequest(
            "claimantKey: field required, the address of the key your device made for this claim "
            "(send the fields before the files)",
            code="MISSING_FIELD",
        )
    if not is_address(key):
        raise InvalidInput(
            "claimantKey: the address of the key your device made for this claim (send the fields before the files)",
            code="VALIDATION_ERROR",
        )
    acknowledged = fields.get("acknowledgeWaitingPeriod", "").strip().lower()
    if acknowledged not in _TRUE | _FALSE:
        raise InvalidInput("acknowledgeWaitingPeriod: send true or false", code="VALIDATION_ERROR")
    return ClaimRequest(
        illness_code=code.upper(),
        diagnosis_date=diagnosis,
        acknowledge_waiting_period=acknowledged in _TRUE,
        idempotency_key=idempotency_key,
        claimant_key=to_checksum_address(key),
    )


@router.post(
    "",
    status_code=201,
    response_model=ClaimOut,
    summary="File a claim: fields illnessCode, diagnosisDate, claimantKey, then files (multipart, streamed)",
    description=(
        "A diagnosis inside the member's waiting period rejects the claim, ends the membership for good "
        "and refunds the shares paid: such a filing is refused with 422 WAITING_PERIOD_NOT_ACKNOWLEDGED "
        "before anything is stored, unless the form says acknowledgeWaitingPeriod=true. Send an "
        "Idempotency-Key header (e.g. a UUID) so that a retry after a lost answer returns the same claim. "
        "The answer waits for the chain (201 UNDER_REVIEW) unless the request says Prefer: respond-async "
        "(202 FILED once durable, with the signed filing receipt whose onChainBy deadline binds the operator)."
    ),
    responses={
        202: {
            "model": ClaimOut,
            "description": "with Prefer: respond-async — the claim is durable (FILED, with its signed filing "
            "receipt) and goes on chain in the relay's next transaction; poll the Location",
        },
        400: {
            "description": "the form cannot be read: malformed (MALFORMED_MULTIPART), a required field or file "
            "missing (MISSING_FIELD, EVIDENCE_REQUIRED), fields after files (FIELDS_AFTER_FILES), a part not "
            "named files (UNEXPECTED_PART), too many or too long fields (TOO_MANY_FIELDS, FIELD_TOO_LONG)"
        },
        409: {"description": "membership not active"},
        413: {"description": "a file is too large"},
        415: {"description": "not multipart, or a file is not PDF/PNG/JPEG"},
        422: {
            "description": "a field with a wrong value (VALIDATION_ERROR), unknown illness code, too many files "
            "(TOO_MANY_FILES), or a waiting-period filing not acknowledged (WAITING_PERIOD_NOT_ACKNOWLEDGED)"
        },
        429: {"description": "claim quota used up"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["illnessCode", "diagnosisDate", "claimantKey", "files"],
                        "properties": {
                            "illnessCode": {"type": "string", "example": "CI001"},
                            "diagnosisDate": {"type": "string", "format": "date"},
                            "claimantKey": {
                                "type": "string",
                                "description": "address of a fresh key your device made for this claim only",
                                "pattern": "^0x[0-9a-fA-F]{40}$",
                            },
                            "acknowledgeWaitingPeriod": {
                                "type": "boolean",
                                "default": False,
                                "description": "required (true) for a diagnosis inside the waiting period: "
                                "the claim is then rejected and the membership ends",
                            },
                            "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        },
                    }
                }
            },
        }
    },
)
async def file_claim(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    principal: CurrentPrincipal,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="a key of the client's (e.g. a UUID): a retry with it answers the claim already filed",
        ),
    ] = None,
    prefer: Annotated[
        str | None,
        Header(
            description="respond-async: answer 202 FILED once the claim is durable (with its signed filing "
            "receipt) instead of 201 once it is on chain",
        ),
    ] = None,
) -> ClaimOut:
    key = _idempotency_key(idempotency_key)
    respond_async = prefers_async(prefer)
    if key is not None:
        earlier = await anyio.to_thread.run_sync(
            claim_filing.claim_by_idempotency_key, runtime, principal.account_id, key
        )
        if earlier is not None:
            response.headers["Idempotent-Replayed"] = "true"
            return await _replayed(runtime, earlier)
    boundary = form_boundary(request.headers.get("content-type", ""))
    limit = runtime.settings.upload_max_bytes * MAX_FILES_PER_CLAIM + 64 * 1024
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"the claim is larger than {size_text(limit)}: at most {MAX_FILES_PER_CLAIM} files of "
            f"{size_text(runtime.settings.upload_max_bytes)} each"
        )
    claim_filing.require_claimant_role(principal)
    relay = runtime.filing_relay
    announced = False  # told the relay a filing is on its way (its round may wait for it)

    def work(chunks: Iterator[bytes]) -> claim_filing.ClaimDraft:
        nonlocal announced
        form = FieldsThenFiles(MultipartReader(chunks, boundary).parts(), files_name="files")
        fields = form.fields()
        draft: claim_filing.ClaimDraft | None = None
        try:
            for part in form.files():
                if draft is None:
                    draft = claim_filing.begin_claim(runtime, principal, _claim_request(fields, key))
                    relay.expect()
                    announced = True
                claim_filing.add_claim_file(runtime, draft, part.data, part.content_type, part.filename)
            if draft is None:
                claim_filing.begin_claim(runtime, principal, _claim_request(fields, key))
                raise MalformedRequest("a claim needs at least one evidence file", code="EVIDENCE_REQUIRED")
            claim_filing.record_claim(runtime, draft)
        except BaseException:
            if draft is not None:
                claim_filing.abandon_claim(runtime, draft)
            raise
        return draft

    try:
        draft = await run_with_body(request, work)
    except BaseException:
        if announced:
            relay.forget()
        raise
    view = draft.recorded
    relaying = not draft.replayed and view is not None and view.status == "FILED"
    if announced and not relaying:
        relay.forget()
    if draft.replayed and draft.recorded is not None:
        response.headers["Idempotent-Replayed"] = "true"
        return await _replayed(runtime, draft.recorded)
    if relaying and respond_async:
        # Durable and receipted: the relay takes it on chain in its next round; nobody waits.
        relay.submit(draft.claim_pk, expected=announced).add_done_callback(_log_relay_failure)
        response.status_code = 202
        response.headers["Preference-Applied"] = "respond-async"
        response.headers["Location"] = f"/claims/{draft.claim_pk}"
    elif relaying and view is not None:
        # The claim is committed; the filing relay files it on chain in a transaction shared with
        # every filing waiting. Awaited on the event loop: waiting holds no thread.
        state = await asyncio.wrap_future(relay.submit(draft.claim_pk, expected=announced))
        # The answer is the recorded view with the state the relay wrote; read back only when
        # another process (or an earlier round) moved the claim.
        view = (
            None
            if state is None
            else replace(view, status=state.status, updated_at=state.updated_at, final_at=state.final_at)
        )
    if view is None:
        view = await anyio.to_thread.run_sync(claim_filing.filed_claim_view, runtime, draft.claim_pk)
    out = ClaimOut.of(view)
    if draft.filing_receipt is not None:
        out.filing_receipt = draft.filing_receipt.to_json()
    return out


def prefers_async(prefer: str | None) -> bool:
    """Whether a ``Prefer`` header (RFC 7240: comma-separated preferences, each possibly with
    ``;``-parameters) asks for ``respond-async``."""
    if not prefer:
        return False
    return any(token.split(";", 1)[0].strip().lower() == "respond-async" for token in prefer.split(","))


def _log_relay_failure(future: Future[Any]) -> None:
    """An asynchronous filing's relay failed: the claim stays FILED and the workflow clock queues
    it again (``resume_pending_filings``); its filing receipt's deadline still holds the operator."""
    error = future.exception()
    if error is not None:
        log.warning("an asynchronous filing was not relayed yet; it will be retried", extra={"cause": cause_of(error)})


async def _replayed(runtime: RuntimeDep, earlier: service.ClaimView) -> ClaimOut:
    """The answer to a retried filing: the claim already recorded, with its filing receipt."""
    out = ClaimOut.of(earlier)
    receipt = await anyio.to_thread.run_sync(claim_filing.replayed_filing_receipt, runtime, earlier.id)
    if receipt is not None:
        out.filing_receipt = receipt
    return out


# --- the claimant's (and auditor's) views --------------------------------------------------------


@router.get("", response_model=list[ClaimOut], summary="Own claims (members); all claims (operators, auditors)")
def list_claims(
    runtime: RuntimeDep,
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,  # beyond SQLite INTEGER: a 500
    status: Annotated[str | None, Query(pattern=r"^[A-Z_]{2,16}$")] = None,
) -> list[ClaimOut]:
    views = service.list_claims(
        session, principal, limit=limit, offset=offset, status=status, chain=service.ledger(runtime)
    )
    return [ClaimOut.of(v) for v in views]


@router.get("/{claim_pk}", response_model=ClaimOut, summary="One claim: status, flags, amounts, evidence")
def get_claim(claim_pk: str, runtime: RuntimeDep, session: SessionDep, principal: CurrentPrincipal) -> ClaimOut:
    out = ClaimOut.of(service.get_claim_view(session, principal, claim_pk, chain=service.ledger(runtime)))
    if principal.role == "member":  # the claimant reads back the filing receipt the filing answered with
        with contextlib.suppress(NotFound):
            out.filing_receipt = filing_receipt_of(session, service.owned_claim(session, principal, claim_pk))
    return out


@router.get(
    "/{claim_pk}/timeline", response_model=list[TimelineOut], summary="Every step, on-chain ones with block and tx"
)
def get_timeline(
    claim_pk: str, runtime: RuntimeDep, session: SessionDep, principal: CurrentPrincipal
) -> list[TimelineOut]:
    return [TimelineOut.of(e) for e in service.claim_timeline(session, principal, claim_pk, block_times(runtime))]


@router.get(
    "/{claim_pk}/evidence/{evidence_id}/receipt",
    summary="Evidence receipt: the claimant's PRIVATE copy (with salt); public copy for operators/auditors",
    responses={404: {"description": "unknown or not yours"}, 409: {"description": "not anchored yet"}},
)
def get_receipt(
    claim_pk: str, evidence_id: str, runtime: RuntimeDep, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    return service.claim_evidence_receipt(runtime, session, principal, claim_pk, evidence_id).to_json()


@router.get(
    "/{claim_pk}/filing-receipt",
    summary="The operator's signed filing receipt: the claim is on chain by onChainBy, or censorship is provable",
    responses={404: {"description": "unknown, not yours, or a filing the rules rejected (never on chain)"}},
)
def get_filing_receipt(claim_pk: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    return filing_receipt_of(session, service.owned_claim(session, principal, claim_pk))


@router.get(
    "/{claim_pk}/evidence/{evidence_id}/content",
    response_class=StreamingResponse,
    summary="The claimant's own evidence file, decrypted (every decryption is logged)",
    responses={404: {"description": "unknown or not yours"}, 410: {"description": "crypto-shredded"}},
)
def get_content(claim_pk: str, evidence_id: str, runtime: RuntimeDep, principal: CurrentPrincipal) -> StreamingResponse:
    if principal.role != "member":
        raise NotFound("no such evidence")
    return evidence_response(open_claim_evidence(runtime, principal, claim_pk, evidence_id))


# --- claimant actions -----------------------------------------------------------------------------


class ConsentIn(ApiModel):
    deadline: int = Field(ge=0, le=2**53 - 1, description="the signed document's deadline (from the draft)")
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$", description="signed by this claim's key on your device")

    def signed(self) -> claim_actions.SignedConsent:
        return claim_actions.SignedConsent(self.deadline, bytes.fromhex(self.signature[2:]))


class ConsentDraftOut(ApiModel):
    typed_data: dict[str, Any] = Field(description="the EIP-712 document to sign on your device")
    signer: str | None = Field(description="the key that must sign it: this claim's key")


@router.post(
    "/{claim_pk}/appeal/draft",
    response_model=ConsentDraftOut,
    summary="The Appeal for this claim's key to sign on your device",
)
def appeal_draft(claim_pk: str, runtime: RuntimeDep, principal: CurrentPrincipal) -> ConsentDraftOut:
    return ConsentDraftOut.model_validate(claim_actions.consent_draft_for(runtime, principal, claim_pk, "Appeal"))


@router.post(
    "/{claim_pk}/appeal", response_model=ClaimOut, summary="Appeal a review rejection (once), signed by the claim's key"
)
def appeal(claim_pk: str, body: ConsentIn, runtime: RuntimeDep, principal: CurrentPrincipal) -> ClaimOut:
    return ClaimOut.of(claim_actions.appeal_claim(runtime, principal, claim_pk, body.signed()))


@router.post(
    "/{claim_pk}/withdraw/draft",
    response_model=ConsentDraftOut,
    summary="The Withdrawal for this claim's key to sign on your device",
)
def withdraw_draft(claim_pk: str, runtime: RuntimeDep, principal: CurrentPrincipal) -> ConsentDraftOut:
    return ConsentDraftOut.model_validate(claim_actions.consent_draft_for(runtime, principal, claim_pk, "Withdrawal"))


@router.post(
    "/{claim_pk}/withdraw", response_model=ClaimOut, summary="Withdraw an undecided claim, signed by the claim's key"
)
def withdraw(claim_pk: str, body: ConsentIn, runtime: RuntimeDep, principal: CurrentPrincipal) -> ClaimOut:
    return ClaimOut.of(claim_actions.withdraw_claim(runtime, principal, claim_pk, body.signed()))


# --- operator steps --------------------------------------------------------------------------------


@router.post("/{claim_pk}/payout", response_model=ClaimOut, summary="Operator: record the payout (→ PAID)")
def payout(claim_pk: str, body: PayoutIn, runtime: RuntimeDep, principal: CurrentPrincipal) -> ClaimOut:
    return ClaimOut.of(claim_actions.record_payout(runtime, principal, claim_pk, body.reference))


@router.post(
    "/{claim_pk}/finalize-notice", response_model=ClaimOut, summary="Operator: approve after an unopposed notice"
)
def finalize_notice(claim_pk: str, runtime: RuntimeDep, principal: CurrentPrincipal) -> ClaimOut:
    return ClaimOut.of(run_operator_step(runtime, principal, claim_pk, "finalize-notice"))


@router.post("/{claim_pk}/tally", response_model=ClaimOut, summary="Operator: tally the jury after reveals")
def tally(claim_pk: str, runtime: RuntimeDep, principal: CurrentPrincipal) -> ClaimOut:
    return ClaimOut.of(run_operator_step(runtime, principal, claim_pk, "tally"))


@router.post("/{claim_pk}/jury", response_model=ClaimOut, summary="Operator: draw a jury round (after a void)")
def draw(claim_pk: str, runtime: RuntimeDep, principal: CurrentPrincipal) -> ClaimOut:
    return ClaimOut.of(run_operator_step(runtime, principal, claim_pk, "draw-jury"))
