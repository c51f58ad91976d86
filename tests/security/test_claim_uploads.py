"""D7 (hostile filenames) and D9 (multipart and form abuse) on POST /claims, in process.

Bodies are built byte by byte here (not by httpx, which would escape NULs and backslashes), so
the server sees exactly the hostile input.
"""

from __future__ import annotations

import os
import random
import unicodedata
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil
import pytest
from eth_account import Account as EthAccount

from tests.claims.builders import Person, World, pdf, world_fixture

pytestmark = pytest.mark.xdist_group(name="security-claims")

MiB = 1024 * 1024
BOUNDARY = b"hubao-security-boundary"
HOSTILE_NAMES = [
    "../../etc/passwd",
    "..\\..\\x",
    "scan\x00.pdf.exe",
    "n" * 4096 + ".pdf",
    "病" * 1300 + ".pdf",  # 3.9 KiB of UTF-8 in 1,304 characters: a character cap is not a byte cap
    "invoice\u202efdp.exe",
    "CON",
    unicodedata.normalize("NFC", "re\u0301sume\u0301.pdf"),
    unicodedata.normalize("NFD", "re\u0301sume\u0301.pdf"),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from world_fixture(tmp_path_factory, "security-claims")


def _part(name: str, value: bytes, filename: bytes | None = None, content_type: bytes | None = None) -> bytes:
    disposition = b'form-data; name="' + name.encode() + b'"'
    if filename is not None:
        disposition += b'; filename="' + filename.replace(b'"', b"%22") + b'"'
    head = b"Content-Disposition: " + disposition + b"\r\n"
    if content_type is not None:
        head += b"Content-Type: " + content_type + b"\r\n"
    return b"--" + BOUNDARY + b"\r\n" + head + b"\r\n" + value + b"\r\n"


def _fields(claim_key: bytes | None = b"") -> bytes:
    """The filing's fields; ``claim_key`` None leaves claimantKey out (default: a fresh key's address)."""
    diagnosed = (datetime.now(UTC).date() - timedelta(days=10)).isoformat()
    fields = _part("illnessCode", b"CI001") + _part("diagnosisDate", diagnosed.encode())
    if claim_key is None:
        return fields
    return fields + _part("claimantKey", claim_key or EthAccount.create().address.encode())


def _post(world: World, person: Person, body: bytes, content_type: str | None = None) -> httpx.Response:
    return world.api.post(
        "/claims",
        person.token,
        content=body,
        headers={"Content-Type": content_type or f"multipart/form-data; boundary={BOUNDARY.decode()}"},
    )


def _end(parts: bytes) -> bytes:
    return parts + b"--" + BOUNDARY + b"--\r\n"


def _snapshot(*roots: Path) -> set[Path]:
    found: set[Path] = set()
    for root in roots:
        for dirpath, _dirs, files in os.walk(root):
            found.update(Path(dirpath) / name for name in files)
    return found


# --- D7: filenames ----------------------------------------------------------------------------------


def _generated_names(seed: int, count: int) -> list[str]:
    """Seeded hostile names: separators, dots, controls, bidi overrides, astral and combining marks."""
    rng = random.Random(seed)
    alphabet = ["/", "\\", "..", ".", "\x00", "\x1b", "\n", "\u202e", "\u200f", "%2e", "\ufeff", "𝔘", "é", "a"]
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 300))) for _ in range(count)]


@pytest.mark.parametrize(("label", "names"), [("listed", HOSTILE_NAMES), ("generated", _generated_names(7, 10))])
def test_file_claim_keeps_hostile_filenames_as_escaped_metadata(world: World, label: str, names: list[str]) -> None:
    member = world.member()
    data_dir = world.runtime.settings.data_dir
    store_root = Path(world.runtime.store.root)
    watched = (data_dir, Path("/work/main"), Path("/tmp"), Path("/etc"))
    before = _snapshot(*watched[:1]) | {p for p in _snapshot(*watched[1:]) if "passwd" in p.name or p.name == "x"}
    files = b"".join(
        _part("files", pdf(f"{label} {i}"), name.encode("utf-8", "surrogatepass"), b"application/pdf")
        for i, name in enumerate(names)
    )
    response = _post(world, member, _end(_fields() + files))
    assert response.status_code == 201, response.text
    claim = response.json()

    after = _snapshot(data_dir)
    # The keyring's wrap counters (keys/<kid>.wraps) are the server's own bookkeeping: the first
    # data key wrapped in this world may be this filing's, now that no staff key is sealed at setup.
    own = (store_root, data_dir / "keys")
    outside = {
        p for p in after - before if not any(p.is_relative_to(d) for d in own) and p.suffix not in (".db", ".db-wal")
    }
    outside |= {p for p in _snapshot(*watched[1:]) if ("passwd" in p.name or p.name == "x") and p not in before}
    assert outside == set()

    view = world.claim(member, claim["id"])
    assert len(view["evidence"]) == len(names)
    for item, name in zip(view["evidence"], names, strict=True):
        stored = item["originalName"]
        assert stored is None or len(stored.encode()) <= 255, stored
        if stored:
            assert all(c.isprintable() for c in stored), stored
            assert "/" not in stored, stored
            assert "\\" not in stored, stored
            basename = name.replace("\\", "/").rsplit("/", 1)[-1]
            assert "".join(c for c in basename if c.isprintable()).startswith(stored), stored
        assert name not in (item["id"], item["cid"])
        # Stored keys are content addresses of the ciphertext; nothing in the store is named by the user.
        assert not any(name and name in p.name for p in after - before if not p.is_relative_to(data_dir / "keys"))

        content = world.api.get(f"/claims/{claim['id']}/evidence/{item['id']}/content", member.token)
        assert content.status_code == 200
        disposition = content.headers["content-disposition"]
        prefix = f"attachment; filename=\"evidence-{item['id']}.pdf\"; filename*=UTF-8''"
        assert disposition.startswith(prefix), disposition
        encoded = disposition[len(prefix) :]
        assert set(encoded) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789%._-~")
        stem = stored.rsplit(".", 1)[0].strip(" .") if stored else ""
        assert urllib.parse.unquote(encoded) == f"{stem or 'evidence-' + item['id']}.pdf"


def test_file_claim_keeps_nfc_and_nfd_twins_apart(world: World) -> None:
    member = world.member()
    nfc, nfd = HOSTILE_NAMES[-2], HOSTILE_NAMES[-1]
    files = b"".join(
        _part("files", pdf(f"twin {i}"), name.encode(), b"application/pdf") for i, name in enumerate((nfc, nfd))
    )
    response = _post(world, member, _end(_fields() + files))
    assert response.status_code == 201, response.text
    evidence = world.claim(member, response.json()["id"])["evidence"]
    assert len({e["id"] for e in evidence}) == len({e["cid"] for e in evidence}) == 2
    assert [e["originalName"] for e in evidence] == [nfc, nfd]


# --- D9: multipart and form abuse -------------------------------------------------------------------


def _abuse_bodies() -> dict[str, tuple[bytes, str | None]]:
    one_file = _part("files", pdf("x"), b"x.pdf", b"application/pdf")
    return {
        "eleven-files": (_end(_fields() + one_file * 11), None),
        "1001-fields": (_end(b"".join(_part(f"f{i}", b"v") for i in range(1001))), None),
        "2mib-field": (_end(_part("illnessCode", b"C" * (2 * MiB)) + one_file), None),
        "2mib-part-header": (_end(_fields() + _part("files", pdf("x"), b"n" * (2 * MiB), b"application/pdf")), None),
        "field-after-file": (_end(_fields() + one_file + _part("note", b"late")), None),
        "file-not-named-files": (_end(_fields() + _part("upload", pdf("x"), b"x.pdf", b"application/pdf")), None),
        "no-file": (_end(_fields()), None),
        "no-claimant-key": (_end(_fields(None) + one_file), None),
        "bad-claimant-key": (_end(_fields(b"not-an-address") + one_file), None),
        "body-ends-inside-a-part": (_fields() + _part("files", pdf("cut"), b"x.pdf", b"application/pdf")[:-2], None),
        "no-boundary": (_end(_fields() + one_file), "multipart/form-data"),
        "urlencoded-100k-fields": (
            "&".join(f"f{i}=v" for i in range(100_000)).encode(),
            "application/x-www-form-urlencoded",
        ),
    }


# A form that cannot be read as the filing form is 400, as malformed JSON is; a present field with a
# wrong value (422 VALIDATION_ERROR, as inside a JSON body) and the domain's rules (TOO_MANY_FILES) are not.
EXPECTED = {
    "eleven-files": (422, "TOO_MANY_FILES"),
    "1001-fields": (400, "TOO_MANY_FIELDS"),
    "2mib-field": (400, "FIELD_TOO_LONG"),
    "2mib-part-header": (400, "MALFORMED_MULTIPART"),
    "field-after-file": (400, "FIELDS_AFTER_FILES"),
    "file-not-named-files": (400, "UNEXPECTED_PART"),
    "no-file": (400, "EVIDENCE_REQUIRED"),
    "no-claimant-key": (400, "MISSING_FIELD"),
    "bad-claimant-key": (422, "VALIDATION_ERROR"),
    "body-ends-inside-a-part": (400, "MALFORMED_MULTIPART"),
    "no-boundary": (400, "MALFORMED_MULTIPART"),
    "urlencoded-100k-fields": (415, "UNSUPPORTED_MEDIA_TYPE"),
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_file_claim_refuses_multipart_abuse_with_a_code(world: World, case: str) -> None:
    member = world.member()
    body, content_type = _abuse_bodies()[case]
    rss = psutil.Process().memory_info().rss
    response = _post(world, member, body, content_type)
    assert (response.status_code, response.json().get("code")) == EXPECTED[case], response.text[:300]
    assert set(response.json()) == {"code", "message"}  # the one error envelope, as for JSON bodies
    assert psutil.Process().memory_info().rss - rss < 50 * MiB
    assert world.api.get("/claims", member.token).json() == []  # nothing half-filed


def test_token_form_refuses_100k_urlencoded_fields_with_a_code(world: World) -> None:
    body = "&".join(f"f{i}=v" for i in range(100_000))
    rss = psutil.Process().memory_info().rss
    response = world.api.post(
        "/auth/token", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code in (400, 413, 422), response.text[:300]
    assert response.json().get("code")
    assert psutil.Process().memory_info().rss - rss < 50 * MiB
