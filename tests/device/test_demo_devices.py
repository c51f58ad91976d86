"""The demo seeder plays its reviewers' and jurors' devices: the server ends up holding only their addresses."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from backend.chain.roster import JUROR, REVIEWER
from backend.db.models import Account, Claim, ReviewAssignment
from backend.demo import seed_demo
from backend.runtime import Runtime
from backend.services.rule_sets import roster_for
from tests.stacks import runtime, runtime_factory

__all__ = ["runtime", "runtime_factory"]


def test_demo_reviewers_sign_with_keys_the_server_never_held(runtime: Runtime) -> None:
    assert seed_demo(runtime) is True
    with runtime.sessions() as session:
        reviewers = list(session.scalars(select(Account).where(Account.role == "reviewer")))
        signed = session.execute(
            select(Claim.claim_id, Account.signing_address)
            .join(ReviewAssignment, ReviewAssignment.claim_pk == Claim.id)
            .join(Account, Account.id == ReviewAssignment.reviewer_id)
            .where(ReviewAssignment.submitted_at.is_not(None))
        ).all()
    assert sorted(r.username for r in reviewers) == ["reviewer1", "reviewer2", "reviewer3"]
    assert all(r.signing_address is not None and r.signing_key_encrypted is None for r in reviewers)
    roster = roster_for(runtime)
    assert all(roster.has_role(REVIEWER, r.signing_address) for r in reviewers if r.signing_address)
    assert len(signed) >= 8
    for claim_id, address in signed:
        assert runtime.claim_ledger.verdict_digest(bytes(claim_id), address) != b"\x00" * 32
    jurors = [a for a in _accounts(runtime) if a.role == "juror"]
    assert sorted(j.username for j in jurors) == [f"juror{i}" for i in range(1, 6)]
    assert all(j.signing_address is not None and j.signing_key_encrypted is None for j in jurors)
    assert all(roster.has_role(JUROR, j.signing_address) for j in jurors if j.signing_address)


def _accounts(runtime: Runtime) -> list[Account]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Account)))


def test_a_demo_juror_key_is_rebuilt_from_its_public_seed(runtime: Runtime, tmp_path: Path) -> None:
    """``hubao keys new --demo-device juror1`` gives the key the seeder registered for juror1, so a
    demo user can import it in the browser and vote on the seeded jury."""
    import json

    from eth_account import Account as EthAccount
    from typer.testing import CliRunner

    import backend.cli.sign  # noqa: F401 - registers the commands
    from backend.cli import app as cli_app

    seed_demo(runtime)
    (tmp_path / "pass.txt").write_text("demo passphrase\n")
    out = tmp_path / "juror1.json"
    made = CliRunner().invoke(
        cli_app,
        ["keys", "new", "--out", str(out), "--demo-device", "juror1", "--scrypt-n", "1024",
         "--passphrase-file", str(tmp_path / "pass.txt")],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    address = EthAccount.from_key(EthAccount.decrypt(json.loads(out.read_text()), "demo passphrase")).address
    juror1 = next(a for a in _accounts(runtime) if a.username == "juror1")
    assert juror1.signing_address == address
