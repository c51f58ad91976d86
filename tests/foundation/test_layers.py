"""Dependencies point one way between the rings (issue 13; README "Architecture").

``backend.services`` imports neither the composition root (``backend.runtime``,
``backend.background``, ``backend.demo``), nor the API, nor ``backend.apportionment``, which sits
above it; ``backend.apportionment`` imports neither the composition root nor the API. Imports are
counted wherever they stand — inside functions too — so a layer cannot be crossed by deferring the
import.
"""

from __future__ import annotations

import pytest

from tests.foundation.test_import_graph import imports_of, product_modules

COMPOSITION = ("backend.runtime", "backend.background", "backend.demo")

FORBIDDEN: dict[str, tuple[str, ...]] = {
    "backend.services": (*COMPOSITION, "backend.api", "backend.cli", "backend.apportionment"),
    "backend.apportionment": (*COMPOSITION, "backend.api", "backend.cli"),
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
