"""``hubao audit`` (JSON, exit codes, checkpoint files, sign/cosign/verify) and ``GET /audit``."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from backend.api.app import create_app
from backend.cli import _load_commands, app
from backend.db.models import Account
from backend.errors import ConfigError
from backend.services.auth import hash_password, issue_token
from tests.audit.audit_support import AuditedHistory, build_history

pytestmark = pytest.mark.xdist_group("audit-cli")

_load_commands()


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditedHistory]:
    built = build_history(tmp_path_factory.mktemp("audit-cli"), items=25, batch=10, pending=1, seed=5)
    yield built
    built.close()


def _hubao(history: AuditedHistory, *args: str) -> tuple[int, str]:
    env = {"HUBAO_DATA_DIR": str(history.data_dir), "HUBAO_RPC_URL": history.node.url}
    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def test_cli_audit_json_is_deterministic_and_exits_zero(history: AuditedHistory) -> None:
    code, out = _hubao(history, "audit", "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["ok"] is True
    assert [s["status"] for s in report["steps"]] == ["passed"] * 7
    assert _hubao(history, "audit", "--json")[1] == out
    assert out == history.audit(**history.deadlines()).to_json_text()


def test_cli_audit_names_a_tampered_row_and_exits_one(history: AuditedHistory, tmp_path: Path) -> None:
    db = history.copy_db(tmp_path / "tampered.db")
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE anchor_batches SET block_number = block_number - 1 WHERE onchain_id = 2")
    con.close()
    code, out = _hubao(history, "audit", "--json", "--database-url", f"sqlite:///{db}")
    assert code == 1
    findings = [f for s in json.loads(out)["steps"] for f in s["findings"]]
    assert [(f["code"], f["table"], f["fields"]) for f in findings] == [
        ("AUDIT_DB_MISMATCH", "anchor_batches", ["block_number"])
    ]
    code, human = _hubao(history, "audit", "--database-url", f"sqlite:///{db}")
    assert code == 1
    assert "audit FAILED" in human
    assert "AUDIT_DB_MISMATCH" in human


def test_cli_audit_refuses_a_deployment_record_the_database_does_not_keep(
    history: AuditedHistory, tmp_path: Path
) -> None:
    """``--deployment`` of another data dir beside this host's database: refused with one line
    naming the contract that differs, not an audit full of findings against the wrong rows."""
    record = json.loads((history.data_dir / "deployment.json").read_text())
    record["contracts"]["EvidenceNotary"]["address"] = "0x" + "11" * 20
    other = tmp_path / "other-deployment.json"
    other.write_text(json.dumps(record))
    result = CliRunner().invoke(
        app,
        ["audit", "--json", "--deployment", str(other)],
        env={"HUBAO_DATA_DIR": str(history.data_dir), "HUBAO_RPC_URL": history.node.url},
    )
    assert isinstance(result.exception, ConfigError)
    assert result.exception.code == "AUDIT_INPUT"
    assert "belongs to another deployment" in result.exception.message
    assert "EvidenceNotary 0x1111111111111111111111111111111111111111 vs" in result.exception.message
    code, out = _hubao(history, "audit", "--json", "--deployment", str(history.data_dir / "deployment.json"))
    assert code == 0, out  # the database's own record passes as before


def test_cli_checkpoint_round_trip_sign_cosign_verify(history: AuditedHistory, tmp_path: Path) -> None:
    cp = tmp_path / "checkpoint.json"
    code, out = _hubao(history, "audit", "--checkpoint", str(cp))
    assert code == 0, out
    assert "next checkpoint written" in out
    k1, k2 = tmp_path / "a.pem", tmp_path / "b.pem"
    assert _hubao(history, "audit", "checkpoint", "keygen", str(k1))[0] == 0
    assert _hubao(history, "audit", "checkpoint", "keygen", str(k2))[0] == 0
    assert _hubao(history, "audit", "checkpoint", "sign", str(cp), "--key", str(k1))[0] == 0
    assert _hubao(history, "audit", "checkpoint", "cosign", str(cp), "--key", str(k2))[0] == 0
    code, out = _hubao(
        history, "audit", "checkpoint", "verify", str(cp), "--min-signatures", "2", "--rpc", history.node.url
    )
    assert code == 0, out
    assert "2 signature(s)" in out
    previous = tmp_path / "previous.json"
    previous.write_bytes(cp.read_bytes())
    history.add_evidence(5, seed=77)
    history.anchor()
    code, out = _hubao(history, "audit", "--json", "--checkpoint", str(cp), "--since-checkpoint")
    assert code == 0, out
    assert json.loads(out)["subject"]["mode"] == "incremental"
    code, out = _hubao(
        history, "audit", "checkpoint", "verify", str(cp), "--previous", str(previous), "--min-signatures", "0"
    )
    assert code == 0, out
    code, out = _hubao(
        history, "audit", "checkpoint", "verify", str(previous), "--previous", str(cp), "--min-signatures", "0"
    )
    assert code == 1
    assert "does not extend" in out


def _token(history: AuditedHistory, role: str) -> str:
    with history.runtime.sessions.begin() as session:
        account = Account(username=f"{role}-audit-test", password_hash=hash_password("pw-long-enough-1"), role=role)
        session.add(account)
        session.flush()
        return issue_token(session, account, history.runtime.jwt_secret)


def test_api_audit_returns_the_report_to_auditors_only(history: AuditedHistory) -> None:
    auditor, member = _token(history, "auditor"), _token(history, "member")
    with TestClient(create_app(runtime=history.runtime)) as client:
        assert client.get("/audit").status_code == 401
        assert client.get("/audit", headers={"Authorization": f"Bearer {member}"}).status_code == 403
        response = client.get("/audit", headers={"Authorization": f"Bearer {auditor}"})
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["findingCount"] == 0
    assert response.text == history.audit(**history.deadlines()).to_json_text()
