"""The twins edgetwin ships. Each pack is one self-contained folder; registration is explicit.

A pack is data plus entry points (:class:`Pack`): its device types, its simulator, the snippet it
adds to the edge's pipeline, and (loaded lazily, so the edge never imports a web framework) its
cloud part and dashboard pages. Nothing outside ``packs/`` imports a particular pack except the
one composing module and this registry.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgetwin.core.device import DeviceType

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from edgetwin.core.settings import Settings


@dataclass(frozen=True)
class Pack:
    """What a pack contributes.

    Attributes:
        name: the pack's name, as in ``EDGETWIN_PACKS`` and ``edgetwin sim NAME``.
        title: for people.
        simulate: runs the pack's simulated devices until cancelled.
        device_types: the kinds of machine it brings (metrics, units, commands).
        pipeline: a TOML snippet (file) merged into the edge's pipeline by ``edgetwin up``;
            it may use ``{data_dir}``, ``{tenant}`` and ``{plant}``.
        cloud: ``module:function`` of its cloud part (routers, services), imported lazily.
        pages: ``module:function`` of its dashboard pages, imported lazily.
        plugins: ``module:function`` that registers the pack's own edge plugins (sources,
            processors, sinks) with :func:`edgetwin.edge.registry.register`; called by the
            edge before it reads its pipeline, so the pack's snippet can use them.
        simulators: further simulated parts, ``(name, "module:function")``, run by
            ``edgetwin sim NAME`` like ``simulate`` (the cmm pack's mock MES: ``mes``).
        devices: the ``(line, machine)`` pairs its simulator plays over MQTT under ``v1/``;
            ``edgetwin mqtt-acl`` gives each a broker user held to its own topics.
    """

    name: str
    title: str
    simulate: Callable[[Settings], Coroutine[Any, Any, None]]
    device_types: tuple[DeviceType, ...] = ()
    pipeline: Path | None = None
    cloud: str | None = None
    pages: str | None = None
    plugins: str | None = None
    simulators: tuple[tuple[str, str], ...] = ()
    devices: tuple[tuple[str, str], ...] = ()


# name -> module exposing ``PACK``; one line per pack.
REGISTRY: dict[str, str] = {
    "cmm": "edgetwin.packs.cmm",
    "factory": "edgetwin.packs.factory",
    "grid": "edgetwin.packs.grid",
    "motor": "edgetwin.packs.motor",
    "warehouse": "edgetwin.packs.warehouse",
}


def load_pack(name: str) -> Pack:
    """The pack registered as ``name``.

    Raises:
        KeyError: no such pack; the message lists the known ones.
    """
    if name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"unknown pack {name!r}; known packs: {known}")
    pack: Pack = importlib.import_module(REGISTRY[name]).PACK
    return pack


def find_simulator(name: str) -> Callable[..., Coroutine[Any, Any, None]]:
    """The simulator ``edgetwin sim NAME`` runs: a pack's, or one a pack adds (``simulators``).

    Raises:
        KeyError: no pack and no simulator of that name; the message lists them.
    """
    if name in REGISTRY:
        return load_pack(name).simulate
    extra = {n: ref for pack in REGISTRY for n, ref in load_pack(pack).simulators}
    if name not in extra:
        known = ", ".join(sorted({*REGISTRY, *extra}))
        raise KeyError(f"unknown simulator {name!r}; known: {known}")
    found: Callable[..., Coroutine[Any, Any, None]] = load_entry(extra[name])
    return found


def register_plugins(names: list[str] | None = None) -> None:
    """Register the edge plugins of the packs ``names`` (default: every registered pack).

    Raises:
        KeyError: an unknown pack.
    """
    for name in REGISTRY if names is None else names:
        pack = load_pack(name)
        if pack.plugins is not None:
            load_entry(pack.plugins)()


def load_entry(ref: str) -> Any:
    """Import ``module:attribute`` (a pack's lazily loaded cloud part or pages)."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)
