"""How the UI is served: same origin, a strict CSP, no inline script or style, nothing from elsewhere.

No browser and no chain: the static routes need neither (the app is built without its lifespan).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backend.api.app import create_app
from backend.api.inprocess import InProcessClient
from backend.config import Settings
from backend.web import CSP, STATIC


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> InProcessClient:
    return InProcessClient(create_app(Settings(data_dir=tmp_path_factory.mktemp("web-static"))))


def test_root_goes_to_the_app_and_the_page_carries_the_csp(client: InProcessClient) -> None:
    root = client.get("/")
    assert root.status_code == 307
    assert root.headers["location"] == "/app/"
    page = client.get("/app/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP
    assert "unsafe-inline" not in CSP
    assert "unsafe-eval" not in CSP
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"


def test_modules_are_served_as_javascript_with_the_csp(client: InProcessClient) -> None:
    for path in ("js/main.js", "js/proofs.js", "js/views/member.js"):
        response = client.get(f"/app/{path}")
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/javascript")
        assert response.headers["content-security-policy"] == CSP


@pytest.mark.parametrize(
    "path",
    [
        "/app/../config.py",
        "/app/%2e%2e/config.py",
        "/app/..%2f__init__.py",
        "/app/nope.js",
        "/app/js",
        "/app/../package.json",
    ],
)
def test_nothing_outside_the_static_files_is_served(client: InProcessClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_html_has_no_inline_script_or_style_and_nothing_loads_from_elsewhere() -> None:
    html = (STATIC / "index.html").read_text()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.DOTALL)
    assert scripts, "the page loads its module"
    assert all("src=" in attrs and not body.strip() for attrs, body in scripts)
    assert " style=" not in html
    assert not re.search(r"\son[a-z]+=", html), "inline event handlers are blocked by the CSP"
    files = [p for p in STATIC.rglob("*") if p.is_file()]
    assert len(files) >= 12
    for path in files:
        if path.is_relative_to(STATIC / "vendor"):
            continue  # third-party modules, byte-pinned to their npm release by tests/device/test_vendor_noble.py
        text = path.read_text()
        urls = re.findall(r"https?://[^\s\"'`)]+", text)
        assert all(u.startswith("http://www.w3.org/2000/svg") for u in urls), (path, urls)
        if path.suffix == ".js":
            assert "innerHTML" not in text, path
            assert "eval(" not in text, path
            assert 'setAttribute("style"' not in text, path


def test_every_imported_module_exists() -> None:
    for path in STATIC.rglob("*.js"):
        for target in re.findall(r"from \"(\.[^\"]+)\"", path.read_text()):
            assert (path.parent / target).resolve().is_file(), (path, target)
    assert Path(STATIC / "js" / "main.js").is_file()


# The web UI reads and sends the API's JSON in camelCase only. Two exceptions, both fixed by
# someone else: the rule set's own keys (``GET /rules/current`` → ``rules``, hashed as they are)
# and the OAuth2 token answer (RFC 6749: ``access_token``, ``expires_in``; the form sends ``grant_type``).
SNAKE_READS_ALLOWED = {
    "r.health_questions",
    "r.min_age_days",
    "r.max_join_age_years",
    "r.min_credit_score",
    "r.waiting_period_days",
    "token.access_token",
    "token.expires_in",
}


def _ui_scripts() -> list[Path]:
    return [p for p in (STATIC / "js").rglob("*.js") if p.is_file()]


def test_ui_reads_api_bodies_in_camel_case_only() -> None:
    reads = {
        (path.name, match)
        for path in _ui_scripts()
        for match in re.findall(r"[A-Za-z_$][\w$]*\??\.[a-z][a-z0-9]*_[a-z0-9_]+\b", path.read_text())
    }
    assert {expr for _, expr in reads} <= SNAKE_READS_ALLOWED, sorted(reads)
    assert ("api.js", "token.access_token") in reads  # the scan sees the scripts' property reads


def test_ui_sends_json_bodies_in_camel_case_only() -> None:
    bodies = [body for path in _ui_scripts() for body in re.findall(r"json:\s*\{([^}]*)\}", path.read_text())]
    keys = {key for body in bodies for key in re.findall(r"(?:^|[{,])\s*([A-Za-z_$][\w$]*)\s*(?=[:,]|$)", body)}
    assert {"birthDate", "creditScore", "healthAnswers", "reasonCode"} <= keys, keys
    assert [key for key in keys if "_" in key] == []


def test_docs_load_swagger_ui_from_this_origin(client: InProcessClient) -> None:
    """/docs works offline: its page names only same-origin assets, served from swagger-ui-dist."""
    import json

    from backend.api.docs import swagger_ui_dist

    page = client.get("/docs")
    assert page.status_code == 200, page.text
    urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
    assert urls, page.text
    assert all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    for off_origin in ("cdn", "http://", "https://"):
        assert off_origin not in page.text.lower()
    dist = swagger_ui_dist()
    assert dist is not None
    pinned = json.loads((Path(__file__).resolve().parents[2] / "package.json").read_text())["dependencies"]
    assert json.loads((dist / "package.json").read_text())["version"] == pinned["swagger-ui-dist"]
    for name, media in (("swagger-ui-bundle.js", "text/javascript"), ("swagger-ui.css", "text/css")):
        asset = client.get(f"/docs/assets/{name}")
        assert asset.status_code == 200
        assert asset.headers["content-type"].startswith(media)
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert asset.content == (dist / name).read_bytes()
    for name in ("package.json", "../package.json", "index.html"):
        assert client.get(f"/docs/assets/{name}").status_code == 404
    assert client.get("/docs/oauth2-redirect").status_code == 200


def test_docs_disabled_serves_nothing(tmp_path: Path) -> None:
    closed = InProcessClient(create_app(Settings(data_dir=tmp_path, docs_enabled=False)))
    for path in ("/docs", "/docs/assets/swagger-ui-bundle.js", "/openapi.json"):
        assert closed.get(path).status_code == 404
