"""Settings: defaults, the production refusals of RELIABILITY.md D14, dev-key refusal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from backend.config import ANVIL_DEV_KEYS, Settings
from backend.errors import ConfigError

OWN_KEYS = {"deployer_key": "0x" + "11" * 32, "notary_key": "0x" + "22" * 32}
SAFE_PROD = {"env": "production", "docs_enabled": False, **OWN_KEYS}


def test_defaults_are_local_and_embedded(settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory()
    assert settings.api_host == "127.0.0.1"
    assert settings.chain_url == "http://127.0.0.1:8545"
    assert settings.sqlalchemy_url.startswith("sqlite:///")
    assert settings.sqlalchemy_url.endswith("hubao.db")
    assert settings.deployer_private_key() == ANVIL_DEV_KEYS[0]


def test_dev_keys_accepted_only_on_anvil_chain(settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory()
    settings.check_keys_for_chain(31337)
    with pytest.raises(ConfigError, match="refused on chain id 1"):
        settings.check_keys_for_chain(1)
    settings_factory(**OWN_KEYS).check_keys_for_chain(1)


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"deployer_key": ANVIL_DEV_KEYS[0]}, "PROD_DEV_KEY"),
        ({"chain": 31337}, "PROD_ANVIL_CHAIN"),
        ({"ipfs_api": "http://10.0.0.5:5001"}, "PROD_REMOTE_KUBO_RPC"),
        ({"cors_origins": ["*"]}, "PROD_CORS_WILDCARD"),
        ({"docs_enabled": True}, "PROD_DOCS_ENABLED"),
    ],
)
def test_production_refuses_each_unsafe_setting(
    settings_factory: Callable[..., Settings], overrides: dict[str, Any], code: str
) -> None:
    chain_id = int(overrides.pop("chain", 1))
    settings = settings_factory(**{**SAFE_PROD, **overrides})
    with pytest.raises(ConfigError) as info:
        settings.check_production_safety(chain_id)
    assert info.value.code == code


def test_production_accepts_a_safe_configuration(settings_factory: Callable[..., Settings]) -> None:
    settings_factory(**SAFE_PROD, ipfs_api="/ip4/127.0.0.1/tcp/5001").check_production_safety(1)
