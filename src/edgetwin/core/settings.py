"""Settings, lowest precedence first: defaults, a TOML file named by ``EDGETWIN_CONFIG``, the
environment (``EDGETWIN_*``), command-line flags."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from edgetwin.core.errors import ConfigError
from edgetwin.core.ids import SEGMENT_PATTERN, Segment

Port = Annotated[int, Field(ge=1, le=65535)]


class MqttTarget(BaseModel):
    """Where an MQTT client connects, parsed from ``mqtt://user:pass@host:port``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str
    port: Port
    tls: bool = False
    username: str | None = None
    password: str | None = Field(default=None, repr=False)  # never in a repr or a log line
    # TLS material (files); the server certificate is always verified.
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    @classmethod
    def from_url(cls, url: str) -> MqttTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ConfigError(
                f"MQTT URL {url!r}: scheme must be mqtt:// or mqtts://, e.g. mqtt://127.0.0.1:1883"
            )
        if not parts.hostname:
            raise ConfigError(f"MQTT URL {url!r} names no host")
        tls = parts.scheme in ("mqtts", "ssl")
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError as exc:
            raise ConfigError(f"MQTT URL {url!r}: {exc}") from exc
        return cls(
            host=parts.hostname,
            port=port,
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


DEFAULT_PACKS: Final = ("factory", "motor", "cmm", "grid", "warehouse")
"""The twins ``edgetwin up`` runs unless ``EDGETWIN_PACKS`` says otherwise: all five."""


class Settings(BaseSettings):
    """Every knob of edgetwin. Each field is also ``EDGETWIN_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="EDGETWIN_", extra="forbid")

    http_host: str = "127.0.0.1"
    http_port: Port = 8000
    mqtt_port: Port = Field(1883, description="port of the embedded broker (127.0.0.1)")
    mqtt_url: str | None = Field(
        None, description="external broker; the embedded one is not started"
    )
    data_dir: Path = Path(".edgetwin")
    db: str | None = Field(None, description="store URL; default sqlite:///<data-dir>/cloud.db")
    cloud_url: str | None = Field(
        None,
        description="where the edge sends readings; several ingest workers comma-separated"
        " (the uplink moves to the next one when one fails)",
    )
    tenant: Segment = "acme"
    plant: Segment = "plant-01"
    edge_id: Segment = "edge-01"
    opcua_url: Annotated[str, Field(pattern=r"^opc\.tcp://")] = Field(
        "opc.tcp://127.0.0.1:4840/edgetwin/",
        description="endpoint of the edge's OPC UA server (the cmm pack); security None only"
        " on loopback",
    )
    mes_url: Annotated[str, Field(pattern=r"^https?://")] | None = Field(
        None,
        description="the MES the cmm pack's sink posts quality records to (default: the mock"
        " MES, http://127.0.0.1:8700)",
    )
    opcua_username: str | None = Field(
        None, description="user of the edge's OPC UA server off loopback (with opcua_password)"
    )
    opcua_password: SecretStr | None = Field(
        None, description="password of that user; never logged or shown"
    )
    packs: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_PACKS),
        description="the twins to run: a comma-separated list (factory,motor) or a JSON list",
    )
    mqtt_share_group: str | None = Field(
        None,
        pattern=SEGMENT_PATTERN,
        description="edges in the same group share the plant's readings (MQTT shared"
        " subscription): each reading goes to one of them",
    )
    uplink_batch: Annotated[int, Field(ge=1, le=10_000)] = 1000
    uplink_timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    uplink_window: Annotated[int, Field(ge=1, le=16)] = 3  # batches in flight at once
    max_request_bytes: Annotated[int, Field(ge=1024)] = 8 * 1024 * 1024
    log_level: str = "INFO"
    # -- the edge's buffer and metrics --
    buffer_max_bytes: Annotated[int, Field(ge=64 * 1024)] = 1 << 30
    buffer_max_age_s: Annotated[float, Field(gt=0)] = 7 * 24 * 3600.0
    buffer_policy: Literal["drop_oldest", "refuse_newest"] = "drop_oldest"
    buffer_synchronous: Literal["NORMAL", "FULL"] = "FULL"
    edge_metrics_port: Annotated[int, Field(ge=0, le=65535)] | None = Field(
        None, description="Prometheus port of the edge (default http-port + 1; 0 turns it off)"
    )
    # PostgreSQL store only (the SQLite store keeps everything).
    retention_days: Annotated[int, Field(ge=0, le=36_500)] = Field(
        30, description="days of raw readings kept (whole daily partitions dropped); 0 = forever"
    )
    rollup_retention_days: Annotated[int, Field(ge=0, le=36_500)] = Field(
        400, description="days of 1-minute and 1-hour rollups kept; 0 = forever"
    )
    pg_pool_size: Annotated[int, Field(ge=1, le=200)] = Field(
        8, description="most connections one cloud worker opens to PostgreSQL"
    )
    pg_pool_timeout_s: Annotated[float, Field(gt=0, le=60)] = Field(
        3.0, description="wait for a free connection before answering 503"
    )

    # -- security (docs/security.md) --
    rate_limit_per_s: Annotated[float, Field(ge=0)] = Field(
        50.0,
        description="requests/s each API caller may make on average (0: no limit; edges"
        " are exempt)",
    )
    rate_limit_burst: Annotated[int, Field(ge=1)] = Field(
        200, description="requests a caller may make at once before the rate limit applies"
    )
    cloud_token_file: Path | None = Field(
        None,
        description="file holding the edge's token for the cloud (default: created in"
        " <data-dir>/secrets/ when the cloud shares the data dir)",
    )
    identities_file: Path | None = Field(
        None,
        description="users, tokens and the audit log (default <data-dir>/identities.db); cloud"
        " workers with data dirs of their own share one file",
    )
    http_tls_cert_file: Path | None = Field(
        None, description="serve HTTPS with this certificate (PEM; with http_tls_key_file)"
    )
    http_tls_key_file: Path | None = Field(None, description="key of the HTTPS certificate")
    cloud_ca_file: Path | None = Field(
        None, description="CA bundle the edge verifies the cloud's HTTPS certificate with"
    )
    mqtt_anonymous_loopback: bool = Field(
        True,
        description="the embedded broker lets anonymous clients in from loopback (as Mosquitto 2"
        " does); bound to any other address it never does",
    )

    # -- the stream backbone: NATS JetStream (docs/grid.md) --
    nats_port: Port = Field(4222, description="port of the embedded NATS server (127.0.0.1)")
    nats_url: str | None = Field(
        None,
        description="an existing NATS server or cluster (nats://user:pass@host:port, several"
        " comma-separated); the embedded one is not started",
    )
    nats_sync: Literal["always", "interval"] = Field(
        "always",
        description="embedded JetStream: fsync every write before acknowledging it (always), or"
        " every 2 minutes (interval, JetStream's default; a power cut loses what was acknowledged)",
    )
    nats_duplicate_window_s: Annotated[float, Field(gt=0)] | None = Field(
        None,
        description="JetStream's duplicate window on the ingest stream (default: the edge"
        " buffer's maximum age, so no resend can come after it)",
    )
    nats_max_age_s: Annotated[dict[str, float], NoDecode] = Field(
        default_factory=lambda: {"IOT_INGEST": 7 * 86400.0, "IOT_ENRICHED": 30 * 86400.0},
        description="how long each stream keeps messages (limits retention: kept until this age"
        ' whether consumed or not), e.g. {"IOT_INGEST": 604800}',
    )
    nats_retention: Literal["limits", "workqueue"] = Field(
        "limits",
        description="retention of the streams: limits (by age), or workqueue (a message leaves"
        " once a consumer acknowledged it); never interest, which drops what nobody took",
    )

    # -- TLS and credentials for a remote broker --
    mqtt_ca_file: Path | None = Field(None, description="CA bundle that signs the broker's cert")
    mqtt_cert_file: Path | None = Field(None, description="client certificate (mutual TLS)")
    mqtt_key_file: Path | None = Field(None, description="key of the client certificate")
    mqtt_username: str | None = Field(None, description="broker user (overrides the URL's)")
    mqtt_password: str | None = Field(None, description="broker password (overrides the URL's)")

    @field_validator("packs", mode="before")
    @classmethod
    def _pack_list(cls, value: object) -> object:
        """``factory,motor`` as well as ``["factory", "motor"]`` (and a list, from a file)."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f'not a JSON list ({exc.msg}); write factory,motor or ["factory", "motor"]'
                ) from exc
        return [name.strip() for name in text.split(",") if name.strip()]

    @field_validator("nats_max_age_s", mode="before")
    @classmethod
    def _stream_ages(cls, value: object) -> object:
        """A JSON object from the environment, e.g. ``{"IOT_INGEST": 604800}``."""
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a JSON object ({exc.msg})") from exc
        return value

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _tls_needs_both_files(self) -> Settings:
        if (self.http_tls_cert_file is None) != (self.http_tls_key_file is None):
            raise ValueError(
                "HTTPS needs both http_tls_cert_file and http_tls_key_file"
                " (EDGETWIN_HTTP_TLS_CERT_FILE, EDGETWIN_HTTP_TLS_KEY_FILE)"
            )
        return self

    @model_validator(mode="after")
    def _shared_needs_a_real_broker(self) -> Settings:
        if self.mqtt_share_group and not self.mqtt_url:
            raise ValueError(
                "mqtt_share_group needs a broker with shared subscriptions (Mosquitto, EMQX,"
                " HiveMQ) named by --mqtt-url / EDGETWIN_MQTT_URL; the embedded broker has none"
                " and would deliver the group nothing"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = config_path()
        if config_file is not None:
            sources.append(_SettingsToml(settings_cls, toml_file=config_file))
        return tuple(sources)

    def __repr_args__(self) -> Any:
        """The settings without their secrets: passwords masked, URLs without their password."""
        for name, value in super().__repr_args__():
            if name is not None and any(word in name for word in _SECRET) and value is not None:
                yield name, "***"
            elif name in ("mqtt_url", "db", "cloud_url", "nats_url") and isinstance(value, str):
                yield name, redact_url(value)
            else:
                yield name, value

    @property
    def store_url(self) -> str:
        return self.db or f"sqlite:///{self.data_dir / 'cloud.db'}"

    @property
    def cloud_base_url(self) -> str:
        """The (first) cloud the edge sends to; see :attr:`cloud_urls`."""
        return self.cloud_urls[0]

    @property
    def cloud_urls(self) -> list[str]:
        """Every ingest worker the edge may send to, in the order it tries them."""
        if self.cloud_url:
            urls = [u.strip().rstrip("/") for u in self.cloud_url.split(",") if u.strip()]
            if urls:
                return urls
        host = "127.0.0.1" if self.http_host in ("0.0.0.0", "::") else self.http_host
        scheme = "https" if self.http_tls_cert_file is not None else "http"
        return [f"{scheme}://{host}:{self.http_port}"]

    @property
    def edge_metrics(self) -> int:
        return self.http_port + 1 if self.edge_metrics_port is None else self.edge_metrics_port

    @property
    def embedded_broker(self) -> bool:
        return self.mqtt_url is None

    def mqtt_target(self) -> MqttTarget:
        """The broker to connect to (credentials of the embedded one are added by the caller)."""
        if self.mqtt_url:
            target = MqttTarget.from_url(self.mqtt_url)
        else:
            target = MqttTarget(host="127.0.0.1", port=self.mqtt_port)
        update: dict[str, object] = {
            "ca_file": self.mqtt_ca_file,
            "cert_file": self.mqtt_cert_file,
            "key_file": self.mqtt_key_file,
        }
        if self.mqtt_username is not None:
            update["username"] = self.mqtt_username
        if self.mqtt_password is not None:
            update["password"] = self.mqtt_password
        return target.model_copy(update=update)


PIPELINE_TABLES = frozenset({"buffer", "sources", "processors", "sinks"})


class _SettingsToml(TomlConfigSettingsSource):
    """The settings in a config file; its pipeline tables are the edge pipeline's business."""

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in super().__call__().items() if k not in PIPELINE_TABLES}


def config_path() -> Path | None:
    """The config file named by ``EDGETWIN_CONFIG``, if any.

    Raises:
        ConfigError: it names a file that does not exist or cannot be read.
    """
    name = os.environ.get("EDGETWIN_CONFIG")
    if not name:
        return None
    path = Path(name).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"config file {name!r} (--config / EDGETWIN_CONFIG) does not exist or is not a file"
        )
    return path


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning every error into a ConfigError of one line per bad setting.

    Raises:
        ConfigError: each line names the setting (and its variable), what is wrong with it and
            the value given (never a password's).
    """
    import tomllib

    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(
            "\n".join(_setting_error(e) for e in exc.errors(include_url=False))
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {os.environ.get('EDGETWIN_CONFIG')}: {exc}") from exc
    except SettingsError as exc:  # a value the environment source could not even parse
        raise ConfigError(f"{exc}") from exc


_SECRET = ("password", "token", "secret")


def _setting_error(error: Any) -> str:
    """One line for one pydantic error: ``setting packs (EDGETWIN_PACKS): ...; got 'x'``."""
    loc = [str(p) for p in error["loc"]]
    if not loc:  # a rule across settings: its message names them
        return f"settings: {error['msg'].removeprefix('Value error, ')}"
    name = loc[0]
    where = ".".join(loc)
    if error["type"] == "extra_forbidden":
        source = os.environ.get("EDGETWIN_CONFIG") or "the settings"
        known = ", ".join(sorted(Settings.model_fields))
        return f"{source}: {name!r} is not a setting (known: {known})"
    message = error["msg"].removeprefix("Value error, ")
    shown = error.get("input")
    got = ""
    if not any(word in name for word in _SECRET) and isinstance(shown, str | int | float):
        got = f"; got {shown!r}"
    return f"setting {where} (EDGETWIN_{name.upper()}): {message}{got}"


def redact_url(url: str) -> str:
    """``scheme://user:secret@host`` as ``scheme://user:***@host`` (other URLs unchanged)."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()
