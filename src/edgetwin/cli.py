"""The ``edgetwin`` command."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from edgetwin import __version__
from edgetwin.core.errors import ConfigError, EdgetwinError, PortInUseError
from edgetwin.core.settings import Settings, load_settings

app = typer.Typer(
    help="edgetwin: Industrial IoT digital twins, edge to cloud.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: a flag shows no value placeholder, and [[sinks]] is text, not markup.
    rich_markup_mode=None,
)

HttpPort = Annotated[
    int | None,
    typer.Option(
        "--http-port",
        envvar="EDGETWIN_HTTP_PORT",
        help="HTTP port of the cloud and dashboard (default 8000)",
    ),
]
MqttPort = Annotated[
    int | None,
    typer.Option(
        "--mqtt-port",
        envvar="EDGETWIN_MQTT_PORT",
        help="port of the embedded MQTT broker on 127.0.0.1 (default 1883)",
    ),
]
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="EDGETWIN_DATA_DIR",
        help="where buffers, the store and credentials live (default ./.edgetwin)",
    ),
]
Db = Annotated[
    str | None,
    typer.Option(
        "--db", envvar="EDGETWIN_DB", help="store URL (default sqlite:///DATA-DIR/cloud.db)"
    ),
]
MqttUrl = Annotated[
    str | None,
    typer.Option(
        "--mqtt-url",
        envvar="EDGETWIN_MQTT_URL",
        help="use this broker (mqtt://user:pass@host:port, mqtts:// for TLS) instead of the"
        " embedded one; its CA and credentials: EDGETWIN_MQTT_CA_FILE, EDGETWIN_MQTT_USERNAME,"
        " EDGETWIN_MQTT_PASSWORD",
    ),
]

NatsPort = Annotated[
    int | None,
    typer.Option(
        "--nats-port",
        envvar="EDGETWIN_NATS_PORT",
        help="port of the embedded NATS server on 127.0.0.1 (default 4222)",
    ),
]
NatsUrl = Annotated[
    str | None,
    typer.Option(
        "--nats-url",
        envvar="EDGETWIN_NATS_URL",
        help="use this NATS server or cluster (nats://user:pass@host:port, several"
        " comma-separated) with JetStream instead of the embedded one",
    ),
]


def _settings(**overrides: object) -> Settings:
    """The settings, or exit 2 with one ``error:`` line per bad setting, before anything starts.

    An unknown pack name is such an error too (a misspelt pack would otherwise start nothing).
    """
    from edgetwin.packs import REGISTRY

    try:
        settings = load_settings(**overrides)
        unknown = [name for name in settings.packs if name not in REGISTRY]
        if unknown:
            raise ConfigError(
                f"setting packs (EDGETWIN_PACKS): unknown pack {', '.join(map(repr, unknown))};"
                f" known packs: {', '.join(sorted(REGISTRY))}"
            )
    except ConfigError as exc:
        for line in str(exc).splitlines():
            typer.secho(f"error: {line}", fg="red", err=True)
        raise typer.Exit(2) from exc
    return settings


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(levelname)-7s %(name)s: %(message)s",
        stream=sys.stdout,
    )
    for noisy in ("httpx", "httpcore", "amqtt", "transitions", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def _fail(exc: EdgetwinError) -> typer.Exit:
    typer.secho(f"error: {exc}", fg="red", err=True)
    return typer.Exit(2)


def _check_http_port(settings: Settings) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((settings.http_host, settings.http_port))
        except OSError as exc:
            raise PortInUseError(
                "cloud HTTP server",
                settings.http_host,
                settings.http_port,
                "Choose another with --http-port PORT (or EDGETWIN_HTTP_PORT).",
            ) from exc


@app.command()
def up(
    http_port: HttpPort = None,
    mqtt_port: MqttPort = None,
    data_dir: DataDir = None,
    db: Db = None,
    mqtt_url: MqttUrl = None,
    nats_port: NatsPort = None,
    nats_url: NatsUrl = None,
) -> None:
    """Start everything: broker, cloud + dashboard, edge gateway and the simulators.

    The parts use the embedded MQTT broker on 127.0.0.1 (--mqtt-port), or the broker of
    --mqtt-url (then none is started); the cloud and dashboard listen on --http-port.
    """
    from edgetwin.edge.broker import check_port_free
    from edgetwin.supervisor import Supervisor, child_env
    from edgetwin.transport.mqtt import ensure_credentials

    settings = _settings(
        http_port=http_port, mqtt_port=mqtt_port, data_dir=data_dir, db=db, mqtt_url=mqtt_url,
        nats_port=nats_port, nats_url=nats_url,
    )  # fmt: skip
    try:
        _check_http_port(settings)
        if settings.embedded_broker:
            check_port_free("127.0.0.1", settings.mqtt_port)
            ensure_credentials(settings.data_dir)
        _check_nats(settings)
    except PortInUseError as exc:
        raise _fail(exc) from exc
    from edgetwin.cloud.store import PG_SCHEMES
    from edgetwin.cloud.store.postgres import redact

    url = settings.store_url
    shown = redact(url) if url.startswith(PG_SCHEMES) else url
    broker = (
        f"embedded on 127.0.0.1:{settings.mqtt_port}"
        if settings.embedded_broker
        else settings.mqtt_url
    )
    typer.echo(
        f"edgetwin {__version__}: data in {settings.data_dir}, broker {broker}, store {shown}"
    )
    from edgetwin.security import IdentityStore

    with IdentityStore(settings.data_dir, settings.identities_file) as identities:
        login_code = identities.ensure_admin()
    code = asyncio.run(Supervisor(settings, child_env(settings), login_code=login_code).run())
    raise typer.Exit(code)


@app.command()
def broker(mqtt_port: MqttPort = None, data_dir: DataDir = None) -> None:
    """Run only the embedded MQTT broker on 127.0.0.1 (--mqtt-port); it connects to nothing.

    Each part's user is kept in DATA-DIR/broker/users; other parts on the same data dir log in
    with theirs and are held to their own topics. Anonymous clients: from loopback only, and
    not with EDGETWIN_MQTT_ANONYMOUS_LOOPBACK=false.
    """
    from edgetwin.edge.broker import run_broker

    settings = _settings(mqtt_port=mqtt_port, data_dir=data_dir)
    _logging(settings)
    try:
        asyncio.run(
            run_broker(
                settings.data_dir,
                settings.mqtt_port,
                anonymous_loopback=settings.mqtt_anonymous_loopback,
            )
        )
    except PortInUseError as exc:
        raise _fail(exc) from exc


def _check_nats(settings: Settings) -> None:
    """When an enabled pack streams and no --nats-url is given, the embedded NATS server's port
    must be free (the same error ``edgetwin nats`` gives)."""
    from edgetwin.supervisor import uses_streams

    if settings.nats_url is None and uses_streams(settings.packs):
        from edgetwin.streams.server import HOST, port_free

        if not port_free(settings.nats_port):
            raise PortInUseError(
                "embedded NATS server", HOST, settings.nats_port,
                "Choose another with --nats-port (EDGETWIN_NATS_PORT), or use a running server"
                " with --nats-url (EDGETWIN_NATS_URL).",
            )  # fmt: skip


@app.command()
def nats(nats_port: NatsPort = None, data_dir: DataDir = None) -> None:
    """Run only the embedded NATS server (JetStream in DATA-DIR/nats) on 127.0.0.1 (--nats-port).

    Its users: edgetwin's parts (a password kept in DATA-DIR/nats/credentials.json) and one per
    registered application, allowed to read only its device types' enriched subjects.
    """
    from edgetwin.streams.server import run_server

    settings = _settings(nats_port=nats_port, data_dir=data_dir)
    _logging(settings)
    try:
        raise typer.Exit(run_server(settings))
    except (PortInUseError, ConfigError) as exc:
        raise _fail(exc) from exc


@app.command()
def enrich(
    data_dir: DataDir = None,
    nats_url: NatsUrl = None,
    nats_port: NatsPort = None,
    batch: Annotated[
        int, typer.Option("--batch", min=1, max=1000, help="messages per fetch")
    ] = 100,
) -> None:
    """Run one enricher: every message of iot.raw, enriched with its device type's metadata and
    applications, onto iot.enriched and iot.{device_type}.enriched, exactly once. Several
    enrichers share the work (one durable consumer)."""
    from edgetwin.streams.enrich import serve

    settings = _settings(data_dir=data_dir, nats_url=nats_url, nats_port=nats_port)
    _logging(settings)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings, batch=batch))


@app.command()
def cloud(
    http_port: HttpPort = None,
    data_dir: DataDir = None,
    db: Db = None,
    mqtt_url: MqttUrl = None,
    mqtt_port: MqttPort = None,
) -> None:
    """Run only the cloud service (API and dashboard, with the enabled packs' parts).

    It serves HTTP on --http-port, stores readings in --db, and links to the plant's MQTT
    broker (commands down, devices' and edges' status up): the broker of --mqtt-url, or else
    the embedded broker's port on 127.0.0.1 (--mqtt-port, default 1883). It logs which broker
    it uses and, while it cannot connect, why.
    """
    import uvicorn

    from edgetwin.compose import build_app

    settings = _settings(
        http_port=http_port, data_dir=data_dir, db=db, mqtt_url=mqtt_url, mqtt_port=mqtt_port
    )
    _logging(settings)
    try:
        _check_http_port(settings)
        application = build_app(settings)
    except EdgetwinError as exc:
        raise _fail(exc) from exc
    tls = {}
    if settings.http_tls_cert_file is not None:  # both are set: the settings check that
        tls = {
            "ssl_certfile": str(settings.http_tls_cert_file),
            "ssl_keyfile": str(settings.http_tls_key_file),
        }
    uvicorn.run(
        application,
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        **tls,  # type: ignore[arg-type]
    )


ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        envvar="EDGETWIN_CONFIG",
        help="TOML file: settings, and [[sources]], [[processors]] and [[sinks]] tables added"
        " to the pipeline (an entry with a taken name replaces it)",
    ),
]
CloudUrl = Annotated[
    str | None,
    typer.Option(
        "--cloud-url",
        envvar="EDGETWIN_CLOUD_URL",
        help="cloud the edge sends to (several ingest workers comma-separated;"
        " default http://127.0.0.1:HTTP-PORT)",
    ),
]


def edge_pipeline(settings: Settings, config: Path | None) -> tuple[Any, Any]:
    """The edge's effective pipeline and plugin context: the base, each enabled pack's
    snippet and device types, then ``config``.

    Raises:
        ConfigError: an unknown pack, or a pipeline error naming the file, table and key.
    """
    from edgetwin.core.device import DeviceType
    from edgetwin.core.plugins import PluginContext
    from edgetwin.edge.alerts import Alerts
    from edgetwin.edge.pipeline import load_pipeline
    from edgetwin.packs import load_entry, load_pack

    device_types: dict[str, DeviceType] = {}
    snippets: list[tuple[str, str]] = []
    for name in settings.packs:
        try:
            pack = load_pack(name)
        except KeyError as exc:
            raise ConfigError(f"packs: {exc.args[0]}") from exc
        device_types.update({t.name: t for t in pack.device_types})
        if pack.plugins is not None:
            load_entry(pack.plugins)()  # the pack's own plugins, before its snippet names them
        if pack.pipeline is not None:
            snippets.append((f"pack {name} ({pack.pipeline.name})", pack.pipeline.read_text()))
    values = {
        "data_dir": str(settings.data_dir),
        "tenant": settings.tenant,
        "plant": settings.plant,
        "edge_id": settings.edge_id,
    }
    pipeline = load_pipeline(
        buffer_defaults={
            "max_bytes": settings.buffer_max_bytes,
            "max_age_s": settings.buffer_max_age_s,
            "policy": settings.buffer_policy,
            "synchronous": settings.buffer_synchronous,
        },
        snippets=snippets,
        user_file=config,
        values=values,
    )
    ctx = PluginContext(
        tenant=settings.tenant,
        plant=settings.plant,
        edge_id=settings.edge_id,
        data_dir=settings.data_dir / "edge",
        alerts=Alerts(),
        device_types=device_types,
        settings=settings,
    )
    return pipeline, ctx


@app.command()
def edge(
    data_dir: DataDir = None,
    mqtt_url: MqttUrl = None,
    mqtt_port: MqttPort = None,
    cloud_url: CloudUrl = None,
    config: ConfigFile = None,
    nats_url: NatsUrl = None,
    nats_port: NatsPort = None,
    print_config: Annotated[
        bool,
        typer.Option("--print-config", help="print the effective pipeline as TOML and exit"),
    ] = False,
) -> None:
    """Run only the edge gateway: the pipeline's sources, processors, durable buffer and sinks.

    It reads the plant's MQTT broker (--mqtt-url, or else the embedded broker's port on
    127.0.0.1, --mqtt-port) and sends readings to the cloud (--cloud-url, default
    http://127.0.0.1:8000, or EDGETWIN_HTTP_PORT's port). The pipeline is the base (that broker in, that cloud out), each
    enabled pack's snippet (EDGETWIN_PACKS), then --config.
    """
    import os

    if config is not None:
        os.environ["EDGETWIN_CONFIG"] = str(config)  # settings come from the same file
    settings = _settings(
        data_dir=data_dir, mqtt_url=mqtt_url, mqtt_port=mqtt_port, cloud_url=cloud_url,
        nats_url=nats_url, nats_port=nats_port,
    )  # fmt: skip
    from edgetwin.edge.pipeline import build

    try:
        pipeline, ctx = edge_pipeline(settings, config)
        plugins = build(pipeline, ctx)
    except ConfigError as exc:
        raise _fail(exc) from exc
    if print_config:
        typer.echo(pipeline.to_toml(), nl=False)
        return
    from edgetwin.edge.runtime import EdgeRuntime

    _logging(settings)
    asyncio.run(EdgeRuntime(settings, pipeline, ctx, plugins).run())


@app.command()
def sim(
    pack: Annotated[str, typer.Argument(help="which twin to simulate, e.g. factory")] = "factory",
    data_dir: DataDir = None,
    mqtt_url: MqttUrl = None,
    mqtt_port: MqttPort = None,
    speed: Annotated[
        float, typer.Option("--speed", min=0.001, help="run the simulated clock N times faster")
    ] = 1.0,
    slow_writes: Annotated[
        bool, typer.Option("--slow-writes", help="files written slowly, in pieces (cmm)")
    ] = False,
    devices: Annotated[
        int | None, typer.Option("--devices", min=1, help="how many devices to simulate (grid)")
    ] = None,
) -> None:
    """Run one pack's simulated devices (or a part a pack adds, e.g. mes).

    Devices that speak MQTT (factory) publish to the plant's broker: --mqtt-url, or else the
    embedded broker's port on 127.0.0.1 (--mqtt-port). The motor opens a serial line
    (pty) at DATA-DIR/dev/motor0; the cmm writes files to DATA-DIR's drop folder.
    """
    from edgetwin.packs import find_simulator

    settings = _settings(data_dir=data_dir, mqtt_url=mqtt_url, mqtt_port=mqtt_port)
    _logging(settings)
    try:
        simulate = find_simulator(pack)
    except KeyError as exc:
        typer.secho(f"error: {exc.args[0]}", fg="red", err=True)
        raise typer.Exit(2) from exc
    # Options a pack's simulator takes (``--speed``, ``--slow-writes``) only when given.
    options: dict[str, Any] = {"speed": speed} if speed != 1.0 else {}
    if slow_writes:
        options["slow_writes"] = True
    if devices is not None:
        options["devices"] = devices
    try:
        run = simulate(settings, **options)
    except TypeError as exc:
        typer.secho(f"error: {pack} takes no such option ({exc})", fg="red", err=True)
        raise typer.Exit(2) from exc
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run)


@app.command()
def bench(
    quick: Annotated[bool, typer.Option("--quick", help="a short run (under 2 minutes)")] = False,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="EDGETWIN_BENCH_DB",
            help="PostgreSQL server to measure on; a scratch database is created and dropped",
        ),
    ] = "postgresql://postgres@127.0.0.1:5432/postgres",
    out: Annotated[Path, typer.Option("--out", help="where JSON and the plot go")] = Path(
        "bench-results"
    ),
    docs: Annotated[
        Path | None, typer.Option("--docs", help="write the report here (e.g. docs/benchmarks.md)")
    ] = None,
) -> None:
    """Measure the pipeline against the raw limits of the same machine, and report the ratios."""
    from edgetwin.bench import run_bench

    raise typer.Exit(run_bench(quick=quick, pg_url=db or None, out=out, docs=docs))


from edgetwin.cli_auth import token_app, user_app  # noqa: E402 - after the shared options
from edgetwin.cli_mqtt import mqtt_acl  # noqa: E402

app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.command("mqtt-acl")(mqtt_acl)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)
