"""The warehouse's controller: a PackML state machine that turns orders into motion. Pure code.

Machine states follow PackML (ISA-TR88.00.02), driven by python-statemachine::

    Stopped --reset--> Resetting --sc--> Idle --start--> Starting --sc--> Execute
    Execute --sc--> Completing --sc--> Complete --reset--> Resetting
    any state --abort--> Aborting --sc--> Aborted --clear--> Clearing --sc--> Stopped

``Resetting`` runs the recovery sequence (:func:`.plans.plan_recover`) and homes the axes;
``Starting`` checks the order against the inventory; ``Execute`` runs its steps; ``Completing``
parks. An emergency stop (:meth:`Controller.emergency_stop`) aborts from any state: the next
tick halts every axis, and nothing moves until :meth:`Controller.reset` (clear, then reset).
Every state change and every refusal is logged (``events``) and counted (``counters``).
"""

from __future__ import annotations

import logging
import random
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from statemachine import State as FsmState
from statemachine import StateMachine

from edgetwin.packs.warehouse.components import SLOTS, TICK_S
from edgetwin.packs.warehouse.interlocks import refusal
from edgetwin.packs.warehouse.model import (
    CookieState,
    Inputs,
    State,
    initial_state,
    step,
    vacuum_built,
)
from edgetwin.packs.warehouse.plans import (
    Step,
    plan_home,
    plan_process,
    plan_recover,
    plan_ship,
    plan_store,
)

log = logging.getLogger("edgetwin.packs.warehouse")

OrderKind = Literal["store", "process", "ship"]
MAX_QUEUE = 8
MAX_EVENTS = 200


class PackML(StateMachine):
    """The PackML states and transitions the warehouse uses (``sc``: state complete)."""

    stopped = FsmState("Stopped", initial=True)
    resetting = FsmState("Resetting")
    idle = FsmState("Idle")
    starting = FsmState("Starting")
    execute = FsmState("Execute")
    completing = FsmState("Completing")
    complete = FsmState("Complete")
    aborting = FsmState("Aborting")
    aborted = FsmState("Aborted")
    clearing = FsmState("Clearing")

    reset = stopped.to(resetting) | complete.to(resetting)
    start = idle.to(starting)
    sc = (
        resetting.to(idle)
        | starting.to(execute)
        | execute.to(completing)
        | completing.to(complete)
        | aborting.to(aborted)
        | clearing.to(stopped)
    )
    abort = (
        stopped.to(aborting)
        | resetting.to(aborting)
        | idle.to(aborting)
        | starting.to(aborting)
        | execute.to(aborting)
        | completing.to(aborting)
        | complete.to(aborting)
        | clearing.to(aborting)
    )
    clear = aborted.to(clearing)
    fail = (
        starting.to(stopped) | execute.to(stopped) | completing.to(stopped) | resetting.to(stopped)
    )


@dataclass
class Order:
    """An order and, once it ends, its outcome."""

    id: str
    kind: OrderKind
    slot: str | None = None
    flavor: str = "CHOCO"
    cookie: str | None = None
    ok: bool | None = None
    reason: str = ""
    final_state: str | None = None
    started_t: float | None = None
    ended_t: float | None = None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "slot": self.slot, "flavor": self.flavor,
            "cookie": self.cookie, "ok": self.ok, "reason": self.reason,
            "final_state": self.final_state, "started_t": self.started_t,
            "ended_t": self.ended_t,
        }  # fmt: skip


@dataclass
class Controller:
    """Orders in, :class:`~.model.Inputs` out, one tick at a time (``tick``)."""

    state: State = field(default_factory=initial_state)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    fsm: PackML = field(default_factory=PackML)
    latched: bool = False
    latched_by: str | None = None
    queue: deque[Order] = field(default_factory=deque)
    current: Order | None = None
    steps: deque[Step] = field(default_factory=deque)
    finished: list[Order] = field(default_factory=list)
    events: deque[tuple[float, str, str]] = field(default_factory=lambda: deque(maxlen=MAX_EVENTS))
    counters: Counter[str] = field(default_factory=Counter)
    _issued: bool = False
    _waited: float = 0.0
    _cookie_seq: int = 0

    # -- log --
    def _event(self, kind: str, text: str) -> None:
        self.events.append((self.state.t, kind, text))
        self.counters[kind] += 1
        log.info("%s: %s", kind, text)

    def _go(self, event: str) -> None:
        before = self.machine_state
        self.fsm.send(event)
        self._event("state", f"{before} -> {self.machine_state} ({event})")

    @property
    def machine_state(self) -> str:
        """The PackML state's name (``Idle``, ``Execute``...)."""
        return str(next(iter(self.fsm.configuration)).name)

    @property
    def busy(self) -> bool:
        """A sequence (an order's, a reset's or a jog) is under way."""
        return bool(self.steps) or self._issued

    # -- commands from operators --
    def submit(self, order: Order) -> str | None:
        """Queue ``order``; the reason it is refused now, or None."""
        reason = None
        if self.latched:
            reason = "emergency stop latched: reset first"
        elif self.machine_state in ("Stopped", "Aborting", "Aborted", "Clearing"):
            reason = f"the warehouse is {self.machine_state}: reset (initialise) first"
        elif len(self.queue) >= MAX_QUEUE:
            reason = f"{MAX_QUEUE} orders already wait"
        elif order.slot is not None and order.slot not in SLOTS:
            reason = f"no slot {order.slot}; slots are A1..C3"
        if reason:
            self._refuse(order, reason)
            return reason
        self.queue.append(order)
        self._event("order", f"{order.id} {order.kind} {order.slot or ''} queued")
        return None

    def emergency_stop(self, by: str = "operator") -> None:
        """Latch the emergency stop: every axis halts in the next tick, from any state."""
        self.latched, self.latched_by = True, by
        if self.machine_state not in ("Aborting", "Aborted"):
            self._go("abort")
        self._event("estop", f"emergency stop by {by}")

    def reset(self) -> str | None:
        """Release the latch (clear) and reset to Idle; the reason it cannot now, or None."""
        name = self.machine_state
        if name == "Aborting":
            return "still aborting: reset in a moment"
        if name == "Aborted":
            self._go("clear")
            self.latched, self.latched_by = False, None
            self._go("sc")
            name = self.machine_state
        if name in ("Stopped", "Complete"):
            self._go("reset")
            self._begin(plan_recover(self.state))
            return None
        return f"reset has no meaning in {name}"

    def jog(self, axis: str, target: float) -> str | None:
        """Move one axis by hand (maintenance, in Idle or Stopped, through every interlock);
        the reason it may not, or None.

        Raises:
            KeyError: no such axis.
        """
        self.state.axes[axis]  # the KeyError for an unknown axis
        reason: str | None
        if self.latched:
            reason = "emergency stop latched: reset first"
        elif self.machine_state not in ("Idle", "Stopped") or self.busy:
            reason = f"the warehouse is busy ({self.machine_state})"
        else:
            reason = refusal(self.state, {axis: target})
        if reason is not None:
            self._event("interlock", f"jog {axis} to {target:g}: {reason}")
            return reason
        self._begin([Step("move", f"jog {axis}", targets={axis: target})])
        return None

    def _refuse(self, order: Order, reason: str) -> None:
        order.ok, order.reason = False, reason
        order.ended_t = self.state.t
        self.finished.append(order)
        self._event("refusal", f"{order.id} {order.kind}: {reason}")

    # -- the tick --
    def tick(self, dt: float = TICK_S) -> State:
        """Run one tick: the current step's inputs, the physics, then what the state means."""
        if self.latched:
            self.state = step(self.state, Inputs(estop=True), dt, self.rng)
            if self.machine_state == "Aborting":
                self._abandon("emergency stop")
                self._go("sc")
            return self.state
        if self.machine_state == "Idle" and self.queue and not self.busy:
            self._start(self.queue.popleft())
        inputs = self._inputs(dt)
        self.state = step(self.state, inputs, dt, self.rng)
        self._after(dt)
        return self.state

    def _begin(self, steps: list[Step]) -> None:
        self.steps = deque(steps)
        self._issued, self._waited = False, 0.0

    def _start(self, order: Order) -> None:
        reason, steps = self._plan(order)  # checked in Idle: a refused order changes no state
        if reason is not None:
            self._refuse(order, reason)
            return
        self._go("start")
        self.current = order
        order.started_t = self.state.t
        self._begin(steps)
        self._go("sc")

    def _plan(self, order: Order) -> tuple[str | None, list[Step]]:
        s = self.state
        if order.kind == "store":
            free = [x for x, c in s.slots.items() if c is not None and s.carriers[c] is None]
            slot = order.slot or (sorted(free)[0] if free else None)
            if slot is None:
                return "rack full: no free carrier", []
            if slot not in free:
                return f"slot {slot} is not free", []
            order.slot = slot
            cookie = s.intake
            if cookie is None:
                self._cookie_seq += 1
                cookie = f"CK-{self._cookie_seq:05d}-{self.rng.randrange(16**4):04x}"
            order.cookie = cookie
            return None, plan_store(slot, cookie, order.flavor)
        assert order.slot is not None
        carrier = s.slots.get(order.slot)
        cookie = s.carriers.get(carrier) if carrier else None
        if cookie is None:
            return f"slot {order.slot} is empty", []
        order.cookie = cookie
        if order.kind == "process":
            if s.cookies[cookie].state != CookieState.RAW_DOUGH:
                return f"the cookie in {order.slot} is {s.cookies[cookie].state}, not RAW_DOUGH", []
            return None, plan_process(order.slot, cookie)
        return None, plan_ship(order.slot, cookie)

    def _inputs(self, dt: float) -> Inputs:
        while self.steps and self.steps[0].kind == "expect":
            st = self.steps.popleft()
            assert st.check is not None
            if not st.check(self.state):
                self._fault(st.reason)
                return Inputs()
        if not self.steps or self._issued:
            return Inputs()
        st = self.steps[0]
        self._issued = True
        if st.kind == "move":
            reason = refusal(self.state, st.targets)
            if reason is not None:
                self._event("interlock", f"{st.what}: {reason}")
                self._fault(f"interlock: {reason}")
                return Inputs()
            return Inputs(targets=st.targets)
        if st.kind == "grip":
            return Inputs(gripper=st.on)
        if st.kind == "vacuum":
            return Inputs(vacuum=st.on)
        if st.kind == "oven":
            return Inputs(oven=st.on)
        if st.kind == "supply":
            return Inputs(supply=st.cookie)
        return Inputs()

    def _done(self, st: Step, dt: float) -> bool:
        s = self.state
        if st.kind == "move":
            return all(s.axes[a].at(v) for a, v in st.targets.items())
        if st.kind == "grip":
            return s.gripper_closed == st.on and not s.motors["HBW_GRIPPER"].on_for
        if st.kind == "vacuum":
            return vacuum_built(s) if st.on else True
        if st.kind == "wait":
            self._waited += dt
            return self._waited >= st.seconds - 1e-9
        return True

    def _after(self, dt: float) -> None:
        if self.steps and self._issued and self._done(self.steps[0], dt):
            self.steps.popleft()
            self._issued, self._waited = False, 0.0
        if self.steps or self._issued:
            return
        name = self.machine_state
        if name == "Execute":
            self._finish_order()
            self._go("sc")
            self._begin(plan_home())
        elif name == "Completing":
            self._go("sc")
            self._go("reset")  # Complete -> Resetting: already home, nothing left to do
            self._begin([])
        elif name == "Resetting":
            self._go("sc")

    def _finish_order(self) -> None:
        order = self.current
        if order is None:
            return
        order.ok, order.ended_t = True, self.state.t
        cookie = self.state.cookies.get(order.cookie or "")
        order.final_state = cookie.state.value if cookie else CookieState.SHIPPED.value
        self.finished.append(order)
        self.counters[f"order_{order.kind}"] += 1
        self._event("order", f"{order.id} {order.kind} {order.slot} done: {order.final_state}")
        self.current = None

    def _fault(self, reason: str) -> None:
        """A step could not be done: the order fails, the machine stops (reset recovers)."""
        self._abandon(reason)
        self.steps.clear()
        self._issued = False
        if self.machine_state in ("Starting", "Execute", "Completing", "Resetting"):
            self._go("fail")

    def _abandon(self, reason: str) -> None:
        for order in ([self.current] if self.current else []) + list(self.queue):
            order.ok, order.reason, order.ended_t = False, reason, self.state.t
            cookie = self.state.cookies.get(order.cookie or "")
            order.final_state = cookie.state.value if cookie else None
            self.finished.append(order)
            self.counters["orders_failed"] += 1
            self._event("order", f"{order.id} {order.kind}: failed: {reason}")
        self.current = None
        self.queue.clear()
        self.steps.clear()
        self._issued = False

    def replace_motor(self, motor: str) -> None:
        """A new motor (health 1, counters 0) in place of ``motor``.

        Raises:
            KeyError: no such powered component.
        """
        old = self.state.motors[motor]
        new = replace(old, health=1.0, running_s=0.0, spikes=0, stops=0)
        self.state = replace(self.state, motors={**self.state.motors, motor: new})
        self._event("maintenance", f"{motor} replaced (health was {old.health:.4f})")

    def drain(self) -> list[Order]:
        """The orders finished since the last call."""
        out, self.finished = self.finished, []
        return out
