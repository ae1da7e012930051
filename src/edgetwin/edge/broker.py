"""The embedded MQTT broker (amqtt), started by ``edgetwin up`` when no external broker is named.

Access rules, like Mosquitto's with a ``password_file`` and an ``acl_file``:
- a client that presents a username must be one of the users in ``<data-dir>/broker/users/``
  (each of edgetwin's parts creates its own, :mod:`edgetwin.transport.mqtt_users`) with the right
  password; it then gets a full persistent session, so the broker keeps its QoS 1 messages while
  it is away (amqtt keeps none for anonymous sessions), and is held to its part's topics
  (:mod:`edgetwin.security.mqtt_acl`: a refused PUBLISH is dropped, a refused SUBSCRIBE answered
  0x80, a message another user's rules refuse is not delivered);
- a client without credentials is admitted only from the loopback interface, only while the
  broker itself listens on loopback, and only while ``mqtt_anonymous_loopback`` is on (as
  Mosquitto 2 does by default), so a stock client on the same machine can still
  ``mosquitto_pub -t ... -m ...``; it may use every topic, but never an ``edgetwin-`` client id.

Two corrections to amqtt 0.12.1 (pinned), each a small override of one of its methods:
- *A broker delivers what it accepted.* amqtt reads a client's packets in a loop that hands each
  PUBLISH and DISCONNECT to a task of its own, and cancels the tasks that have not run yet when the
  connection ends. ``mosquitto_pub -m ...`` (QoS 0) sends PUBLISH, DISCONNECT and closes at once;
  when the three are read in one go (a busy broker, or any Python whose ``asyncio.wait_for`` no
  longer yields, 3.12 on) the PUBLISH was cancelled before it ran and the DISCONNECT with it (so a
  clean exit even fired the client's will). Here a QoS 0 PUBLISH is queued and a DISCONNECT noted
  the moment they are read, and the end of a session waits until every queued message was taken.
- *Retained messages only to matching subscriptions.* On every connection amqtt sent the new client
  the retained messages matching *anyone's* subscription; here a session gets them only for the
  filters it holds itself.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import socket
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import Action as AmqttAction
from amqtt.mqtt.constants import QOS_0
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.mqtt.protocol.handler import QueueShutDown
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import IncomingApplicationMessage

from edgetwin.core.errors import PortInUseError
from edgetwin.process import stop_event
from edgetwin.security.mqtt_acl import Acl, Action
from edgetwin.transport.mqtt_users import load_user

log = logging.getLogger("edgetwin.broker")


def _is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


RESERVED_CLIENT_PREFIX = "edgetwin-"
_ACL_ATTR = "edgetwin_acl"  # the Acl the auth plugin attaches to each named client's session
_REFUSALS_LOGGED = 1000  # distinct (user, action, topic) refusals logged; later ones counted


def _password(session: Any) -> str:
    password = session.password or ""
    if isinstance(password, bytes):
        password = password.decode("utf-8", "replace")
    return str(password)


class EdgetwinAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Users of the data dir with their topic rules; anonymous access from loopback only."""

    @dataclass
    class Config:
        data_dir: str = ""
        allow_loopback_anonymous: bool = True

    async def authenticate(self, *, session: Any) -> bool | None:
        config = self.context.config
        username, client_id = session.username, str(session.client_id or "")
        # A persistent session is reused by the next connection with its id: rules start empty.
        setattr(session, _ACL_ATTR, None)
        if username:
            found = await asyncio.to_thread(load_user, Path(config.data_dir), str(username))
            if found is None or not hmac.compare_digest(
                _password(session).encode(), found[1].encode()
            ):
                log.warning("refused client %s: wrong username or password", client_id)
                return False
            part = found[0]
            if client_id.startswith(RESERVED_CLIENT_PREFIX) and not part.is_part:
                log.warning(
                    "refused client %s of user %s: client ids starting %r belong to edgetwin's"
                    " own parts",
                    client_id,
                    username,
                    RESERVED_CLIENT_PREFIX,
                )
                return False
            session.is_anonymous = False
            setattr(session, _ACL_ATTR, Acl(part.rules()))
            return True
        if client_id.startswith(RESERVED_CLIENT_PREFIX):
            # An anonymous client taking an edgetwin client id would kick the edge off and end
            # its persistent session, and with it the readings queued for it.
            log.warning(
                "refused anonymous client %s: client ids starting %r belong to edgetwin's own"
                " parts, which log in",
                client_id,
                RESERVED_CLIENT_PREFIX,
            )
            return False
        if config.allow_loopback_anonymous and _is_loopback(session.remote_address):
            session.is_anonymous = True
            return True
        log.warning("refused anonymous client %s from %s", client_id, session.remote_address)
        return False


_ACTIONS = {
    AmqttAction.PUBLISH: Action.PUBLISH,
    AmqttAction.SUBSCRIBE: Action.SUBSCRIBE,
    AmqttAction.RECEIVE: Action.RECEIVE,
}


class EdgetwinTopicPlugin(BaseTopicPlugin):  # type: ignore[misc]
    """Holds each named client to its user's rules; an anonymous (loopback) client to none.

    Each refusal is counted in :attr:`refused`; the first of each kind is logged."""

    @dataclass
    class Config:
        pass

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.refused = 0
        self._logged: set[tuple[str, Action, str]] = set()

    async def topic_filtering(
        self, *, session: Any = None, topic: str | None = None, action: Any = None
    ) -> bool | None:
        return self.check(session, topic, action)

    def check(self, session: Any, topic: str | None, action: Any) -> bool:
        """:meth:`topic_filtering` without a coroutine (see :class:`EdgetwinBroker`)."""
        if session is None or topic is None or action not in _ACTIONS:
            return False
        acl: Acl | None = getattr(session, _ACL_ATTR, None)
        if acl is None:
            return bool(session.is_anonymous)
        what = _ACTIONS[action]
        if acl.allows(what, topic):
            return True
        self.refused += 1
        key = (str(session.username), what, topic)
        if key not in self._logged and len(self._logged) < _REFUSALS_LOGGED:
            self._logged.add(key)
            log.warning(
                "refused %s %s on %s (client %s): not in its topics",
                session.username,
                what,
                topic,
                session.client_id,
            )
        return False


async def _done() -> None:
    """The coroutine a handler returns when it has done its work before being awaited."""


class _Handler(BrokerProtocolHandler):  # type: ignore[misc]
    """amqtt's per-connection handler, acting on PUBLISH (QoS 0) and DISCONNECT when they are read.

    amqtt's reader calls ``asyncio.create_task(handler.handle_publish(packet))``; the call itself runs
    at once, the task only later (and not at all if the connection ends first). So the work that must
    not be lost is done in the call, and the returned coroutine has nothing left to do.
    """

    def handle_publish(self, publish_packet: Any) -> Coroutine[Any, Any, None]:
        if publish_packet.qos != QOS_0 or self.session is None:
            return super().handle_publish(publish_packet)  # type: ignore[no-any-return]
        if publish_packet.topic_name is None or publish_packet.data is None:
            return _done()
        if publish_packet.dup_flag:  # [MQTT-3.3.1-2], as amqtt itself does
            log.warning("ignored a QoS 0 message with DUP set from %s", self.session.client_id)
            return _done()
        message = IncomingApplicationMessage(
            None, publish_packet.topic_name, QOS_0, publish_packet.data, publish_packet.retain_flag
        )
        message.publish_packet = publish_packet
        try:
            self.session.delivered_message_queue.put_nowait(message)
        except (asyncio.QueueFull, QueueShutDown):
            log.warning("dropped a QoS 0 message from %s: session closed", self.session.client_id)
        return _done()

    def handle_disconnect(self, disconnect: Any) -> Coroutine[Any, Any, None]:
        waiter = self._disconnect_waiter  # type: ignore[has-type]
        if waiter is not None and not waiter.done():
            waiter.set_result(disconnect)
        self._disconnect_waiter = None
        return _done()

    async def wait_disconnect(self) -> Any:
        """The client has gone, once the broker has taken every message it published before."""
        result = await super().wait_disconnect()
        queue = self.session.delivered_message_queue if self.session is not None else None
        # The session's message loop takes one message per turn; the last one is taken (and its
        # future done) in the same step that empties the queue, so it is delivered too. amqtt never
        # calls task_done(), so Queue.join() cannot be used; each turn here yields to that loop.
        while queue is not None and not queue.empty():  # noqa: ASYNC110
            await asyncio.sleep(0)
        return result


class EdgetwinBroker(Broker):  # type: ignore[misc]
    """amqtt's broker with the two corrections described in this module's docstring.

    It also asks :class:`EdgetwinTopicPlugin` directly: amqtt runs each topic check as a task
    of its own per plugin (~25 us; with one check on PUBLISH and one per subscriber on RECEIVE,
    about a tenth of the broker's time per message), the plugin answers in under 1 us.
    """

    async def _topic_filtering(self, session: Any, topic: str, action: Any) -> bool:
        for plugin in self.plugins_manager.plugins:
            if isinstance(plugin, EdgetwinTopicPlugin):
                return plugin.check(session, topic, action)
        return bool(await super()._topic_filtering(session, topic, action))

    async def _initialize_client_session(self, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        handler, session = await super()._initialize_client_session(*args, **kwargs)
        # amqtt builds the handler in a classmethod that names its own class; _Handler adds no
        # state, only two methods, so the instance can take it on before its reader starts.
        handler.__class__ = _Handler
        return handler, session

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Any
    ) -> None:
        topic_filter = subscription[0]
        held = [
            qos
            for holder, qos in self._subscriptions.get(topic_filter, [])
            if holder.client_id == session.client_id
        ]
        if held:
            await super()._publish_retained_messages_for_subscription(
                (topic_filter, held[0]), session
            )


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortInUseError(
                "embedded MQTT broker",
                host,
                port,
                "Choose another with --mqtt-port PORT (or EDGETWIN_MQTT_PORT), or use a broker "
                "that is already running with --mqtt-url mqtt://HOST:PORT.",
            ) from exc


def _loopback_host(host: str) -> bool:
    return host == "localhost" or _is_loopback(host)


def broker_config(
    data_dir: Path, port: int, host: str = "127.0.0.1", *, anonymous_loopback: bool = True
) -> dict[str, Any]:
    """amqtt's configuration: one TCP listener on ``host:port``, edgetwin's two plugins.

    Anonymous clients are admitted (from loopback) only if ``anonymous_loopback`` and ``host``
    is a loopback address."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 0}},
        "timeout_disconnect_delay": 0,
        "plugins": {
            "edgetwin.edge.broker.EdgetwinAuthPlugin": {
                "data_dir": str(data_dir),
                "allow_loopback_anonymous": anonymous_loopback and _loopback_host(host),
            },
            "edgetwin.edge.broker.EdgetwinTopicPlugin": {},
        },
    }


async def run_broker(
    data_dir: Path,
    port: int,
    host: str = "127.0.0.1",
    *,
    anonymous_loopback: bool | None = None,
) -> None:
    """Run the broker until SIGINT/SIGTERM.

    ``anonymous_loopback`` None takes the setting ``mqtt_anonymous_loopback``
    (``EDGETWIN_MQTT_ANONYMOUS_LOOPBACK`` or the config file)."""
    if anonymous_loopback is None:
        from edgetwin.core.settings import load_settings

        anonymous_loopback = load_settings().mqtt_anonymous_loopback
    check_port_free(host, port)
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.WARNING)
    config = broker_config(data_dir, port, host, anonymous_loopback=anonymous_loopback)
    broker = EdgetwinBroker(config)
    await broker.start()
    anonymous = config["plugins"]["edgetwin.edge.broker.EdgetwinAuthPlugin"][
        "allow_loopback_anonymous"
    ]
    log.info(
        "MQTT broker listening on %s:%d (%s)",
        host,
        port,
        "anonymous clients from loopback too" if anonymous else "named users only",
    )
    await stop_event().wait()
    log.info("MQTT broker stopping")
    await broker.shutdown()
