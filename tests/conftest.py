"""Shared test helpers: real services are required in CI (EDGETWIN_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

REQUIRE_SERVICES = os.environ.get("EDGETWIN_REQUIRE_SERVICES") == "1"

# A test runs the factory and the motor unless it chooses its packs; the default of all five
# (with the stream backbone's NATS server) has its own test, tests/integration/test_default_up.py.
os.environ.setdefault("EDGETWIN_PACKS", "factory,motor")


def need(condition: bool, reason: str) -> None:
    """Skip (locally) or fail (in CI) when a real service the test needs is absent."""
    if condition:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last. Playwright's sync API keeps an event loop running in the main
    thread for the session's browser, and ``asyncio.run`` refuses to start under it."""
    items.sort(
        key=lambda item: (
            item.get_closest_marker("browser") is not None or "tests/browser/" in item.nodeid
        )
    )


def make_token(data_dir: Path, role: str = "admin", tenants: tuple[str, ...] = ("*",)) -> str:
    """A new API token in ``data_dir``'s identity store (as ``edgetwin token create`` makes);
    ``data_dir`` may also be the folder of a shared ``identities.db``."""
    from edgetwin.core.security import Role
    from edgetwin.security import IdentityStore

    with IdentityStore(data_dir) as store:
        return store.create_token(Role(role), tenants, label="tests")[1]


def bearer(
    data_dir: Path, role: str = "admin", tenants: tuple[str, ...] = ("*",)
) -> dict[str, str]:
    """``Authorization`` headers with a new token of ``role`` for ``tenants``."""
    return {"Authorization": f"Bearer {make_token(data_dir, role, tenants)}"}
