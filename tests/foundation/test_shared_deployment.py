"""One contract suite for every host of a database (issue 18 item 4).

The deployment record lives in the database: a host with a data directory of its own reuses the
suite the first host deployed (and keeps a copy in its ``deployment.json``); a data directory from
before the database kept the record hands its record over; hosts starting together take turns
through :func:`backend.db.exclusive.exclusive`, so only one deploys. ``hubao audit`` finds the
record in the audited database when the data directory has none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from backend.chain.anvil import AnvilNode
from backend.config import REPO_ROOT
from backend.db.exclusive import exclusive
from backend.db.models import DeploymentRow
from backend.runtime import Runtime
from evidence_store.crypto import DirectoryKeyring
from tests.stacks import runtime_factory

__all__ = ["runtime_factory"]

pytestmark = pytest.mark.xdist_group("shared-deployment")


def _suite_rows(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(DeploymentRow)) or 0)


def test_a_second_host_with_its_own_data_dir_uses_the_first_hosts_suite(
    runtime_factory: Callable[..., Runtime], anvil: AnvilNode, tmp_path: Path
) -> None:
    keks = tmp_path / "keks"
    DirectoryKeyring(keks).create_kek()
    shared = {"jwt_secret": "one secret for every host, 32+ bytes", "keys_dir": keks}
    first = runtime_factory(anvil, **shared)
    head = first.w3.eth.block_number
    second = runtime_factory(anvil, data_dir=tmp_path / "host-b", database_url=first.settings.sqlalchemy_url, **shared)
    assert second.deployment == first.deployment
    assert first.w3.eth.block_number == head, "the second host sent transactions (deployed again?)"
    assert _suite_rows(first) == 1
    copy = tmp_path / "host-b" / "deployment.json"
    assert copy.read_text() == first.deployment.to_json()


def test_a_data_dir_from_before_hands_its_record_to_the_database(
    runtime_factory: Callable[..., Runtime], anvil: AnvilNode, tmp_path: Path
) -> None:
    first = runtime_factory(anvil)
    record = first.deployment
    with first.sessions.begin() as session:  # as a database migrated from before revision 0013
        session.execute(delete(DeploymentRow))
    first.close()
    again = runtime_factory(
        anvil, data_dir=first.settings.resolved_data_dir, database_url=first.settings.sqlalchemy_url
    )
    assert again.deployment == record
    assert _suite_rows(again) == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_exclusive_lets_one_holder_in_at_a_time(backend: str, request: pytest.FixtureRequest) -> None:
    url = str(request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url"))
    order: list[str] = []
    first_in = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with exclusive(url, "test"):
            order.append("first in")
            first_in.set()
            release.wait(30)
            order.append("first out")

    def waiter() -> None:
        with exclusive(url, "test"):
            order.append("second in")

    one = threading.Thread(target=holder)
    one.start()
    assert first_in.wait(30)
    two = threading.Thread(target=waiter)
    two.start()
    two.join(0.5)  # not a timing assertion: the order below holds however long this waits
    release.set()
    one.join(30)
    two.join(30)
    assert order == ["first in", "first out", "second in"]
    with exclusive(url, "other"):  # other names are other locks
        pass


def test_hubao_audit_reads_the_record_from_the_database(
    runtime_factory: Callable[..., Runtime], anvil: AnvilNode, tmp_path: Path
) -> None:
    runtime = runtime_factory(anvil)
    auditor = tmp_path / "auditor"  # no deployment.json here
    auditor.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBAO_")}
    env |= {
        "HUBAO_DATA_DIR": str(auditor),
        "HUBAO_RPC_URL": anvil.url,
        "HUBAO_DATABASE_URL": runtime.settings.sqlalchemy_url,
    }
    done = subprocess.run(
        [sys.executable, "-m", "backend", "audit", "--json"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(done.stdout)
    assert report["subject"]["contracts"]["ClaimLedger"] == runtime.deployment.address("ClaimLedger").lower()
    assert done.returncode == 0, done.stderr[-2000:]

    env.pop("HUBAO_DATABASE_URL")
    env["HUBAO_DATA_DIR"] = str(tmp_path / "nothing")
    refused = subprocess.run(
        [sys.executable, "-m", "backend", "audit"], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert refused.returncode == 1
    assert "no deployment record" in refused.stdout + refused.stderr
