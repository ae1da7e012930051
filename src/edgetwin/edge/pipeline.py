"""The edge's pipeline as configuration: which sources, processors and sinks run, and the buffer.

A pipeline file is TOML::

    [buffer]                      # optional; defaults from the settings (buffer_max_bytes, ...)
    max_bytes = 1073741824
    policy = "drop_oldest"

    [[sources]]
    type = "serial"               # a registered plugin (``edgetwin edge --print-config`` lists)
    name = "motor"                # unique among its kind; default: the type
    path = "{data_dir}/dev/motor0"
    line = "line-m"
    device_type = "motor.stm32"

    [[sinks]]
    type = "http"
    name = "historian"
    url = "http://127.0.0.1:9000/batches"
    readings = { lines = ["line-m"], metrics = ["temp*"] }   # optional: see below

Every sink may say which readings it takes with ``readings`` (``lines``, ``machines``,
``metrics``: lists of glob patterns; absent: everything; :mod:`edgetwin.edge.routing`): its
outbox then holds only those. A reading no sink takes is counted as ``unrouted``.

The effective pipeline is the base (the plant's MQTT source and the cloud sink), then each
enabled pack's snippet, then the user's file (``--config`` / ``EDGETWIN_CONFIG``): an entry whose
name is already taken replaces that entry (``enabled = false`` removes it). Strings may use
``{data_dir}``, ``{tenant}``, ``{plant}`` and ``{edge_id}``, and the values packs register
(:func:`register_value`, e.g. the cmm pack's ``{mes_url}``). Every mistake is a
:class:`~edgetwin.core.errors.PipelineConfigError` naming the file, the table and the key,
raised before anything starts.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgetwin.core.errors import PipelineConfigError
from edgetwin.core.ids import SEGMENT_PATTERN, valid_segment
from edgetwin.core.plugins import PluginContext, Processor, Sink, Source
from edgetwin.edge.registry import REGISTRY, Kind
from edgetwin.edge.routing import ReadingFilter

KINDS: tuple[Kind, ...] = ("sources", "processors", "sinks")

BASE = """
# The base of every edge: the plant's unified namespace in, the cloud out.
[[sources]]
type = "mqtt"
name = "plant"

[[sinks]]
type = "cloud"
name = "cloud"
"""


# name -> how to get the value; see :func:`register_value`
_VALUES: dict[str, Callable[[], str]] = {}


def register_value(name: str, resolve: Callable[[], str]) -> None:
    """Let pipeline strings use ``{name}``: ``resolve()`` gives its value (a pack's setting,
    e.g. the cmm pack's ``mes_url``) when the caller of :func:`load_pipeline` gives none.
    Called by a pack's plugin registration, before its snippet is read."""
    _VALUES[name] = resolve


class BufferConfig(BaseModel):
    """``[buffer]``: the bounds of the durable buffer and what happens when it is full."""

    model_config = ConfigDict(extra="forbid")

    max_bytes: Annotated[int, Field(ge=64 * 1024)] = 1 << 30
    max_age_s: Annotated[float, Field(gt=0)] = 7 * 24 * 3600.0
    policy: Literal["drop_oldest", "refuse_newest"] = "drop_oldest"
    synchronous: Literal["NORMAL", "FULL"] = "FULL"


@dataclass
class Entry:
    """One plugin table: its kind, type, name, options and where it was written."""

    kind: Kind
    type: str
    name: str
    options: dict[str, Any]
    origin: str  # "FILE [[kind]] #n"
    config: BaseModel | None = None
    readings: ReadingFilter | None = None  # a sink's filter; None: every reading


@dataclass
class PipelineConfig:
    """The effective pipeline, validated; ``build()`` makes the plugins (no I/O)."""

    buffer: BufferConfig
    entries: list[Entry] = field(default_factory=list)

    def of(self, kind: Kind) -> list[Entry]:
        return [e for e in self.entries if e.kind == kind]

    def filters(self) -> dict[str, ReadingFilter]:
        """Sink name -> its ``readings`` filter, for the sinks that have one."""
        return {e.name: e.readings for e in self.of("sinks") if e.readings is not None}

    def to_toml(self) -> str:
        """The effective pipeline as a TOML file that loads back to the same pipeline."""
        out = ["[buffer]"]
        out += [f"{k} = {_toml(v)}" for k, v in self.buffer.model_dump().items()]
        for e in self.entries:
            out += ["", f"# from {e.origin}", f"[[{e.kind}]]", f"type = {_toml(e.type)}"]
            out.append(f"name = {_toml(e.name)}")
            assert e.config is not None
            for k, v in e.config.model_dump(exclude_none=True).items():
                out.append(f"{k} = {_toml(v)}")
            if e.readings is not None:
                out.append(f"readings = {_toml(e.readings.model_dump(exclude_none=True))}")
        return "\n".join(out) + "\n"


@dataclass
class Plugins:
    """The pipeline's plugins, built."""

    sources: list[Source]
    processors: list[Processor]
    sinks: list[Sink]


def load_pipeline(
    *,
    buffer_defaults: dict[str, Any],
    snippets: Sequence[tuple[str, str]] = (),
    user_file: Path | None = None,
    values: dict[str, str] | None = None,
) -> PipelineConfig:
    """Merge the base, the packs' ``snippets`` (``(label, toml text)``) and the user's file.

    Raises:
        PipelineConfigError: a file is not TOML, a table or key is unknown, a value is bad, or
            two entries of one kind share a name within a file.
    """
    values = {**{k: resolve() for k, resolve in _VALUES.items()}, **(values or {})}
    buffer: dict[str, Any] = dict(buffer_defaults)
    buffer_origin = "settings"
    merged: dict[tuple[Kind, str], Entry] = {}
    docs: list[tuple[str, str]] = [("base pipeline", BASE), *snippets]
    if user_file is not None:
        try:
            docs.append((str(user_file), user_file.read_text(encoding="utf-8")))
        except OSError as exc:
            raise PipelineConfigError(f"{user_file}: cannot read: {exc.strerror}") from exc
    for label, text in docs:
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PipelineConfigError(f"{label}: not valid TOML: {exc}") from exc
        if "buffer" in doc:
            if not isinstance(doc["buffer"], dict):
                raise PipelineConfigError(f"{label}: [buffer] must be a table")
            buffer.update(doc["buffer"])
            buffer_origin = label
        for entry in _entries(label, doc, user=label == str(user_file)):
            key = (entry.kind, entry.name)
            if entry.options.pop("enabled", True) is False:
                merged.pop(key, None)
                continue
            merged[key] = entry
    try:
        buffer_config = BufferConfig(**buffer)
    except ValidationError as exc:
        raise PipelineConfigError(_explain(exc, f"{buffer_origin}: [buffer]")) from exc
    pipeline = PipelineConfig(buffer_config, list(merged.values()))
    for entry in pipeline.entries:
        spec = REGISTRY[entry.kind][entry.type]
        options = _substitute(entry.options, values)
        unknown = _placeholders(options)
        if unknown:
            raise PipelineConfigError(
                f"{entry.origin}: unknown placeholder {{{unknown[0]}}}; known:"
                f" {', '.join('{' + k + '}' for k in sorted(values))}"
            )
        readings = options.pop("readings", None) if entry.kind == "sinks" else None
        try:
            entry.config = spec.config(**options)
            if readings is not None:
                entry.readings = _reading_filter(readings)
        except ValidationError as exc:
            raise PipelineConfigError(_explain(exc, entry.origin)) from exc
    if not pipeline.of("sinks"):
        raise PipelineConfigError("the pipeline has no sink: readings would have nowhere to go")
    return pipeline


def _reading_filter(value: Any) -> ReadingFilter:
    """A sink's ``readings`` table, validated (errors located under ``readings``)."""
    if not isinstance(value, dict):
        raise ValidationError.from_exception_data(
            "ReadingFilter",
            [{"type": "dict_type", "loc": ("readings",), "input": value}],
        )
    try:
        return ReadingFilter(**value)
    except ValidationError as exc:
        errors: list[Any] = [
            {**e, "loc": ("readings", *e["loc"])} for e in exc.errors(include_url=False)
        ]
        raise ValidationError.from_exception_data("ReadingFilter", errors) from exc


def _entries(label: str, doc: dict[str, Any], *, user: bool) -> Iterable[Entry]:
    known_tables = {"buffer", *KINDS}
    for key in doc:
        if key not in known_tables and not user:
            raise PipelineConfigError(
                f"{label}: unknown table [{key}]; a pipeline has [buffer], [[sources]],"
                " [[processors]] and [[sinks]]"
            )
    seen: set[tuple[Kind, str]] = set()
    for kind in KINDS:
        tables = doc.get(kind, [])
        if not isinstance(tables, list):
            raise PipelineConfigError(f"{label}: {kind} must be written [[{kind}]]")
        for i, table in enumerate(tables, start=1):
            where = f"{label}: [[{kind}]] #{i}"
            type_ = table.get("type")
            if not isinstance(type_, str):
                raise PipelineConfigError(f"{where}: no type; one of {_known(kind)}")
            if type_ not in REGISTRY[kind]:
                raise PipelineConfigError(f"{where}: unknown type {type_!r}; known: {_known(kind)}")
            name = table.get("name", type_)
            if not isinstance(name, str) or not valid_segment(name):
                raise PipelineConfigError(f"{where}: name {name!r} must match {SEGMENT_PATTERN}")
            if (kind, name) in seen:
                raise PipelineConfigError(f"{where}: a second entry named {name!r}")
            seen.add((kind, name))
            options = {k: v for k, v in table.items() if k not in ("type", "name")}
            yield Entry(kind, type_, name, options, f"{where} ({type_} {name!r})")


def build(pipeline: PipelineConfig, ctx: PluginContext) -> Plugins:
    """Make every plugin of ``pipeline`` (constructors do no I/O).

    Raises:
        PipelineConfigError: a plugin refused its configuration (e.g. an undeclared device type).
    """
    built: dict[Kind, list[Any]] = {k: [] for k in KINDS}
    for entry in pipeline.entries:
        spec = REGISTRY[entry.kind][entry.type]
        try:
            built[entry.kind].append(spec.factory(entry.name, entry.config, ctx))
        except PipelineConfigError as exc:
            raise PipelineConfigError(f"{entry.origin}: {exc}") from exc
        except ValueError as exc:
            raise PipelineConfigError(f"{entry.origin}: {exc}") from exc
    return Plugins(built["sources"], built["processors"], built["sinks"])


def _known(kind: Kind) -> str:
    return ", ".join(sorted(REGISTRY[kind]))


def _explain(exc: ValidationError, where: str) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        key = ".".join(str(p) for p in err["loc"]) or "(table)"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"{where}: {key}: {msg}")
    return "\n".join(lines)


def _substitute(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        for k, v in values.items():
            value = value.replace("{" + k + "}", v)
        return value
    if isinstance(value, list):
        return [_substitute(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, values) for k, v in value.items()}
    return value


_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")


def _placeholders(value: Any) -> list[str]:
    """The ``{name}`` placeholders left in ``value`` after substitution."""
    if isinstance(value, str):
        return _PLACEHOLDER.findall(value)
    if isinstance(value, list):
        return [n for v in value for n in _placeholders(v)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _placeholders(v)]
    return []


def _toml(value: Any) -> str:
    """A TOML literal for the plain values plugin configs hold."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml(str(k))} = {_toml(v)}" for k, v in value.items()) + "}"
    return _toml(str(value))
