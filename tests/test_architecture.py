"""The package's shape, checked: domains use the core, never the other way round; routes
call services; small modules; nobody outside the broker reaches into a subscription."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "streamverse"
DOMAINS = {path.parent.name for path in PACKAGE.glob("*/router.py")} | {
    path.parent.name for path in PACKAGE.glob("*/service.py")
}
COMPOSITION_ROOT = {"app.py", "cli.py"}
"""What may know every domain: the app factory and the command line that runs it."""
NOT_CORE = {"course"}
"""The course's own code runs whole apps (checks start servers): it is a client."""
MAX_LINES = 300


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def part(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.name


def imported_modules(path: Path) -> list[str]:
    """Absolute names of the streamverse modules ``path`` imports."""
    tree = ast.parse(path.read_text())
    package = ["streamverse", *path.relative_to(PACKAGE).parent.parts]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.append(module)
            names.extend(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return [name for name in names if name.startswith("streamverse")]


def test_the_domains_are_the_ones_expected() -> None:
    assert {"users", "streams", "comments", "likes", "analytics"} <= DOMAINS


@pytest.mark.parametrize("path", modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_module_is_over_300_lines(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_the_core_never_imports_a_domain() -> None:
    offenders = []
    for path in modules():
        where = part(path)
        if where in DOMAINS or where in COMPOSITION_ROOT or where in NOT_CORE:
            continue
        for name in imported_modules(path):
            parts = name.split(".")
            if len(parts) > 1 and parts[1] in DOMAINS:
                offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert offenders == []


def test_a_domain_uses_another_only_through_its_service_and_schemas() -> None:
    allowed = {"service", "schemas", "auth"}
    """``auth`` is the users domain's dependencies for routes: who is calling."""
    offenders = []
    for path in modules():
        where = part(path)
        if where not in DOMAINS:
            continue
        for name in imported_modules(path):
            parts = name.split(".")
            other_domain = len(parts) > 2 and parts[1] in DOMAINS and parts[1] != where
            # A router may reuse another router's documented responses (NOT_FOUND).
            shared = parts[2:3] == ["router"] and path.name == "router.py"
            if other_domain and parts[2] not in allowed and not shared:
                offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert offenders == []


def test_routes_neither_persist_nor_publish_by_themselves() -> None:
    doing_it = re.compile(r"\.publish\(|\.commit\(|session\.add\(|\.execute\(")
    offenders = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in PACKAGE.glob("*/router.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if doing_it.search(line)
    ]
    assert offenders == []


def test_only_the_broker_touches_a_subscriptions_private_state() -> None:
    private = re.compile(r"\._(events|deliver|begin|drop|allowance|waiter|dropped|closed)\b")
    offenders = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in modules()
        if part(path) != "broker"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if private.search(line)
    ]
    assert offenders == []
