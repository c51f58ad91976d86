"""Hosts of one deployment share their secrets, checked through the database (issue 18 item 2).

Two runtimes with their own data directories (as two hosts have) on one database and one chain:
the second starts when its JWT secret and key-encryption keys are the first's, and is refused
with ``HOST_SECRETS_DIFFER`` naming the secret when one differs, including a host that would
generate its own. The database holds fingerprints, never the secrets.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from backend.chain.anvil import AnvilNode, rpc_call
from backend.db.models import SharedSecret
from backend.errors import ConfigError
from backend.runtime import Runtime
from evidence_store.crypto import DirectoryKeyring
from tests.stacks import runtime_factory

__all__ = ["runtime_factory"]

pytestmark = pytest.mark.xdist_group("shared-secrets")

SECRET = "one secret for every host, 32+ bytes"


def _host(tmp_path: Path, name: str, first: Runtime) -> Path:
    """A second host's data directory, empty: the deployment record comes from the shared database."""
    data_dir = tmp_path / name
    data_dir.mkdir()
    return data_dir


def test_hosts_with_the_same_secrets_start_and_a_host_with_others_is_refused(
    runtime_factory: Callable[..., Runtime], anvil: AnvilNode, tmp_path: Path
) -> None:
    keks = tmp_path / "keks"
    kid = DirectoryKeyring(keks).create_kek()
    first = runtime_factory(anvil, jwt_secret=SECRET, keys_dir=keks)
    shared_db = first.settings.sqlalchemy_url

    second = runtime_factory(
        anvil, data_dir=_host(tmp_path, "host-b", first), database_url=shared_db, jwt_secret=SECRET, keys_dir=keks
    )
    assert second.jwt_secret == first.jwt_secret
    assert second.keyring.current_kid == kid

    with pytest.raises(ConfigError) as jwt_differs:
        runtime_factory(
            anvil, data_dir=_host(tmp_path, "host-c", first), database_url=shared_db, jwt_secret="x" * 40, keys_dir=keks
        )
    assert jwt_differs.value.code == "HOST_SECRETS_DIFFER"
    assert "jwt" in jwt_differs.value.message
    assert "HUBAO_JWT_SECRET" in jwt_differs.value.message

    other_keks = tmp_path / "other-keks"
    DirectoryKeyring(other_keks).create_kek(kid)  # same key id, other key
    with pytest.raises(ConfigError) as kek_differs:
        runtime_factory(
            anvil,
            data_dir=_host(tmp_path, "host-d", first),
            database_url=shared_db,
            jwt_secret=SECRET,
            keys_dir=other_keks,
        )
    assert kek_differs.value.code == "HOST_SECRETS_DIFFER"
    assert f"kek:{kid}" in kek_differs.value.message

    # A host left to generate its own secrets (no HUBAO_JWT_SECRET) is refused the same way.
    with pytest.raises(ConfigError) as generated:
        runtime_factory(anvil, data_dir=_host(tmp_path, "host-e", first), database_url=shared_db, keys_dir=keks)
    assert generated.value.code == "HOST_SECRETS_DIFFER"

    with first.sessions() as session:
        rows = {r.name: bytes(r.fingerprint) for r in session.scalars(select(SharedSecret))}
    assert set(rows) == {"jwt", f"kek:{kid}"}
    kek = (keks / f"{kid}.kek").read_bytes()
    for fingerprint in rows.values():
        assert SECRET.encode() not in fingerprint
        assert kek not in fingerprint
        assert len(fingerprint) == 32


def test_a_configured_keys_directory_must_hold_a_key(
    runtime_factory: Callable[..., Runtime], anvil: AnvilNode, tmp_path: Path
) -> None:
    empty = tmp_path / "no-keks"
    empty.mkdir()
    with pytest.raises(ConfigError) as refused:
        runtime_factory(anvil, keys_dir=empty)
    assert refused.value.code == "KEYS_DIR_EMPTY"
    assert f"hubao evidence-store init-keys {empty}" in refused.value.message  # says how to fix it
    with pytest.raises(ConfigError) as missing:
        runtime_factory(anvil, keys_dir=tmp_path / "nowhere")
    assert missing.value.code == "KEYS_DIR_MISSING"
    assert "hubao evidence-store init-keys" in missing.value.message
    assert not list(empty.iterdir())  # nothing generated into a directory the deployment provides
    # Refused before deploying: the QA walk-through saw the first host deploy the contracts,
    # then stop on its keys directory.
    assert rpc_call(anvil.url, "eth_blockNumber") == "0x0"


def test_init_keys_makes_the_shared_directory_once(
    runtime_factory: Callable[..., Runtime], anvil: AnvilNode, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from backend.cli import app, load_commands

    load_commands()
    keks = tmp_path / "secrets" / "hubao-keks"
    made = CliRunner().invoke(app, ["evidence-store", "init-keys", str(keks)])
    assert made.exit_code == 0, made.output
    kid = DirectoryKeyring(keks).current_kid
    assert f"created key-encryption key {kid}" in made.output
    assert keks.stat().st_mode & 0o777 == 0o700
    again = CliRunner().invoke(app, ["evidence-store", "init-keys", str(keks)])
    assert again.exit_code == 0, again.output
    assert "left as it is" in again.output
    assert DirectoryKeyring(keks).kids() == [kid]  # not a second key
    runtime = runtime_factory(anvil, keys_dir=keks)
    assert runtime.keyring.current_kid == kid
