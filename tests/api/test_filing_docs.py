"""A claimant who follows the README or the /docs summary of ``POST /claims`` learns every field the
form needs: ``claimantKey`` (required since claims are bound to a key of the claimant's device) was
named by neither, so a filing written from them was answered 422 VALIDATION_ERROR."""

from __future__ import annotations

from pathlib import Path

from backend.api.app import create_app
from backend.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def _required_filing_fields(tmp_path: Path) -> list[str]:
    spec = create_app(Settings(data_dir=tmp_path)).openapi()
    form = spec["paths"]["/claims"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    return list(form["required"])


def test_the_filing_summary_and_the_readme_name_every_required_field(tmp_path: Path) -> None:
    required = _required_filing_fields(tmp_path)
    assert "claimantKey" in required
    summary = create_app(Settings(data_dir=tmp_path)).openapi()["paths"]["/claims"]["post"]["summary"]
    member_row = next(line for line in README.read_text().splitlines() if line.startswith("| member |"))
    for field in required:
        assert field in summary, f"the POST /claims summary does not name {field}"
        assert field in member_row, f"the README's member row does not name {field}"
