"""The suite's ``xdist_group`` marks take effect (tests that share one anvil or one browser rely on it).

pytest-xdist's ``loadgroup`` tags each grouped test's node id with ``@<group>`` and sends a group to
one worker; pytest 9.2 moved node ids where xdist 3.8 cannot tag them, and every group was silently
ignored (module-scoped chains and browser pages were rebuilt per worker, stateful browser tests
failed). Run under ``-n N --dist loadgroup`` (as ``make test`` does), this fails on such a pairing.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.xdist_group("xdist-group-probe")


def test_xdist_group_tags_the_node_id(request: pytest.FixtureRequest) -> None:
    if not getattr(request.config.option, "loadgroup", False):  # set on xdist workers under --dist loadgroup
        pytest.skip("not running under pytest-xdist --dist loadgroup (make test does)")
    assert request.node.nodeid.endswith("@xdist-group-probe"), (
        f"xdist_group is ignored by this pytest/pytest-xdist pair: node id {request.node.nodeid!r}"
    )
