"""Claims over HTTP: filing (multipart, streamed), the claimant's views and actions, operator steps.

``router`` also carries the review, notice and jury routers, so the app includes one router.

Filing is one ``multipart/form-data`` request: the fields ``illnessCode`` and ``diagnosisDate``
first, then one or more ``files`` parts (PDF, PNG or JPEG, each within the upload limit). As with
S3's POST uploads, fields must precede files: the form is checked before any byte of evidence is
stored, and every file streams straight into the encrypting store (never spooled to disk).
"""

from __future__ import annotations

import asyncio
import collections
import urllib.parse
from collections.abc import Iterator
from dataclasses import asdict, replace
from datetime import date, datetime
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from backend.api.deps import CurrentPrincipal, RuntimeDep, SessionDep
from backend.api.uploads import run_with_body
from backend.errors import InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType
from backend.services import claims as service
from backend.services import jury as jury_service
from backend.services.claims import MAX_FILES_PER_CLAIM, ClaimRequest, ClaimView, TimelineEntry
from backend.services.filing import filing_relay
from backend.services.review import OpenedEvidence, open_claim_evidence

router = APIRouter()
claims_router = APIRouter(prefix="/claims", tags=["claims"])

_MAX_FIELD_BYTES = 1024
_MAX_FIELDS = 10


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class EvidenceOut(ApiModel):
    id: str
    media_type: str
    size: int
    commitment: str = Field(description="keccak256(abi.encode(sha256(plaintext), salt)), the anchored value")
    cid: str = Field(description="CID of the encrypted file")
    anchored: bool
    duplicate: bool = Field(description="the same plaintext is evidence of another claim")
    original_name: str | None = Field(None, description="only shown to the claimant")


class ClaimOut(ApiModel):
    id: str
    claim_id: str = Field(description="the claim's id on ClaimLedger")
    status: str
    illness_code: str
    diagnosis_date: date
    age_at_diagnosis: int
    payout_fen: int
    rule_set_hash: str
    evidence_root: str
    reason_code: str | None
    flags: list[str]
    filed_at: datetime
    updated_at: datetime
    final_at: datetime | None
    evidence: list[EvidenceOut]
    chain_mismatch: list[str] = Field(
        default_factory=list,
        description="fields (status, payoutFen) whose database copy disagrees with ClaimLedger; "
        "status and payoutFen shown are the chain's",
    )

    @classmethod
    def of(cls, view: ClaimView) -> ClaimOut:
        data = asdict(view)
        data["evidence"] = [EvidenceOut(**e) for e in data["evidence"]]
        return cls(**data)


class TimelineOut(ApiModel):
    kind: str
    at: datetime
    block_number: int | None
    tx_hash: str | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, entry: TimelineEntry) -> TimelineOut:
        return cls(**asdict(entry))


class PayoutIn(ApiModel):
    reference: str = Field(min_length=1, max_length=200, description="the payment record (kept off chain)")


# --- streaming multipart ------------------------------------------------------------------------


class _Part:
    def __init__(self, name: str, filename: str | None, content_type: str, data: Iterator[bytes]) -> None:
        self.name = name
        self.filename = filename
        self.content_type = content_type
        self.data = data


class _MultipartReader:
    """Pull-based multipart reader: parts are yielded as the body streams, bodies chunk by chunk."""

    def __init__(self, body: Iterator[bytes], boundary: bytes) -> None:
        self._body = body
        self._events: collections.deque[tuple[str, Any]] = collections.deque()
        self._headers: dict[str, bytes] = {}
        self._field = b""
        self._value = b""
        self._done = False
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._begin,
                "on_header_field": lambda d, s, e: self._append("_field", d[s:e]),
                "on_header_value": lambda d, s, e: self._append("_value", d[s:e]),
                "on_header_end": self._header_end,
                "on_headers_finished": lambda: self._events.append(("headers", dict(self._headers))),
                "on_part_data": lambda d, s, e: self._events.append(("data", bytes(d[s:e]))),
                "on_part_end": lambda: self._events.append(("end", None)),
            },
        )

    def _append(self, attr: str, data: bytes) -> None:
        setattr(self, attr, getattr(self, attr) + bytes(data))

    def _begin(self) -> None:
        self._headers = {}

    def _header_end(self) -> None:
        self._headers[self._field.decode("latin-1").lower()] = self._value
        self._field = self._value = b""

    def _next(self) -> tuple[str, Any] | None:
        while not self._events:
            if self._done:
                return None
            chunk = next(self._body, None)
            try:
                if chunk is None:
                    self._parser.finalize()
                    self._done = True
                elif chunk:
                    self._parser.write(chunk)
            except MultipartParseError as exc:
                # Includes the parser's own bounds (header line size, headers per part): a 4xx, not a 500.
                raise InvalidInput(f"malformed multipart body: {exc}", code="MALFORMED_MULTIPART") from exc
        return self._events.popleft()

    def _data(self) -> Iterator[bytes]:
        while True:
            event = self._next()
            if event is None:
                raise InvalidInput("the multipart body ended inside a part", code="MALFORMED_MULTIPART")
            if event[0] == "end":
                return
            if event[0] == "data" and event[1]:
                yield event[1]

    def parts(self) -> Iterator[_Part]:
        while True:
            event = self._next()
            if event is None:
                return
            if event[0] != "headers":
                continue
            headers: dict[str, bytes] = event[1]
            _, options = parse_options_header(headers.get("content-disposition", b""))
            name = options.get(b"name", b"").decode("utf-8", "replace")
            raw_filename = options.get(b"filename")
            filename = raw_filename.decode("utf-8", "replace") if raw_filename is not None else None
            content_type = headers.get("content-type", b"").decode("latin-1").split(";")[0].strip().lower()
            data = self._data()
            yield _Part(name, filename, content_type, data)
            for _ in data:  # drain what the consumer left
                pass


def _field_text(part: _Part) -> str:
    collected = b""
    for chunk in part.data:
        collected += chunk
        if len(collected) > _MAX_FIELD_BYTES:
            raise InvalidInput(f"field {part.name!r} is too long", code="FIELD_TOO_LONG", field=part.name)
    return collected.decode("utf-8", "replace").strip()


def _claim_request(fields: dict[str, str]) -> ClaimRequest:
    code = fields.get("illnessCode")
    raw_date = fields.get("diagnosisDate")
    if not code:
        raise InvalidInput("illnessCode: field required (send the fields before the files)", code="VALIDATION_ERROR")
    if not raw_date:
        raise InvalidInput("diagnosisDate: field required (send the fields before the files)", code="VALIDATION_ERROR")
    try:
        diagnosis = date.fromisoformat(raw_date)
    except ValueError as exc:
        raise InvalidInput("diagnosisDate: use YYYY-MM-DD", code="VALIDATION_ERROR") from exc
    return ClaimRequest(illness_code=code.upper(), diagnosis_date=diagnosis)


@claims_router.post(
    "",
    status_code=201,
    response_model=ClaimOut,
    summary="File a claim: fields illnessCode, diagnosisDate, then one or more files (multipart, streamed)",
    responses={
        409: {"description": "membership not active"},
        413: {"description": "a file is too large"},
        415: {"description": "not multipart, or a file is not PDF/PNG/JPEG"},
        422: {"description": "bad field, unknown illness code, no file"},
        429: {"description": "claim quota used up"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["illnessCode", "diagnosisDate", "files"],
                        "properties": {
                            "illnessCode": {"type": "string", "example": "CI001"},
                            "diagnosisDate": {"type": "string", "format": "date"},
                            "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        },
                    }
                }
            },
        }
    },
)
async def file_claim(request: Request, runtime: RuntimeDep, principal: CurrentPrincipal) -> ClaimOut:
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaType("send the claim as multipart/form-data")
    limit = runtime.settings.upload_max_bytes * MAX_FILES_PER_CLAIM + 64 * 1024
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the claim is larger than the {limit}-byte limit")
    service.require_claimant_role(principal)

    def work(chunks: Iterator[bytes]) -> service.ClaimDraft:
        reader = _MultipartReader(chunks, boundary)
        fields: dict[str, str] = {}
        draft: service.ClaimDraft | None = None
        try:
            for part in reader.parts():
                if part.filename is None:
                    if draft is not None:
                        raise InvalidInput("send the fields before the files", code="FIELDS_AFTER_FILES")
                    if len(fields) >= _MAX_FIELDS:
                        raise InvalidInput("too many fields", code="TOO_MANY_FIELDS")
                    fields[part.name] = _field_text(part)
                    continue
                if part.name != "files":
                    raise InvalidInput("files go in parts named 'files'", code="VALIDATION_ERROR")
                if draft is None:
                    draft = service.begin_claim(runtime, principal, _claim_request(fields))
                service.add_claim_file(runtime, draft, part.data, part.content_type, part.filename)
            if draft is None:
                service.begin_claim(runtime, principal, _claim_request(fields))
                raise InvalidInput("a claim needs at least one evidence file", code="EVIDENCE_REQUIRED")
            service.record_claim(runtime, draft)
        except BaseException:
            if draft is not None:
                service.abandon_claim(runtime, draft)
            raise
        return draft

    draft = await run_with_body(request, work)
    view = draft.recorded
    if view is not None and view.status == "FILED":
        # The claim is committed; the filing relay files it on chain in a transaction shared with
        # every filing waiting. Awaited on the event loop: waiting holds no thread.
        state = await asyncio.wrap_future(filing_relay(runtime).submit(draft.claim_pk))
        # The answer is the recorded view with the state the relay wrote; read back only when
        # another process (or an earlier round) moved the claim.
        view = (
            None
            if state is None
            else replace(view, status=state.status, updated_at=state.updated_at, final_at=state.final_at)
        )
    if view is None:
        view = await anyio.to_thread.run_sync(service.filed_claim_view, runtime, draft.claim_pk)
    return ClaimOut.of(view)


# --- the claimant's (and auditor's) views --------------------------------------------------------


@claims_router.get("", response_model=list[ClaimOut], summary="Own claims (members); all claims (operators, auditors)")
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


@claims_router.get("/{claim_pk}", response_model=ClaimOut, summary="One claim: status, flags, amounts, evidence")
def get_claim(claim_pk: str, runtime: RuntimeDep, session: SessionDep, principal: CurrentPrincipal) -> ClaimOut:
    return ClaimOut.of(service.get_claim_view(session, principal, claim_pk, chain=service.ledger(runtime)))


@claims_router.get(
    "/{claim_pk}/timeline", response_model=list[TimelineOut], summary="Every step, on-chain ones with block and tx"
)
def get_timeline(claim_pk: str, session: SessionDep, principal: CurrentPrincipal) -> list[TimelineOut]:
    return [TimelineOut.of(e) for e in service.claim_timeline(session, principal, claim_pk)]


@claims_router.get(
    "/{claim_pk}/evidence/{evidence_id}/receipt",
    summary="Evidence receipt: the claimant's PRIVATE copy (with salt); public copy for operators/auditors",
    responses={404: {"description": "unknown or not yours"}, 409: {"description": "not anchored yet"}},
)
def get_receipt(
    claim_pk: str, evidence_id: str, runtime: RuntimeDep, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    return service.claim_evidence_receipt(runtime, session, principal, claim_pk, evidence_id).to_json()


def content_disposition(evidence_id: str, media_type: str, original_name: str | None) -> str:
    """``attachment`` with an ASCII fallback name and the RFC 6266 / 5987 ``filename*``."""
    extension = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}.get(media_type, "")
    fallback = f"evidence-{evidence_id}{extension}"
    name = original_name or fallback
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"


def evidence_response(opened: OpenedEvidence) -> StreamingResponse:
    """The decrypted file as a download that no browser renders inline."""
    return StreamingResponse(
        opened.chunks,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": content_disposition(opened.evidence_id, opened.media_type, opened.original_name),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            "Content-Length": str(opened.size),
        },
    )


@claims_router.get(
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


@claims_router.post("/{claim_pk}/appeal", response_model=ClaimOut, summary="Appeal a review rejection (once)")
def appeal(claim_pk: str, runtime: RuntimeDep, principal: CurrentPrincipal) -> ClaimOut:
    return ClaimOut.of(service.appeal_claim(runtime, principal, claim_pk))


@claims_router.post("/{claim_pk}/withdraw", response_model=ClaimOut, summary="Withdraw an undecided claim")
def withdraw(claim_pk: str, runtime: RuntimeDep, principal: CurrentPrincipal) -> ClaimOut:
    return ClaimOut.of(service.withdraw_claim(runtime, principal, claim_pk))


# --- operator steps --------------------------------------------------------------------------------


def _operator_claim(runtime: RuntimeDep, principal: CurrentPrincipal, claim_pk: str, step: str) -> ClaimOut:
    if principal.role != "operator":
        raise NotFound("no such claim")
    with runtime.sessions.begin() as session:
        claim = service.get_claim(session, claim_pk)
        if step == "finalize":
            jury_service.finalize_notice(runtime, session, claim)
        elif step == "tally":
            jury_service.tally_jury(runtime, session, claim)
        else:
            jury_service.draw_jury(runtime, session, claim)
        return ClaimOut.of(service.claim_view(session, claim))


@claims_router.post("/{claim_pk}/payout", response_model=ClaimOut, summary="Operator: record the payout (→ PAID)")
def payout(claim_pk: str, body: PayoutIn, runtime: RuntimeDep, principal: CurrentPrincipal) -> ClaimOut:
    return ClaimOut.of(service.record_payout(runtime, principal, claim_pk, body.reference))


@claims_router.post(
    "/{claim_pk}/finalize-notice", response_model=ClaimOut, summary="Operator: approve after an unopposed notice"
)
def finalize_notice(claim_pk: str, runtime: RuntimeDep, principal: CurrentPrincipal) -> ClaimOut:
    return _operator_claim(runtime, principal, claim_pk, "finalize")


@claims_router.post("/{claim_pk}/tally", response_model=ClaimOut, summary="Operator: tally the jury after reveals")
def tally(claim_pk: str, runtime: RuntimeDep, principal: CurrentPrincipal) -> ClaimOut:
    return _operator_claim(runtime, principal, claim_pk, "tally")


@claims_router.post("/{claim_pk}/jury", response_model=ClaimOut, summary="Operator: draw a jury round (after a void)")
def draw(claim_pk: str, runtime: RuntimeDep, principal: CurrentPrincipal) -> ClaimOut:
    return _operator_claim(runtime, principal, claim_pk, "draw")


def _include_all() -> None:
    from backend.api.routes import jury, notice, review

    router.include_router(claims_router)
    router.include_router(review.router)
    router.include_router(notice.router)
    router.include_router(jury.router)


_include_all()
