"""Dependencies point one way between the rings (issue 13; README "Architecture").

``backend.services`` imports neither the composition root (``backend.runtime``,
``backend.background``, ``backend.demo``), nor the API or CLI, nor ``backend.apportionment`` or
``backend.audit``, which sit above it; ``backend.apportionment`` imports neither the composition
root, the API nor the audit; the audit imports neither the composition root nor the API; the outer
rings (``backend.chain``, ``backend.db``, ``evidence_store``) and the pure ``backend.proofs`` import
no domain package. Imports are
counted wherever they stand — inside functions too — so a layer cannot be crossed by deferring the
import.
"""

from __future__ import annotations

import pytest

from tests.foundation.test_import_graph import imports_of, product_modules

COMPOSITION = ("backend.runtime", "backend.background", "backend.demo")

DOMAIN = ("backend.services", "backend.apportionment", "backend.audit")
OUTER = (*COMPOSITION, "backend.api", "backend.cli")

FORBIDDEN: dict[str, tuple[str, ...]] = {
    "backend.services": (*OUTER, "backend.apportionment", "backend.audit"),
    "backend.apportionment": (*OUTER, "backend.audit"),
    "backend.audit": OUTER,
    # The rings that know the outside world (and the pure proofs) know no domain package.
    "backend.chain": (*OUTER, *DOMAIN),
    "backend.db": (*OUTER, *DOMAIN),
    "backend.proofs": (*OUTER, *DOMAIN, "backend.chain", "backend.db"),
    "evidence_store": ("backend",),
}


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_above_it(layer: str) -> None:
    crossings = sorted(
        f"{module} -> {target}"
        for module, path in product_modules().items()
        if _under(module, layer)
        for target in imports_of(module, path, deferred=True)
        if any(_under(target, above) for above in FORBIDDEN[layer])
    )
    assert crossings == [], f"{layer} imports a layer above it:\n  " + "\n  ".join(crossings)


def test_layer_check_sees_a_service_module() -> None:
    """The check is not vacuous: the services package is found and its imports are read."""
    modules = product_modules()
    assert "backend.services.claims" in modules
    assert "backend.services.context" in imports_of(
        "backend.services.claims", modules["backend.services.claims"], deferred=True
    )
