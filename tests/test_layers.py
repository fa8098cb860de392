"""Packages import only downward; the composition root and the demo seed are the only exceptions."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Lowest first: each package may import the ones before it, never one after it.
LAYERS = ["backend", "payments", "robotaxi_dispatch", "booking", "mobile_api"]
# They sit above every package: the composition root wires them all, the seed loads all their rows.
ON_TOP = ("backend.composition", "backend.seed")


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path):
    """Yield every module a file imports, at its top or inside a function."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def upward_imports() -> list[str]:
    """Return `importer -> imported` for every import of a package above the importer."""
    found = []
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            module = _module(path)
            if module.startswith(ON_TOP):
                continue
            for imported in _imports(path):
                top = imported.split(".")[0]
                if top in LAYERS and LAYERS.index(top) > LAYERS.index(package):
                    found.append(f"{module} -> {imported}")
    return found


def test_no_package_imports_a_package_above_it():
    assert upward_imports() == []


def test_the_walk_sees_imports_inside_functions(tmp_path, monkeypatch):
    source = tmp_path / "robotaxi_dispatch" / "sneaky.py"
    source.parent.mkdir()
    source.write_text("def later():\n    from booking.bookings import services\n    import mobile_api.rides\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert upward_imports() == ["robotaxi_dispatch.sneaky -> booking.bookings",
                                "robotaxi_dispatch.sneaky -> mobile_api.rides"]

