"""Participants' own signing keys and the verdicts they sign on their device.

* ``GET /signing-key`` — where my key lives (``device``, ``server`` — the legacy sealed key —, ``none``).
* ``POST /signing-key/challenge`` ``{address}`` — the KeyRegistration typed-data document to sign.
* ``POST /signing-key`` ``{address, expiresAt, signature}`` — register it (proof of possession).
* ``POST /review/claims/{id}/verdict/draft`` ``{verdict, reasonCode, report}`` — the Verdict typed-data
  document my device signs (the server stores the encrypted report, reads nonce and deadline).
* ``POST /review/claims/{id}/verdict/signed`` ``{message, signature}`` — the signed verdict; the
  server checks it against its draft and my registered address, then relays it. It never signs.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import Field

from backend.api.deps import CurrentPrincipal, RuntimeDep, role_dependency
from backend.api.schemas import ApiModel, Hex, OnChainRoleOut, VerdictIn, VerdictOut
from backend.errors import InvalidInput
from backend.services import device_verdicts, participant_keys
from backend.services.auth import Principal
from backend.services.review_verdicts import VerdictRequest

router = APIRouter(tags=["signing keys"])
# Keys are for the participants who sign (403 for any other role before the body is read).
Signer = Annotated[Principal, role_dependency("reviewer", "juror")]


class SigningKeyOut(ApiModel):
    address: str | None = Field(description="the address the server holds for me (never a key)")
    custody: str = Field(description="device: my own key; server: the legacy server-held key; none")
    device_keys_supported: bool = Field(description="whether my role may register its own key yet")
    on_chain_role: OnChainRoleOut | None = Field(
        None, description="my address's roster role on chain: in force, pending until a time, being revoked"
    )


ADDRESS = r"^0x[0-9a-fA-F]{40}$"
SIGNATURE = r"^0x[0-9a-fA-F]{130}$"


class ChallengeIn(ApiModel):
    address: str = Field(pattern=ADDRESS, description="the address of the key to register")


class TypedDataOut(ApiModel):
    typed_data: dict[str, Any] = Field(description="the EIP-712 document (eth_signTypedData_v4 shape) to sign")


class RegistrationIn(ApiModel):
    address: str = Field(pattern=ADDRESS)
    expires_at: int = Field(ge=0, lt=2**63, description="the challenge's expiresAt, as handed out")
    signature: str = Field(pattern=SIGNATURE, description="0x r ‖ s ‖ v (65 bytes) over the challenge document")


class RegistrationOut(ApiModel):
    address: str
    previous_address: str | None
    retired_server_key: bool = Field(description="the server-held key was deleted and its role revoked")
    grant_tx: Hex | None
    revoke_tx: Hex | None
    conflicts_declared: int


class VerdictDraftOut(ApiModel):
    typed_data: dict[str, Any] = Field(description="the Verdict document my device signs, as is")
    signer: str = Field(description="the registered address that must sign it")
    report_hash: str
    report_salt: str = Field(description="lets my device check reportHash against my report before signing")
    expires_at: int = Field(description="the verdict's deadline (block timestamp)")


class SignedVerdictIn(ApiModel):
    message: dict[str, Any] = Field(description="the Verdict message of the draft, as signed")
    signature: str = Field(pattern=SIGNATURE, description="0x r ‖ s ‖ v (65 bytes)")


def _signature(value: str) -> bytes:
    text = value[2:] if value.startswith("0x") else value
    try:
        raw = bytes.fromhex(text)
    except ValueError as exc:
        raise InvalidInput("signature must be hex", code="BAD_SIGNATURE", field="signature") from exc
    if len(raw) != 65:
        raise InvalidInput("a signature is 65 bytes r ‖ s ‖ v", code="BAD_SIGNATURE", field="signature")
    return raw


@router.get("/signing-key", response_model=SigningKeyOut, summary="Where my signing key lives")
def my_key(runtime: RuntimeDep, principal: Signer) -> SigningKeyOut:
    return SigningKeyOut.of(participant_keys.my_signing_key(runtime, principal))


@router.post(
    "/signing-key/challenge", response_model=TypedDataOut, summary="The challenge my device signs to register a key"
)
def challenge(body: ChallengeIn, runtime: RuntimeDep, principal: Signer) -> TypedDataOut:
    return TypedDataOut(typed_data=participant_keys.key_registration_challenge(runtime, principal, body.address))


@router.post("/signing-key", response_model=RegistrationOut, summary="Register my own signing key")
def register(body: RegistrationIn, runtime: RuntimeDep, principal: Signer) -> RegistrationOut:
    result = participant_keys.register_signing_key(
        runtime, principal, body.address, body.expires_at, _signature(body.signature)
    )
    return RegistrationOut.of(result)


@router.post(
    "/review/claims/{claim_pk}/verdict/draft",
    response_model=VerdictDraftOut,
    tags=["review"],
    summary="The verdict document my device signs",
)
def verdict_draft(claim_pk: str, body: VerdictIn, runtime: RuntimeDep, principal: CurrentPrincipal) -> VerdictDraftOut:
    request = VerdictRequest(body.verdict, body.reason_code, body.report)
    return VerdictDraftOut.of(device_verdicts.draft_verdict(runtime, principal, claim_pk, request))


@router.post(
    "/review/claims/{claim_pk}/verdict/signed",
    response_model=VerdictOut,
    tags=["review"],
    summary="Relay my device-signed verdict",
)
def verdict_signed(
    claim_pk: str, body: SignedVerdictIn, runtime: RuntimeDep, principal: CurrentPrincipal
) -> VerdictOut:
    result = device_verdicts.submit_signed_verdict(
        runtime, principal, claim_pk, body.message, _signature(body.signature)
    )
    return VerdictOut.of(result)
