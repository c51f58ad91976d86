"""docker-compose.yml cannot run here (no Docker engine); check what can be checked."""

from __future__ import annotations

from pathlib import Path

import yaml

from backend.config import known_setting_names

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def _compose() -> dict[str, object]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def test_compose_defines_the_stack_with_healthchecks() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    assert set(services) == {"chain", "ipfs", "db", "backend"}
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no healthcheck"
    assert services["ipfs"]["image"].startswith("ipfs/kubo:")
    assert set(services["backend"]["depends_on"]) == {"chain", "ipfs", "db"}
    for dep in services["backend"]["depends_on"].values():
        assert dep["condition"] == "service_healthy"


def test_compose_env_uses_only_known_settings() -> None:
    known = known_setting_names()
    env = _compose()["services"]["backend"]["environment"]  # type: ignore[index]
    unknown = {k for k in env if k.startswith("HUBAO_")} - known
    assert not unknown, f"docker-compose sets unknown settings: {sorted(unknown)}"


def test_compose_publishes_ports_on_loopback_only() -> None:
    for name, service in _compose()["services"].items():  # type: ignore[union-attr]
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_compose_backend_urls_point_at_compose_services() -> None:
    env = _compose()["services"]["backend"]["environment"]  # type: ignore[index]
    assert env["HUBAO_RPC_URL"] == "http://chain:8545"
    assert "@db:5432/" in env["HUBAO_DATABASE_URL"]
    assert "/ipfs/tcp/5001" in env["HUBAO_IPFS_API"]


def test_compose_sets_the_filing_deadline_the_receipts_promise() -> None:
    """The backend's filing receipts promise on-chain filing within HUBAO_FILING_ONCHAIN_DEADLINE:
    compose sets it explicitly (a deployment's promise is its configuration, not a default)."""
    env = _compose()["services"]["backend"]["environment"]  # type: ignore[index]
    assert int(env["HUBAO_FILING_ONCHAIN_DEADLINE"]) > 0
