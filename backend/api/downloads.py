"""Decrypted evidence as an HTTP download (claimants' and reviewers' routes answer with the same)."""

from __future__ import annotations

import urllib.parse

from fastapi.responses import StreamingResponse

from backend.services.review_evidence import OpenedEvidence

EXTENSIONS = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}


def download_name(evidence_id: str, media_type: str, original_name: str | None) -> str:
    """The name a download is saved under, chosen by the server: the extension always comes from
    the verified media type (a PNG uploaded as ``evil.html`` saves as ``evil.png``, never as HTML);
    the claimant's own name only gives the stem; without it, ``evidence-<id>``."""
    extension = EXTENSIONS.get(media_type, ".bin")
    stem = (original_name or "").rsplit(".", 1)[0].strip(" .") if original_name else ""
    return f"{stem or f'evidence-{evidence_id}'}{extension}"


def content_disposition(evidence_id: str, media_type: str, original_name: str | None) -> str:
    """``attachment`` with an ASCII fallback name and the RFC 6266 / 5987 ``filename*``."""
    fallback = download_name(evidence_id, media_type, None)
    name = download_name(evidence_id, media_type, original_name)
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
