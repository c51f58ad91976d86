"""A participant's device, played in code: the demo seeder and the tests use it where a reviewer
or juror would use the browser or ``hubao sign``.

The key is made and kept by the caller (the "device"); the server sees its address, the answer
to its registration challenge and signatures, never the key. Everything goes through the public
HTTP API (``InProcessClient`` or anything with the same ``post``), the way a device talks to it.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx
from eth_account import Account as EthAccount

from backend.chain import typed_data
from backend.errors import InvalidInput

__all__ = [
    "ApiClient",
    "DeviceRefused",
    "RemoteApi",
    "commit_vote",
    "demo_device_key",
    "register_key",
    "reveal_vote",
    "sign_verdict",
]

DEMO_DEVICE_SEED = "hubao-demo-device:"


def demo_device_key(username: str) -> bytes:
    """The demo's key for ``username``: keccak256 of a PUBLISHED seed, so anyone can rebuild it
    (``hubao keys new --demo-device NAME``) and act as that demo participant in the browser. Demo
    plans on a local chain only: such a key protects nothing."""
    from eth_utils.crypto import keccak

    return bytes(keccak(text=DEMO_DEVICE_SEED + username))


class ApiClient(Protocol):
    def get(self, url: str, token: str | None = None, **kwargs: Any) -> httpx.Response: ...

    def post(self, url: str, token: str | None = None, **kwargs: Any) -> httpx.Response: ...


class DeviceRefused(RuntimeError):
    """The server refused a device's request; carries the response."""

    def __init__(self, what: str, response: httpx.Response) -> None:
        super().__init__(f"{what} refused: {response.status_code} {response.text}")
        self.response = response


class RemoteApi:
    """The API of a Hubao server over HTTP(S) (``base_url``), as a device (``hubao reviewer``) talks to it."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, follow_redirects=False)

    def request(self, method: str, url: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.request(method, url, headers=headers, **kwargs)

    def get(self, url: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, token, **kwargs)

    def post(self, url: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, token, **kwargs)

    def close(self) -> None:
        self.client.close()


def _ok(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 400:
        raise DeviceRefused(what, response)
    return response.json()


def register_key(api: ApiClient, token: str, key: bytes) -> str:
    """Register ``key``'s address as the caller's signing key by signing the server's challenge.

    The challenge is signed only if it is a Hubao KeyRegistration for this very key: a server (or
    anything posing as one) cannot have the device sign a verdict, a vote or a token permit instead.
    """
    address = str(EthAccount.from_key(key).address)
    document = _ok(api.post("/signing-key/challenge", token, json={"address": address}), "key challenge")["typedData"]
    challenge = typed_data.check_hubao_document(typed_data.load_document(document), primary_type="KeyRegistration")
    if str(challenge["message"].get("key", "")).lower() != address.lower():
        raise InvalidInput(f"the server's challenge is for another key than {address}", code="WRONG_KEY")
    signature = typed_data.sign(challenge, key)
    expires = int(document["message"]["expiresAt"])
    answer = {"address": address, "expiresAt": expires, "signature": "0x" + signature.hex()}
    _ok(api.post("/signing-key", token, json=answer), "key registration")
    return address


def sign_verdict(api: ApiClient, token: str, key: bytes, claim_pk: str, body: dict[str, Any]) -> httpx.Response:
    """Ask the server to draft the verdict ``body``, check the draft is a Hubao Verdict, sign it
    with ``key`` and hand it back for relay; the relay's response (any status) is returned."""
    draft = api.post(f"/review/claims/{claim_pk}/verdict/draft", token, json=body)
    if draft.status_code >= 400:
        return draft
    document = typed_data.check_hubao_document(
        typed_data.load_document(draft.json()["typedData"]), primary_type="Verdict"
    )
    signed = {"message": document["message"], "signature": "0x" + typed_data.sign(document, key).hex()}
    return api.post(f"/review/claims/{claim_pk}/verdict/signed", token, json=signed)


def _vote_section(api: ApiClient, token: str, claim_pk: str) -> dict[str, Any]:
    vote: dict[str, Any] = _ok(api.get(f"/jury/claims/{claim_pk}", token), "jury case")["vote"]
    return vote


def commit_vote(api: ApiClient, token: str, key: bytes, claim_pk: str, approve: bool) -> httpx.Response:
    """A juror's commit: derive the salt from the server's VoteSalt document (signed here, never
    sent), sign the VoteCommit and hand ``{commitment, signature}`` over for relay."""
    vote = _vote_section(api, token, claim_pk)
    payloads = typed_data.vote_payloads(vote["saltTypedData"], key, approve)
    return api.post(f"/jury/claims/{claim_pk}/commit", token, json=payloads["commit"])


def reveal_vote(api: ApiClient, token: str, key: bytes, claim_pk: str, approve: bool | None = None) -> httpx.Response:
    """A juror's reveal: re-derive the salt and send ``{approve, salt}``; without ``approve`` the vote
    is read back from the on-chain commitment (nothing was kept since the commit)."""
    vote = _vote_section(api, token, claim_pk)
    if approve is None:
        opened = [
            choice
            for choice in (True, False)
            if typed_data.vote_payloads(vote["saltTypedData"], key, choice)["commit"]["commitment"]
            == str(vote.get("commitment") or "").lower()
        ]
        if not opened:
            raise ValueError("this key does not open the commitment on record")
        approve = opened[0]
    payloads = typed_data.vote_payloads(vote["saltTypedData"], key, approve)
    return api.post(f"/jury/claims/{claim_pk}/reveal", token, json=payloads["reveal"])
