"""The run engine: status machine, gapless event log, checkpoints, leases, cancel and resume.

Lifecycle: ``queued → running → (input_required ↔ running) → completed | failed | cancelled``.

* A run is committed to the store (with its idempotency key) before ``submit`` returns.
* Events get the run's next ``seq`` and are persisted before any follower sees them.
* A run executes under a lease with attempt fencing; this process renews its leases and, from a
  sweeper, takes over runs whose lease expired (a crashed process) and resumes them from their
  last checkpoint.
* On resume the adapter runs again from the checkpoint's state; events the previous attempt
  already recorded are matched and not recorded twice, and tool calls already in the ledger are
  answered from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import logging
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic_core import from_json, to_json

from ..exceptions import (
    ConfigurationError,
    Conflict,
    FastAgenticError,
    InputRequired,
    InvalidInput,
    LeaseLost,
    NotFound,
    ToolError,
)
from . import events as ev
from . import runs as rs
from .context import CallContext, RunContext, UserContext, bind_run, bind_user
from .hub import Hub, Subscription
from .lifecycle import Lifecycle, Reject
from .pipeline import Invocation, Pipeline
from .registry import Registry
from .runs import CANCEL_SIGNAL, EVENTS_SIGNAL, QUEUED_SIGNAL, Checkpoint, LedgerEntry, RunRecord
from .signature import validate_against_schema
from .specs import AgentSpec

logger = logging.getLogger("fastagentic.engine")

FLUSH_HIGH_WATER = 2048
# While a run streams, its events are written at most this often (seconds): code that yields
# to the event loop between events (most frameworks do, several times per token) would
# otherwise commit one event per transaction.  After a pause the next event is written at once.
FLUSH_INTERVAL = 0.002
READ_PAGE = 5000
#: Runs taken from the queue per claim.
CLAIM_BATCH = 16
CLAIMER = "fastagentic-claimer"
# Keys left out when matching a replayed event against the recorded one.
VOLATILE_KEYS = frozenset({"checkpoint_id", "timestamp", "offset", "replayed"})


def _comparable(data: dict[str, Any]) -> Any:
    return from_json(to_json({k: v for k, v in data.items() if k not in VOLATILE_KEYS},
                             fallback=repr))


class RunSink:
    """Where one attempt of one run sends its events (sequencing, batching, replay)."""

    def __init__(self, engine: RunEngine, run: RunRecord, replay: list[ev.RunEvent],
                 skip_to: int | None = None, history: list[ev.RunEvent] | None = None,
                 ) -> None:
        self.engine = engine
        self.run = run
        self.run_id = run.id
        self.seq = run.last_seq
        self.usage: dict[str, Any] = dict(run.usage or {})
        #: Budget reservations of model steps whose cost has not arrived yet (oldest first).
        self.holds: deque[Any] = deque()
        self._pending: list[ev.RunEvent] = []
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        #: Open node steps by name (telemetry), and the attempt's context.
        self._nodes: dict[str, list[Any]] = {}
        self._context = contextvars.copy_context()
        self._replay: deque[ev.RunEvent] = deque(replay)
        # Code that replays from its start may also skip ahead using ``ctx.state``: if its first
        # event does not match, the window moves to just after the checkpoint (once).
        self._skip_to = skip_to
        self._history = history or []
        # The run's streamed text: tokens before the replay window, then every token this
        # attempt repeats or adds (superseded tokens are left out).
        start = replay[0].seq if replay else (self._history[-1].seq + 1 if self._history else 1)
        self.text: list[str] = self._tokens_before(start)

    def _tokens_before(self, seq: int) -> list[str]:
        return [e.data.get("content", "") for e in self._history
                if e.type == ev.TOKEN and e.seq < seq and "delegate" not in e.data]

    def skip_recorded(self, recorded: Callable[[dict[str, Any]], bool]) -> None:
        """Resumed code skipped work whose events were recorded (a delegation answered from
        the ledger): drop those events from the replay window so they are not superseded."""
        while self._replay and recorded(self._replay[0].data):
            self._replay.popleft()

    # sequencing and persistence

    def _append(self, type_: str, data: dict[str, Any]) -> ev.RunEvent:
        self.seq += 1
        event = ev.encode(self.run_id, self.seq, type_, time.time(), data)
        self._pending.append(event)
        return event

    async def _write(self) -> None:
        async with self._lock:
            if not self._pending:
                return
            batch, self._pending = self._pending, []
            try:
                await self.engine.store.append_events(self.run_id, batch)
            except Conflict as exc:  # another attempt owns the log now
                raise LeaseLost(str(exc)) from exc
            self.engine.hub.publish(self.run_id, batch)

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        written = -FLUSH_INTERVAL
        while True:
            await self._wake.wait()
            wait = written + FLUSH_INTERVAL - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)  # more events join this write meanwhile
            self._wake.clear()
            try:
                await self._write()
            except BaseException as exc:  # surfaced to the run on its next emit
                self._failure = exc
                return
            written = loop.time()

    def _kick(self) -> None:
        if self._flusher is None:
            # In the context the sink was made in (the attempt's: its trace span), not that
            # of whichever step first emitted.
            self._flusher = asyncio.create_task(self._flush_loop(), name=f"flush-{self.run_id}",
                                                context=self._context)
        self._wake.set()

    async def flush(self) -> None:
        if self._failure is not None:
            raise self._failure
        await self._write()

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        try:
            await self._write()
        except Exception:
            logger.exception("run %s: could not write the last events", self.run_id)

    async def commit(self, settle: list[tuple[str, dict[str, Any]]], *, ends: bool = True,
                     **changes: Any) -> RunRecord:
        """Write the pending events and the run's new state in one transaction, then publish:
        whoever sees a settling event (``done``, ``input_required``) also sees the new status.

        When the write ``ends`` the attempt, this process stops counting it as executing before
        anyone is woken: a resume or cancel from then on must not wait for (or cancel) a task
        with only cleanup left.  (An attempt's start is written this way too, not ending it.)"""
        async with self._lock:
            # Appended under the lock: a flush already waiting for it cannot take (and publish)
            # these events ahead of the run's new state.
            for type_, data in settle:
                self._append(type_, data)
            batch, self._pending = self._pending, []
            try:
                updated = await self.engine.store.append_and_update(
                    self.run_id, batch, expect_attempt=self.run.attempt, **changes)
            except Conflict as exc:
                raise LeaseLost(str(exc)) from exc
            if updated is None:
                raise LeaseLost(self.run_id)
            if ends:
                self.engine._forget_attempt(self)
            self.engine.hub.publish(self.run_id, batch)
            return updated

    # adapter-produced events

    async def emit(self, event: ev.Event) -> None:
        if self._failure is not None:
            raise self._failure
        if event.type in ev.LIFECYCLE_TYPES:
            raise ConfigurationError(f"{event.type!r} events are produced by the run engine")
        if event.type == ev.TOKEN and "delegate" not in event.data:
            self.text.append(event.data.get("content", ""))
        governance = self.engine.governance
        if event.type == ev.COST and governance is not None:
            event = ev.Event(ev.COST, governance.reprice(event.data))
        if self._replay and self._match_replay(event) is not None:
            return
        if event.type == ev.COST:
            self._count_cost(event.data)
            if governance is not None:
                await governance.on_cost(self, event.data)
        lifecycle = self.engine.lifecycle
        if lifecycle.active:
            if event.type == ev.COST and lifecycle.watchers:
                lifecycle.cost(self.run, event.data)
            elif event.type in (ev.NODE_START, ev.NODE_END):
                event = await self._node(lifecycle, event)
        self._append(event.type, event.data)
        if len(self._pending) >= FLUSH_HIGH_WATER:
            await self.flush()
        else:
            self._kick()

    async def _node(self, lifecycle: Lifecycle, event: ev.Event) -> ev.Event:
        """``on_node_enter``/``on_node_exit`` and the node's step (not for replayed nodes)."""
        name = str(event.data.get("node") or event.data.get("name") or "node")
        entering = event.type == ev.NODE_START
        if entering and lifecycle.watchers:
            self._nodes.setdefault(name, []).append(
                lifecycle.step_started("node", name, self.run_id, {"node": name}))
        hook = "on_node_enter" if entering else "on_node_exit"
        try:
            if lifecycle.has(hook):
                data = await lifecycle.fire(hook, "run", self.run.endpoint,
                                            self.engine.user_of(self.run), self.run_id,
                                            dict(event.data))
                event = ev.Event(event.type, data)
        finally:
            if not entering and lifecycle.watchers and self._nodes.get(name):
                lifecycle.step_ended(self._nodes[name].pop(), {"node": name},
                                     None if event.data.get("error") is None else
                                     RuntimeError(str(event.data["error"])))
        return event

    def _match_replay(self, event: ev.Event) -> ev.RunEvent | None:
        """The recorded event this one repeats (then it is not recorded again), or None."""
        recorded = self._replay[0]
        if recorded.type == event.type and _comparable(recorded.data) == _comparable(event.data):
            self._skip_to = None
            return self._replay.popleft()
        if self._skip_to is not None:
            skip_to, self._skip_to = self._skip_to, None
            while self._replay and self._replay[0].seq <= skip_to:
                self._replay.popleft()
            # The code skipped ahead: the text recorded up to the checkpoint is the run's too.
            current = [self.text.pop()] if event.type == ev.TOKEN else []
            self.text = self._tokens_before(skip_to + 1) + current
            return self._match_replay(event) if self._replay else None
        # The resumed code took another path: what the last attempt recorded from here on is
        # superseded.  Say so in the log, then record the new events.
        self._replay.clear()
        self._append(
            ev.STATUS,
            {"status": rs.RUNNING, "attempt": self.run.attempt,
             "superseded_from_seq": recorded.seq,
             "reason": "the resumed run produced different events from this point"},
        )
        return None

    def _count_cost(self, data: dict[str, Any]) -> None:
        tokens = self.usage.setdefault("tokens", {})
        for key, value in (data.get("tokens") or {}).items():
            if isinstance(value, int | float):
                tokens[key] = tokens.get(key, 0) + value
        amount = self.usage.setdefault("amount", {})
        for key, value in (data.get("amount") or {}).items():
            if isinstance(value, int | float):
                amount[key] = round(amount.get(key, 0) + value, 12)

    async def checkpoint(self, state: Any, metadata: dict[str, Any]) -> str:
        if self._replay:
            recorded = self._match_replay(ev.Event(ev.CHECKPOINT, {"metadata": metadata}))
            if recorded is not None:
                return recorded.data.get("checkpoint_id", f"cp-{recorded.seq}")
        if self.engine.governance is not None:
            state, metadata = await self.engine.governance.on_checkpoint(self, state, metadata)
        lifecycle = self.engine.lifecycle
        if lifecycle.has("on_checkpoint"):
            data = await lifecycle.fire("on_checkpoint", "run", self.run.endpoint,
                                        self.engine.user_of(self.run), self.run_id,
                                        {"state": state, "metadata": metadata})
            state, metadata = data.get("state"), data.get("metadata") or {}
        seq = self.seq + 1
        checkpoint_id = f"cp-{seq}"
        if self.engine.spec_durable(self.run.endpoint):
            await self.flush()
            await self.engine.store.put_checkpoint(
                Checkpoint(id=checkpoint_id, run_id=self.run_id, seq=seq, state=state,
                           metadata=metadata, usage=self.usage)
            )
        await self.emit(ev.Event(ev.CHECKPOINT, {"checkpoint_id": checkpoint_id,
                                                 "metadata": metadata, "offset": seq}))
        await self.flush()
        return checkpoint_id

    async def call_tool(self, name: str, arguments: dict[str, Any], call_id: str) -> Any:
        engine = self.engine
        spec = engine.registry.tools.get(name)
        if spec is None:
            raise NotFound(f"unknown tool {name!r}")
        await self.emit(ev.tool_call(name, arguments, call_id))
        entry = await engine.store.ledger_get(self.run_id, call_id)
        replayed = entry is not None
        if entry is None:
            model = spec.signature.validate_python(arguments)
            context = CallContext(user=engine.user_of(self.run), transport="run", kind="tool",
                                  name=name, run_id=self.run_id)
            try:
                result = await engine.pipeline.invoke(
                    Invocation(spec, model, context, {"call_id": call_id}))
            except Reject as exc:  # not a result: not in the ledger, asked again on resume
                await self.emit(ev.tool_result(name, None, call_id, error={
                    "code": exc.code, "message": exc.message}))
                raise
            except ToolError as exc:
                entry = LedgerEntry(self.run_id, call_id, name,
                                    error={"code": exc.code, "message": exc.message})
            else:
                entry = LedgerEntry(self.run_id, call_id, name,
                                    output=spec.signature.dump_output(result))
            entry = await engine.store.ledger_put(entry)
        if entry.error is not None:
            await self.emit(ev.tool_result(name, None, call_id, error=entry.error,
                                           replayed=replayed))
            raise ToolError(entry.error.get("message", "tool failed"))
        await self.emit(ev.tool_result(name, entry.output, call_id, replayed=replayed))
        return spec.signature.output_adapter.validate_python(entry.output)


class RunEngine:
    def __init__(
        self,
        store: Any,
        registry: Registry,
        pipeline: Pipeline,
        *,
        lease_ttl: float = 30.0,
        poll_interval: float = 1.0,
        worker: bool = True,
        concurrency: int = 100,
        drain: float = 0.0,
    ) -> None:
        self.store = store
        self.registry = registry
        self.pipeline = pipeline
        self.hub = Hub()
        self.lease_ttl = lease_ttl
        self.poll_interval = poll_interval
        self.worker = worker
        #: At most this many runs claimed from the queue execute here at once (runs accepted
        #: by this process start right away whatever the count).
        self.concurrency = concurrency
        #: At shutdown, how long in-flight runs may go on to finish before they are released.
        self.drain = drain
        self._wake = asyncio.Event()
        #: Set when a run of this process ends: a full claim loop waits for it.
        self._room = asyncio.Event()
        #: Runs whose code has ended and whose last write is under way: they no longer count
        #: against ``concurrency``, so the next run is claimed while that write commits.
        self._winding: set[str] = set()
        self._listening = False
        self._cancelling: set[asyncio.Task[None]] = set()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._tasks: dict[str, asyncio.Task[None]] = {}
        #: Every attempt task not done yet (``_tasks`` forgets one as soon as it settles).
        self._live: set[asyncio.Task[None]] = set()
        #: Runs executing here that telemetry watches, and how their attempts settled.
        self._watched: set[str] = set()
        self._outcomes: dict[str, tuple[str, dict[str, Any] | None]] = {}
        self._attempts: dict[str, int] = {}
        self._principals: dict[str, str] = {}
        self._arguments: dict[str, BaseModel] = {}
        self._stop_reason: dict[str, str] = {}
        self._background: list[asyncio.Task[None]] = []
        self._closing = False
        #: Returns what runs delegate to other agents through (``app.agents``).
        self.delegator: Callable[[], Any] | None = None
        #: The App's run governance (budgets, usage, policies, audit): ``policy.runner``.
        self.governance: Any = None
        #: The App's hooks and telemetry watchers (``core.lifecycle``).
        self.lifecycle = Lifecycle()
        pipeline.set_terminal("agent", self._start_from_pipeline)

    # lifecycle

    async def start(self) -> None:
        self._closing = False
        self._listening = True
        await self.store.listen(self._on_signal)
        if self.worker:
            try:  # the runs' statements, the claims and the heartbeats at once
                await self.store.warm(self.concurrency + 2)
            except Exception:
                logger.warning("warming the store's connections up failed; the first runs "
                               "open them", exc_info=True)
            self._background = [
                asyncio.create_task(self._claim_loop(), name=CLAIMER),
                asyncio.create_task(self._heartbeat_loop(), name="fastagentic-heartbeat"),
            ]

    async def stop(self, grace: float = 10.0) -> None:
        """Stop executing: claim nothing more; in-flight runs get ``drain`` seconds to finish,
        then they are flushed and released for another worker (never abandoned)."""
        self._closing = True
        for task in self._background:
            if task.get_name() == CLAIMER:
                task.cancel()  # no new runs
        if self.drain > 0 and self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=self.drain)
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._background = []
        tasks = list(self._tasks.items())
        for run_id, task in tasks:
            self._stop_reason[run_id] = "shutdown"
            task.cancel()
        if tasks:
            await asyncio.wait([t for _, t in tasks], timeout=grace)
        if self._live:  # settled attempts finishing their last steps (telemetry, cleanup)
            await asyncio.wait(list(self._live), timeout=grace)
        self._listening = False

    def _on_signal(self, kind: str, run_id: str, seq: int,
                   events: Sequence[ev.RunEvent] = ()) -> None:
        """A signal from any process sharing the store (see ``Store.listen``)."""
        if not self._listening:
            return
        if kind == EVENTS_SIGNAL:
            self.hub.wake(run_id, seq, events)
        elif kind == QUEUED_SIGNAL:
            self._wake.set()
        elif kind == CANCEL_SIGNAL and run_id in self._tasks:
            self._cancel_soon(run_id)

    def _cancel_soon(self, run_id: str) -> None:
        """Cancel a run executing here that was cancelled elsewhere, as a local cancel does
        (also one whose attempt has not got going yet)."""
        task = asyncio.create_task(self._cancel_signalled(run_id), name=f"cancel-{run_id}")
        self._cancelling.add(task)
        task.add_done_callback(self._cancelling.discard)

    async def _cancel_signalled(self, run_id: str) -> None:
        try:
            await self.cancel(run_id)
        except (NotFound, Conflict):
            pass  # finished meanwhile
        except Exception:
            logger.exception("run %s: cancelling failed", run_id)

    def spec_durable(self, endpoint: str) -> bool:
        spec = self.registry.runnable(endpoint)
        return spec.durable if spec is not None else True

    @staticmethod
    def user_of(run: RunRecord) -> UserContext:
        """Who a run acts as: the user who started it, with the scopes and roles they had.

        Called in the run's own task (each attempt, each tool call), it also makes that user
        ``current_user()`` for the run's code (a task's context does not leak to others)."""
        user = UserContext(user=run.user, tenant=run.tenant, scopes=frozenset(run.scopes),
                           roles=frozenset(run.roles))
        bind_user(user)
        return user

    # starting runs

    async def _start_from_pipeline(self, call: Invocation) -> tuple[RunRecord, bool]:
        spec = call.spec
        assert isinstance(spec, AgentSpec)
        labels = call.options.get("labels")
        if self.lifecycle.hooks:  # hooks of the run are told where it came from
            labels = {**(labels or {}), "via": call.context.transport}
        return await self.submit(
            spec, call.arguments, call.context.user,
            idempotency_key=call.options.get("idempotency_key"), labels=labels,
        )

    async def submit(
        self,
        spec: AgentSpec,
        arguments: BaseModel,
        user: UserContext,
        *,
        idempotency_key: str | None = None,
        labels: dict[str, Any] | None = None,
    ) -> tuple[RunRecord, bool]:
        """Accept a run: it is in the store when this returns; execution starts right away."""
        # Raw-schema arguments keep exactly what the caller sent (no filled-in defaults).
        payload = arguments.model_dump(mode="json",
                                       exclude_unset=spec.signature.raw_schema is not None)
        request_hash = hashlib.sha256(to_json([spec.name, payload])).hexdigest() \
            if idempotency_key is not None else None
        if self.lifecycle.watchers:
            # The process executing it continues this trace (this request's span, which
            # continues the caller's when it sent one).
            trace = self.lifecycle.trace_context()
            if trace:
                labels = {**(labels or {}), "trace": trace}
        run = RunRecord(
            id=rs.new_run_id(), endpoint=spec.name, status=rs.QUEUED, input=payload,
            principal=user.principal_key, user=user.user, tenant=user.tenant,
            scopes=sorted(user.scopes), roles=sorted(user.roles),
            idempotency_key=idempotency_key, request_hash=request_hash, labels=labels or {},
        )
        execute_here = self.worker and not self._closing
        first: list[ev.RunEvent] = []
        if execute_here:
            # Created already leased to this process and started: no other worker's sweeper
            # can take it between acceptance and start (if this process dies, the lease
            # expires), and the start is in the same write as the acceptance.
            now = time.time()
            run.lease_owner, run.lease_expires_at = self.owner, now + self.lease_ttl
            run.attempt = 1
            run.status, run.started_at = rs.RUNNING, now
            first = [ev.encode(run.id, 1, ev.RUN_STARTED, now,
                               {"endpoint": run.endpoint, "input": run.input}),
                     ev.encode(run.id, 2, ev.STATUS, now,
                               {"status": rs.RUNNING, "attempt": 1})]
        stored, created = await self.store.create_run(run, first)
        if not created and stored.request_hash != request_hash:
            raise InvalidInput(
                "this Idempotency-Key was already used for a different request",
                details={"run_id": stored.id},
            )
        if created and execute_here:
            self._arguments[stored.id] = arguments  # validated already: not again at start
            self._launch(stored, started=True)
        elif created:
            await self.store.signal(QUEUED_SIGNAL, stored.id)  # a worker process takes it
        return stored, created

    async def _claim_and_launch(self, run_id: str, statuses: set[str]) -> RunRecord | None:
        if run_id in self._tasks:
            return None
        if not self.worker or self._closing:
            # API-only (or stopping): a worker process on the same store picks the run up.
            await self.store.signal(QUEUED_SIGNAL, run_id)
            return None
        claimed = await self.store.claim_run(run_id, self.owner, self.lease_ttl,
                                             statuses=statuses)
        if claimed is not None:
            self._launch(claimed)
        return claimed

    def _launch(self, run: RunRecord, started: bool = False, recheck: bool = False) -> None:
        self._attempts[run.id] = run.attempt
        self._principals[run.id] = run.principal
        task = asyncio.create_task(self._execute(run, started, recheck), name=f"run-{run.id}")
        self._tasks[run.id] = task
        self._live.add(task)
        task.add_done_callback(lambda t, rid=run.id: self._forget(rid, t))

    def _forget(self, run_id: str, task: asyncio.Task[None] | None = None) -> None:
        """This process no longer executes ``run_id`` (the attempt settled or ended)."""
        if task is not None:
            self._live.discard(task)
        if task is not None and self._tasks.get(run_id) is not task:
            return  # a newer attempt owns the entry
        self._tasks.pop(run_id, None)
        self._attempts.pop(run_id, None)
        self._principals.pop(run_id, None)
        self._arguments.pop(run_id, None)
        self._stop_reason.pop(run_id, None)
        self._winding.discard(run_id)
        self._room.set()

    # executing

    async def _execute(self, run: RunRecord, started: bool = False,
                       recheck: bool = False) -> None:
        bind_run(run.id)  # this task's context: its logs carry the run id
        if recheck:  # claimed a while ago: still this attempt's, and not settled meanwhile?
            try:
                current = await self.store.get_run(run.id)
            except Exception:
                logger.exception("run %s: reading it back failed; its lease will expire", run.id)
                return
            if current is None or current.attempt != run.attempt or \
                    current.lease_owner != self.owner or current.status in rs.TERMINAL:
                return
            run = current
        watched = None
        if self.lifecycle.watchers:
            self._watched.add(run.id)
            watched = self.lifecycle.run_started(run)
        try:
            await self._execute_attempt(run, started)
        except LeaseLost:
            logger.warning("run %s: lease lost, another worker continues it", run.id)
        except asyncio.CancelledError:
            raise
        except Exception:  # the engine must never die with a run
            logger.exception("run %s: engine failure", run.id)
        finally:
            self._watched.discard(run.id)
            outcome = self._outcomes.pop(run.id, None)
            if watched is not None:
                status, error = outcome or (self._stop_reason.get(run.id, "interrupted"), None)
                self.lifecycle.run_ended(watched, run, status, error)

    async def _execute_attempt(self, run: RunRecord, started: bool = False) -> None:
        """One attempt; ``started``: a new run whose start was written with its acceptance."""
        spec = self.registry.runnable(run.endpoint)
        # A run with no events has no checkpoint either (its first events precede any).
        fresh = started or run.last_seq == 0
        checkpoint = None if fresh else await self.store.latest_checkpoint(run.id)
        replay: list[ev.RunEvent] = []
        history: list[ev.RunEvent] = []
        skip_to = None
        if not fresh:
            from_start = spec is not None and spec.adapter is not None and \
                spec.adapter.replay == "from_start"
            after = 0 if from_start or checkpoint is None else checkpoint.seq
            if from_start and checkpoint is not None:
                skip_to = checkpoint.seq
            history = await self.read_all(run.id, 0)
            replay = [e for e in history
                      if e.seq > after and e.type not in ev.LIFECYCLE_TYPES]
        sink = RunSink(self, run, replay, skip_to, history)
        try:
            if spec is None:
                await self._finish(sink, rs.FAILED, error={
                    "code": "unknown_endpoint",
                    "message": f"agent endpoint {run.endpoint!r} is not registered"})
                return
            if run.cancel_requested:  # asked while it waited for this worker
                await self._finish(sink, rs.CANCELLED)
                return
            if not fresh and run.status == rs.RUNNING and not spec.durable:
                await self._finish(sink, rs.FAILED, error={
                    "code": "interrupted",
                    "message": "the run was interrupted and its endpoint is not durable"})
                return
            if not started:  # the attempt's start: its status and first events together
                if fresh:
                    begin = [(ev.RUN_STARTED, {"endpoint": run.endpoint, "input": run.input}),
                             (ev.STATUS, {"status": rs.RUNNING, "attempt": run.attempt})]
                else:
                    begin = [(ev.STATUS, {
                        "status": rs.RUNNING, "attempt": run.attempt, "resumed": True,
                        "checkpoint_id": checkpoint.id if checkpoint else None,
                        "checkpoint_seq": checkpoint.seq if checkpoint else 0})]
                await sink.commit(begin, ends=False, status=rs.RUNNING,
                                  started_at=run.started_at or time.time())
            ctx = RunContext(
                run_id=run.id, endpoint=run.endpoint, user=self.user_of(run),
                attempt=run.attempt, state=checkpoint.state if checkpoint else None,
                answers=dict(run.answers or {}), sink=sink, labels=run.labels)
            if not fresh:
                # Usage = the checkpoint's counters + the costs recorded after it (replayed cost
                # events are matched, not counted again).
                sink.usage = dict(checkpoint.usage or {}) if checkpoint else {}
                covered = checkpoint.seq if checkpoint else 0
                for event in replay:
                    if event.type == ev.COST and event.seq > covered:
                        sink._count_cost(event.data)
            await self._drive(spec, run, ctx, sink)
        except asyncio.CancelledError:
            reason = self._stop_reason.get(run.id, "shutdown")
            if reason == "cancel":
                await asyncio.shield(self._finish(sink, rs.CANCELLED))
            elif reason == "shutdown":
                await asyncio.shield(self._release(sink))
            else:  # lease lost: another attempt owns the log, write nothing more
                sink._pending.clear()
            return
        finally:
            if self.governance is not None and sink.holds:
                await asyncio.shield(self.governance.end_attempt(sink))
            await asyncio.shield(sink.close())

    async def _drive(self, spec: AgentSpec, run: RunRecord, ctx: RunContext,
                     sink: RunSink) -> None:
        from ..adapters.base import Output

        assert spec.adapter is not None
        output: Any = None
        try:
            # Re-validated on every attempt (the input was stored as JSON).
            arguments = self._arguments.pop(run.id, None) or \
                spec.signature.validate_python(run.input)
            async for item in spec.adapter.stream(arguments, ctx):
                if isinstance(item, Output):
                    output = item.value
                else:
                    await sink.emit(item)
            if self.governance is not None:
                output = await self.governance.after_run(sink, output)
            if self.lifecycle.has("on_response"):
                output = (await self.lifecycle.fire(
                    "on_response", run.labels.get("via", "run"), run.endpoint,
                    self.user_of(run), run.id, {"result": output})).get("result")
        except InputRequired as request:
            await self._pause(sink, request)
            return
        except (LeaseLost, asyncio.CancelledError):
            raise
        except FastAgenticError as exc:
            await self._finish(sink, rs.FAILED, error={"code": exc.code, "message": exc.message})
            return
        except Exception as exc:
            logger.exception("run %s failed", run.id)
            await self._finish(sink, rs.FAILED, error={
                "code": "run_failed", "message": f"{type(exc).__name__}: {exc}"})
            return
        try:
            dumped = spec.signature.dump_output(output)
        except Exception as exc:
            await self._finish(sink, rs.FAILED, error={
                "code": "invalid_output",
                "message": f"the output does not match the declared type: {exc}"})
            return
        await self._finish(sink, rs.COMPLETED, output=dumped)

    async def _finish(self, sink: RunSink, status: str, *, output: Any = None,
                      error: dict[str, Any] | None = None) -> None:
        settle: list[tuple[str, dict[str, Any]]] = []
        if sink._replay:
            # The resumed code ended before repeating everything the last attempt recorded.
            settle.append((ev.STATUS, {
                "status": rs.RUNNING, "attempt": sink.run.attempt,
                "superseded_from_seq": sink._replay[0].seq,
                "reason": "the resumed run did not repeat the events from this point"}))
            sink._replay.clear()
        if error is not None:
            settle.append((ev.ERROR, error))
        settle.append((ev.DONE, {"status": status, "output": output, "error": error}))
        if self._attempts.get(sink.run_id) == sink.run.attempt:  # this attempt's slot
            self._winding.add(sink.run_id)
            self._room.set()
        await sink.commit(settle, status=status, output=output, error=error,
                          finished_at=time.time(), lease_owner=None, lease_expires_at=None,
                          usage=sink.usage, pending=None)
        self._settled(sink, status, error)
        if self.governance is not None:
            await self.governance.finished(sink, status, error)
        if error is not None and self.lifecycle.has("on_error"):
            run = sink.run
            with contextlib.suppress(Exception):  # told, not asked: the run is settled
                await self.lifecycle.fire("on_error", run.labels.get("via", "run"),
                                          run.endpoint, self.user_of(run), run.id,
                                          {"error": error, "status": status})

    def _settled(self, sink: RunSink, status: str, error: dict[str, Any] | None) -> None:
        """Note how an attempt executing here settled (for the telemetry at its end)."""
        if sink.run_id in self._watched:
            self._outcomes[sink.run_id] = (status, error)

    async def _pause(self, sink: RunSink, request: InputRequired) -> None:
        pending = request.to_request()
        await sink.commit([(ev.INPUT_REQUIRED, pending)], status=rs.INPUT_REQUIRED,
                          pending=pending, lease_owner=None, lease_expires_at=None,
                          usage=sink.usage)
        self._settled(sink, rs.INPUT_REQUIRED, None)

    def _forget_attempt(self, sink: RunSink) -> None:
        if self._attempts.get(sink.run_id) == sink.run.attempt:
            self._forget(sink.run_id)

    async def _release(self, sink: RunSink) -> None:
        """Shutting down: keep the run for the next process (lease released, not expired)."""
        await sink.flush()
        released = await self.store.update_run(
            sink.run_id, expect_attempt=sink.run.attempt, lease_owner=None,
            lease_expires_at=None, usage=sink.usage)
        if released is not None:
            await self.store.signal(QUEUED_SIGNAL, sink.run_id)  # another worker: now

    def stop_reason(self, run_id: str) -> str | None:
        """Why this process is stopping the run's execution (``cancel``, ``shutdown``,
        ``lease_lost``), or None."""
        return self._stop_reason.get(run_id)

    @property
    def in_flight(self) -> int:
        """How many runs this process is executing now."""
        return len(self._tasks)

    def executing(self, run_id: str) -> bool:
        """Whether this process is executing the run now."""
        return run_id in self._tasks

    async def read_all(self, run_id: str, after: int = 0) -> list[ev.RunEvent]:
        """Every persisted event of a run after ``after`` (read page by page)."""
        out: list[ev.RunEvent] = []
        while True:
            page = await self.store.read_events(run_id, after, READ_PAGE)
            out.extend(page)
            if len(page) < READ_PAGE:
                return out
            after = page[-1].seq

    # background: leases and recovery

    async def _claim_loop(self) -> None:
        """Take runs waiting for a worker (new, released, or a crashed process's) while there
        is room: at once when signalled, else every half lease (expired leases send none)."""
        interval = max(min(self.lease_ttl / 2, self.poll_interval * 5), 0.05)
        while True:
            # Cleared first, whatever the room: a wake-up that came while the engine was full
            # must not make the wait below return at once (a busy loop that never yields).
            self._wake.clear()
            room = self.concurrency - len(self._tasks) + len(self._winding)
            claimed: list[RunRecord] = []
            if room <= 0:  # full: claim again when a run of this process ends
                self._room.clear()
                await self._room.wait()
                continue
            try:
                claimed = await self.store.claim_next(self.owner, self.lease_ttl,
                                                      limit=min(room, CLAIM_BATCH))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("claiming runs failed")
            for run in claimed:
                if run.id in self._tasks:
                    self._take_over(run)
                    continue
                logger.info("run %s: %s (attempt %d)", run.id,
                            "resuming" if run.attempt > 1 else "starting", run.attempt)
                self._launch(run)
            if claimed:
                continue  # maybe more waiting (fewer than asked: a racing claimer took some)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._wake.wait()

    def _take_over(self, run: RunRecord) -> None:
        """The claim took over a run this process is still executing: the loop stalled past
        the attempt's lease, and the store counts it as expired. The old attempt's writes
        are fenced off now, so it stops, and the claimed attempt resumes from the checkpoint
        once it has (one attempt at a time per run in a process)."""
        old = self._tasks[run.id]
        logger.warning("run %s: lease expired while executing here; resuming as attempt %d",
                       run.id, run.attempt)
        self._attempts[run.id] = run.attempt  # the heartbeat keeps the claimed lease meanwhile
        self._stop(run.id, "lease_lost")

        def relaunch(_: asyncio.Task[None]) -> None:
            if self._closing:  # stopping: leave the run to the next worker at once
                task = asyncio.create_task(self._hand_back(run), name=f"release-{run.id}")
                self._live.add(task)
                task.add_done_callback(self._live.discard)
            else:
                self._launch(run, recheck=True)

        old.add_done_callback(relaunch)  # after the old attempt's own ``_forget``

    async def _hand_back(self, run: RunRecord) -> None:
        released = await self.store.update_run(run.id, expect_attempt=run.attempt,
                                               lease_owner=None, lease_expires_at=None)
        if released is not None:
            await self.store.signal(QUEUED_SIGNAL, run.id)

    async def _heartbeat_loop(self) -> None:
        interval = max(self.lease_ttl / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            for run_id, attempt in list(self._attempts.items()):
                try:
                    ok = await self.store.renew_lease(run_id, self.owner, attempt, self.lease_ttl)
                    if not ok:
                        self._stop(run_id, "lease_lost")
                        continue
                    run = await self.store.get_run(run_id)
                    if run is not None and run.cancel_requested:
                        self._cancel_soon(run_id)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("heartbeat for run %s failed", run_id)

    def _stop(self, run_id: str, reason: str) -> asyncio.Task[None] | None:
        task = self._tasks.get(run_id)
        if task is not None and not task.done():
            self._stop_reason[run_id] = reason
            task.cancel()
        return task

    # operations on runs

    async def get(self, run_id: str, user: UserContext | None = None) -> RunRecord:
        run = await self.store.get_run(run_id)
        if run is None or (user is not None and run.principal != user.principal_key):
            raise NotFound(f"unknown run {run_id!r}")
        return run

    async def cancel(self, run_id: str, user: UserContext | None = None) -> RunRecord:
        principal = self._principals.get(run_id)
        task = self._tasks.get(run_id)
        if task is not None and principal is not None and (
                user is None or principal == user.principal_key):
            # Executing here: stop it now, before any await (it may not have started yet).
            self._stop(run_id, "cancel")
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), timeout=10)
            run = await self.get(run_id)
            if run.status not in rs.TERMINAL and run.lease_owner == self.owner and task.done():
                # Cancelled before its attempt got going (nothing of it ran to catch the
                # cancellation): finish it here, under the lease this process still holds.
                sink = RunSink(self, run, [])
                try:
                    await self._finish(sink, rs.CANCELLED)
                finally:
                    await sink.close()
                run = await self.get(run_id)
            return run  # (or it finished on its own just before)
        run = await self.get(run_id, user)
        if run.status in rs.TERMINAL:
            raise Conflict(f"run {run_id} is already {run.status}")
        lease_live = run.lease_owner is not None and (run.lease_expires_at or 0) > time.time()
        if run.status in rs.ACTIVE and lease_live:
            # Executing in another process: the signal stops it now, its next heartbeat
            # otherwise (signals are best effort).
            updated = await self.store.update_run(run_id, cancel_requested=True)
            await self.store.signal(CANCEL_SIGNAL, run_id)
            return updated or run
        # Not executing anywhere: take the lease so nobody starts it meanwhile, then finish it.
        claimed = await self.store.claim_run(run_id, self.owner, self.lease_ttl,
                                             statuses={rs.QUEUED, rs.RUNNING, rs.INPUT_REQUIRED})
        if claimed is None:
            raise Conflict(f"run {run_id} changed state; retry")
        sink = RunSink(self, claimed, [])
        try:
            await self._finish(sink, rs.CANCELLED)
        finally:
            await sink.close()
        return await self.get(run_id)

    async def resume(self, run_id: str, user: UserContext | None = None, *,
                     answer: Any = None, has_answer: bool = False,
                     labels: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                     run: RunRecord | None = None) -> RunRecord:
        """Answer an input request, or restart a run whose execution was interrupted.

        ``labels`` maps the run's labels to new ones, written with the answer (a protocol's
        conversation state); ``run`` is the record the caller just read (saves a read)."""
        if run is None:
            run = await self.get(run_id, user)
        if run.status == rs.INPUT_REQUIRED:
            pending = run.pending or {}
            if not has_answer:
                raise InvalidInput(
                    "this run is waiting for input: send the answer as the JSON body",
                    details={"input_request": pending})
            _validate_answer(answer, pending.get("schema"))
            answers = {**(run.answers or {}), pending.get("key", "input"): answer}
            extra = {"labels": labels(dict(run.labels))} if labels is not None else {}
            updated = await self.store.update_run(
                run_id, expect_status={rs.INPUT_REQUIRED}, status=rs.QUEUED, pending=None,
                answers=answers, **extra)
            if updated is None:
                raise Conflict(f"run {run_id} is no longer waiting for input")
            await self._claim_and_launch(run_id, {rs.QUEUED})
            return await self.get(run_id)
        if run.status in rs.ACTIVE:
            if run_id in self._tasks:
                raise Conflict(f"run {run_id} is running")
            if not self.worker:
                return run  # a worker process takes it over when its lease expires
            claimed = await self._claim_and_launch(run_id, {rs.QUEUED, rs.RUNNING})
            if claimed is None:
                raise Conflict(f"run {run_id} is running")
            return claimed
        raise Conflict(f"run {run_id} is {run.status}; only interrupted runs and runs "
                       "waiting for input can be resumed")

    async def list(self, user: UserContext | None, *, status: str | None = None,
                   endpoint: str | None = None, limit: int = 50,
                   before: tuple[float, str] | None = None) -> list[RunRecord]:
        return await self.store.list_runs(
            principal=user.principal_key if user is not None else None, status=status,
            endpoint=endpoint, limit=limit, before=before)

    # following

    async def follow(self, run_id: str, after: int = 0, *,
                     until: frozenset[str] = frozenset({ev.DONE}),
                     subscription: Subscription | None = None,
                     ) -> AsyncIterator[list[ev.RunEvent]]:
        """Persisted events after ``after``, then live ones, until an event of type ``until``.

        ``subscription``: made (``hub.subscribe``) before any event after ``after`` could be
        published (e.g. right after submitting the run): the store is not read first."""
        sub = subscription or self.hub.subscribe(run_id)
        caught_up = subscription is not None
        try:
            last = after
            while True:
                page = [] if caught_up else await self.store.read_events(run_id, last, READ_PAGE)
                if page:
                    stop = _cut(page, until)
                    yield stop[0]
                    if stop[1]:
                        return
                    last = page[-1].seq
                    if len(page) == READ_PAGE:
                        continue
                elif caught_up:
                    caught_up = False
                else:
                    run = await self.store.get_run(run_id)
                    if run is None or (run.status in rs.TERMINAL and run.last_seq <= last):
                        return  # nothing will follow (e.g. a reconnect after ``done``)
                # caught up with the store: live batches from here
                while True:
                    if not await sub.wait(self.poll_interval):
                        break  # nothing live: look at the store (the run may run elsewhere)
                    if sub.lagged:
                        sub.lagged = False
                        sub.drain()
                        break
                    live = [e for e in sub.drain() if e.seq > last]
                    if not live:
                        continue
                    if live[0].seq != last + 1:
                        break  # a gap: fill it from the store
                    stop = _cut(live, until)
                    yield stop[0]
                    if stop[1]:
                        return
                    last = live[-1].seq
        finally:
            self.hub.unsubscribe(sub)

    async def wait_settled(self, run_id: str) -> RunRecord:
        """Wait until the run is finished or waiting for input."""
        sub = self.hub.subscribe(run_id)
        try:
            while True:
                run = await self.get(run_id)
                if run.status in rs.TERMINAL or run.status == rs.INPUT_REQUIRED:
                    return run
                # The run's state is read again only when it may have settled: a settling
                # event arrived, live events were dropped, or nothing came for a while.
                while await sub.wait(self.poll_interval) and not sub.lagged:
                    if any(e.type in _SETTLING for e in sub.drain()):
                        break
                sub.drain()
                sub.lagged = False
        finally:
            self.hub.unsubscribe(sub)


_SETTLING = frozenset({ev.DONE, ev.INPUT_REQUIRED, ev.STATUS, ev.ERROR})


def _cut(batch: list[ev.RunEvent], until: frozenset[str]) -> tuple[list[ev.RunEvent], bool]:
    for i, event in enumerate(batch):
        if event.type in until:
            return batch[: i + 1], True
    return batch, False


def _validate_answer(answer: Any, schema: dict[str, Any] | None) -> None:
    if schema:
        validate_against_schema(schema, answer, "the answer does not match the requested schema")


__all__ = ["RunEngine", "RunSink"]
