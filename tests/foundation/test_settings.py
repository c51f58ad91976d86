"""Settings: defaults, the production refusals of RELIABILITY.md D14, dev-key refusal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from backend.chain.client import account
from backend.config import ANVIL_DEV_ADMIN_INDEX, ANVIL_DEV_KEYS, Settings
from backend.errors import ConfigError

OWN_KEYS = {"deployer_key": "0x" + "11" * 32, "notary_key": "0x" + "22" * 32, "admin_address": "0x" + "ab" * 20}
SAFE_PROD = {
    "env": "production",
    "docs_enabled": False,
    "rule_set_delay": 7 * 86_400,
    "jwt_secret": "k" * 32,
    "keys_dir": "/run/secrets/hubao-keks",
    "roster_delay": 86_400,
    **OWN_KEYS,
}


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
    # The default admin is anvil account 9: public, so refused off anvil like the dev keys.
    with pytest.raises(ConfigError, match="HUBAO_ADMIN_ADDRESS is one of anvil's"):
        settings_factory(**{**OWN_KEYS, "admin_address": None}).check_keys_for_chain(1)


def test_admin_defaults_to_an_anvil_account_apart_from_the_server_keys(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory()
    admin = settings.admin_account()
    assert admin == account(ANVIL_DEV_KEYS[ANVIL_DEV_ADMIN_INDEX]).address
    server_keys = {settings.deployer_private_key(), settings.notary_private_key()}
    assert admin not in {account(key).address for key in server_keys}


@pytest.mark.parametrize(
    "bad",
    # short, zero, an EIP-55 checksum broken by one letter's case, not hex
    ["0x1234", "0x" + "00" * 20, "0x19e7E376E7C213B7E7e7e46cc70A5dD086DAff2A", "not an address"],
)
def test_admin_address_must_be_a_checksummed_nonzero_address(
    settings_factory: Callable[..., Settings], bad: str
) -> None:
    with pytest.raises(ValidationError, match="admin_address"):
        settings_factory(admin_address=bad)


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"deployer_key": ANVIL_DEV_KEYS[0]}, "PROD_DEV_KEY"),
        ({"chain": 31337}, "PROD_ANVIL_CHAIN"),
        ({"ipfs_api": "http://10.0.0.5:5001"}, "PROD_REMOTE_KUBO_RPC"),
        ({"cors_origins": ["*"]}, "PROD_CORS_WILDCARD"),
        ({"docs_enabled": True}, "PROD_DOCS_ENABLED"),
        ({"rule_set_delay": 3_600}, "PROD_RULE_SET_DELAY"),
        ({"jwt_secret": None}, "PROD_JWT_SECRET_UNSET"),
        ({"keys_dir": None}, "PROD_KEYS_DIR_UNSET"),
        ({"roster_delay": 86_399}, "PROD_ROSTER_DELAY"),
        ({"jwt_secret": "x" * 31}, "PROD_WEAK_JWT_SECRET"),
        ({"jwt_secret": "秘" * 10}, "PROD_WEAK_JWT_SECRET"),  # 30 bytes of UTF-8
        ({"admin_address": None}, "PROD_ADMIN_UNSET"),
        ({"admin_address": account(ANVIL_DEV_KEYS[9]).address}, "PROD_DEV_KEY"),
        ({"admin_address": account("0x" + "11" * 32).address}, "PROD_ADMIN_IS_OPERATOR"),
        ({"admin_address": account("0x" + "22" * 32).address.lower()}, "PROD_ADMIN_IS_NOTARY"),
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
    settings_factory(**SAFE_PROD).check_production_safety(1)
