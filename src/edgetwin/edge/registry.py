"""The edge's plugins by name: one line each, with the config model that validates its table.

A factory takes ``(name, config, ctx)`` and does no I/O (Telegraf's ``Init``): connecting is the
plugin's ``__aenter__``. To add a plugin, write its module under ``sources/``, ``processors/``
or ``sinks/`` and add its line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from edgetwin.core.plugins import PluginContext
from edgetwin.edge.processors.anomaly import AnomalyConfig, AnomalyProcessor
from edgetwin.edge.sinks.cloud import CloudSink, CloudSinkConfig
from edgetwin.edge.sinks.http import HttpSink, HttpSinkConfig
from edgetwin.edge.sinks.jetstream import JetStreamSink, JetStreamSinkConfig
from edgetwin.edge.sources.dropfolder import DropFolderConfig, DropFolderSource
from edgetwin.edge.sources.mqtt import MqttSource, MqttSourceConfig
from edgetwin.edge.sources.serial import SerialSource, SerialSourceConfig

Kind = Literal["sources", "processors", "sinks"]


@dataclass(frozen=True)
class PluginSpec:
    """How to build one plugin type: its config model and its factory."""

    kind: Kind
    name: str
    config: type[BaseModel]
    factory: Callable[[str, Any, PluginContext], Any]
    summary: str


REGISTRY: dict[Kind, dict[str, PluginSpec]] = {"sources": {}, "processors": {}, "sinks": {}}


def register(kind: Kind, type_: str, config: type[BaseModel], factory: Any, summary: str) -> None:
    """Make plugin ``type_`` available to pipeline files under ``[[kind]]``."""
    REGISTRY[kind][type_] = PluginSpec(kind, type_, config, factory, summary)


register(
    "sources", "mqtt", MqttSourceConfig, MqttSource.from_config, "the plant's MQTT broker (UNS)"
)
register("sources", "serial", SerialSourceConfig, SerialSource.from_config, "a serial-line device")
register(
    "sources", "dropfolder", DropFolderConfig, DropFolderSource.from_config, "CSV files in a folder"
)
register("processors", "anomaly", AnomalyConfig, AnomalyProcessor.from_config, "anomaly scores")
register("sinks", "cloud", CloudSinkConfig, CloudSink.from_config, "the cloud's ingest API")
register("sinks", "http", HttpSinkConfig, HttpSink.from_config, "any HTTP endpoint (webhook)")
register("sinks", "jetstream", JetStreamSinkConfig, JetStreamSink.from_config, "NATS JetStream")
