"""Decrypted evidence as an HTTP download (claimants' and reviewers' routes answer with the same)."""

from __future__ import annotations

import urllib.parse

from fastapi.responses import StreamingResponse

from backend.services.review_evidence import OpenedEvidence


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
