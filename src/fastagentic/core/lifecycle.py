"""What happens to calls and runs, told to whoever watches: hooks, traces, metrics and logs.

Two kinds of listeners, one set of points:

* **Hooks** (``app.add_hook("on_tool_call", fn)``, ``@app.hook("on_tool_call")``) are the
  user's: ``async`` or plain functions that get a :class:`HookEvent` and may observe it,
  modify it (change ``event.data`` in place, or return a dict that replaces it) or reject it
  (``raise Reject("reason")``: the caller gets a ``hook_rejected`` error on every transport).
* **Watchers** (:class:`Watcher`) are the telemetry's: plain methods, observe only, that
  return a token at a start and get it back at the matching end (a span, a start time).

The points are called by the pipeline (every transport), the run engine (every run, on any
process) and ``RunContext`` (every adapter), so hooks and telemetry behave identically for
REST, SSE, WebSocket, MCP, A2A and background runs.  With nothing registered a point costs
an attribute check.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigurationError, Forbidden

if TYPE_CHECKING:
    from .context import UserContext

logger = logging.getLogger("fastagentic.hooks")

#: The hook points, in the order a run meets them.
HOOKS = (
    "on_request",       # a call entered the pipeline: data {"arguments"}
    "on_llm_start",     # before a model call: data {"model", "messages"}
    "on_tool_call",     # before a tool runs: data {"tool", "arguments", "call_id"}
    "on_tool_result",   # a tool returned: data {"tool", "call_id", "result"}
    "on_llm_end",       # a model call returned: data {"model", "response", "usage"}
    "on_node_enter",    # an adapter node started: data {"node"}
    "on_node_exit",     # an adapter node ended: data {"node"}
    "on_checkpoint",    # before a checkpoint is written: data {"state", "metadata"}
    "on_response",      # a call's result or a run's output is ready: data {"result"}
    "on_error",         # a call or a run failed: data {"error": {"code", "message"}}
)


class Reject(Forbidden):
    """Raised by a hook (or a guardrail) to refuse what it was shown."""

    code = "hook_rejected"


@dataclass(slots=True)
class HookEvent:
    """What a hook is shown.  ``data`` is the point's payload (see :data:`HOOKS`)."""

    hook: str
    #: ``rest``, ``sse``, ``websocket``, ``mcp``, ``a2a``, ``stdio`` or ``run`` (inside a run).
    transport: str
    #: What was called: the tool, resource, prompt or agent endpoint.
    target: str
    user: UserContext | None
    run_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


Hook = Callable[[HookEvent], Any]


class Watcher:
    """Telemetry's view of the points (override what you need).  Methods must be cheap and
    must not raise; a ``*_started`` method's return value comes back to its ``*_ended``."""

    def call_started(self, call: Any) -> Any:
        """A pipeline invocation (``call.spec``, ``call.context``) starts."""

    def call_ended(self, token: Any, call: Any, error: BaseException | None) -> None:
        """...and ended (``error`` is None on success)."""

    def run_started(self, run: Any) -> Any:
        """An attempt of ``run`` (a ``RunRecord``) starts executing, in the run's own task."""

    def run_ended(self, token: Any, run: Any, status: str, error: dict[str, Any] | None
                  ) -> None:
        """...and settled with ``status`` (or stopped: ``status`` is the one it kept)."""

    def step_started(self, kind: str, name: str, run_id: str | None,
                     attributes: dict[str, Any]) -> Any:
        """A step inside a run: ``kind`` is ``llm``, ``tool`` or ``node``."""

    def step_ended(self, token: Any, attributes: dict[str, Any],
                   error: BaseException | None) -> None:
        """...ended; ``attributes`` adds what is known at the end (tokens, the result)."""

    def cost(self, run: Any, data: dict[str, Any]) -> None:
        """A new (not replayed) ``cost`` event of ``run``."""

    def trace_context(self) -> dict[str, str] | None:
        """The current trace context as W3C headers, stored with a run so that the process
        executing it continues the trace (None: nothing to carry)."""
        return None


class Lifecycle:
    """An App's hooks and watchers."""

    def __init__(self) -> None:
        self.hooks: dict[str, list[Hook]] = {}
        self.watchers: list[Watcher] = []
        #: True when anything is registered (the points' fast check).
        self.active = False

    def add_hook(self, name: str, fn: Hook) -> Hook:
        if name not in HOOKS:
            raise ConfigurationError(f"unknown hook {name!r}; the hooks are {', '.join(HOOKS)}")
        if not callable(fn):
            raise ConfigurationError(f"hook {name!r} must be callable, not {fn!r}")
        self.hooks.setdefault(name, []).append(fn)
        self.active = True
        return fn

    def add_watcher(self, watcher: Watcher) -> Watcher:
        self.watchers.append(watcher)
        self.active = True
        return watcher

    def has(self, name: str) -> bool:
        return name in self.hooks

    async def fire(self, name: str, transport: str, target: str, user: Any,
                   run_id: str | None, data: dict[str, Any]) -> dict[str, Any]:
        """Run the hooks of ``name`` in order; returns the (possibly modified) data.  A hook
        that raises :class:`Reject` stops the others and rejects the point; any other error
        is a bug in the hook: logged, and the point goes on."""
        hooks = self.hooks.get(name)
        if not hooks:
            return data
        event = HookEvent(name, transport, target, user, run_id, data)
        for hook in hooks:
            try:
                result = hook(event)
                if inspect.isawaitable(result):
                    result = await result
            except Reject:
                raise
            except Exception:
                logger.exception("hook %s (%s) failed; ignored", name,
                                 getattr(hook, "__qualname__", hook))
                continue
            if isinstance(result, dict):
                event.data = result
        return event.data

    async def stage(self, call: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        """The pipeline's outermost stage: every call on every transport (and a run's tool
        calls, ``transport="run"``).  ``on_request``/``on_response`` are for calls from
        clients; a run's output goes to ``on_response`` when the run ends (engine)."""
        tokens = self.call_started(call) if self.watchers else None
        error: BaseException | None = None
        try:
            if not self.hooks:
                return await call_next(call)
            return await self._hooked(call, call_next)
        except BaseException as exc:
            error = exc
            raise
        finally:
            if tokens is not None:
                self.call_ended(tokens, call, error)

    async def _hooked(self, call: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        spec, context = call.spec, call.context
        transport, kind = context.transport, spec.kind
        from_client = transport != "run"
        args = (transport, spec.name, context.user, context.run_id)
        try:
            if from_client and "on_request" in self.hooks:
                data = await self.fire("on_request", *args, {"arguments": _dump(call)})
                _revalidate(call, data.get("arguments"))
            if kind == "tool" and "on_tool_call" in self.hooks:
                data = await self.fire("on_tool_call", *args, {
                    "tool": spec.name, "arguments": _dump(call),
                    "call_id": call.options.get("call_id")})
                _revalidate(call, data.get("arguments"))
            result = await call_next(call)
            if kind == "tool" and "on_tool_result" in self.hooks:
                result = (await self.fire("on_tool_result", *args, {
                    "tool": spec.name, "call_id": call.options.get("call_id"),
                    "result": result})).get("result")
            if from_client and kind != "agent" and "on_response" in self.hooks:
                result = (await self.fire("on_response", *args, {"result": result})
                          ).get("result")
            return result
        except Exception as exc:
            if "on_error" in self.hooks and not isinstance(exc, Reject):
                error = {"code": getattr(exc, "code", "internal_error"),
                         "message": getattr(exc, "message", None) or str(exc)}
                with contextlib.suppress(Exception):  # told, not asked
                    await self.fire("on_error", *args, {"error": error})
            raise

    # watcher fan-out (each returns the tokens to hand back)

    def call_started(self, call: Any) -> list[Any]:
        return [w.call_started(call) for w in self.watchers]

    def call_ended(self, tokens: list[Any], call: Any, error: BaseException | None) -> None:
        for watcher, token in zip(self.watchers, tokens, strict=False):
            _quiet(watcher.call_ended, token, call, error)

    def run_started(self, run: Any) -> list[Any]:
        return [w.run_started(run) for w in self.watchers]

    def run_ended(self, tokens: list[Any], run: Any, status: str,
                  error: dict[str, Any] | None) -> None:
        for watcher, token in zip(self.watchers, tokens, strict=False):
            _quiet(watcher.run_ended, token, run, status, error)

    def step_started(self, kind: str, name: str, run_id: str | None,
                     attributes: dict[str, Any]) -> list[Any]:
        return [w.step_started(kind, name, run_id, attributes) for w in self.watchers]

    def step_ended(self, tokens: list[Any], attributes: dict[str, Any],
                   error: BaseException | None) -> None:
        for watcher, token in zip(self.watchers, tokens, strict=False):
            _quiet(watcher.step_ended, token, attributes, error)

    def cost(self, run: Any, data: dict[str, Any]) -> None:
        for watcher in self.watchers:
            _quiet(watcher.cost, run, data)

    def trace_context(self) -> dict[str, str] | None:
        for watcher in self.watchers:
            context = watcher.trace_context()
            if context:
                return context
        return None


#: The store operations telemetry sees (``step_started("store", name, ...)``).
STORE_OPERATIONS = (
    "create_run", "get_run", "update_run", "list_runs", "claim_run", "claim_next",
    "renew_lease", "append_events", "append_and_update", "read_events", "put_checkpoint",
    "latest_checkpoint", "list_checkpoints", "ledger_get", "ledger_put", "finished_runs",
    "prune_run", "kv_put", "kv_get", "kv_touch", "kv_delete", "kv_count", "kv_list",
    "kv_put_new", "kv_add", "kv_delete_prefix",
)


def watch_store(store: Any, lifecycle: Lifecycle) -> None:
    """Tell ``lifecycle``'s watchers about each operation of ``store`` (its methods are
    wrapped on the instance, so its type and everything else stay as they are)."""
    if getattr(store, "_fastagentic_watched", None) is lifecycle:
        return
    for name in STORE_OPERATIONS:
        method = getattr(type(store), name, None)
        if method is not None:
            setattr(store, name, _watched(lifecycle, name, method.__get__(store)))
    store._fastagentic_watched = lifecycle


def _watched(lifecycle: Lifecycle, name: str, method: Callable[..., Awaitable[Any]]
             ) -> Callable[..., Awaitable[Any]]:
    attributes = {"operation": name}

    async def operation(*args: Any, **kwargs: Any) -> Any:
        tokens = lifecycle.step_started("store", name, None, attributes)
        error: BaseException | None = None
        try:
            return await method(*args, **kwargs)
        except BaseException as exc:
            error = exc
            raise
        finally:
            lifecycle.step_ended(tokens, attributes, error)

    return operation


def _dump(call: Any) -> dict[str, Any]:
    return call.arguments.model_dump(mode="json")


def _revalidate(call: Any, arguments: Any) -> None:
    """A hook changed the arguments: validated again, as the transport's were."""
    if isinstance(arguments, dict) and arguments != _dump(call):
        call.arguments = call.spec.signature.validate_python(arguments)


def _quiet(method: Callable[..., Any], *args: Any) -> None:
    try:
        method(*args)
    except Exception:
        logger.exception("a telemetry watcher failed; ignored")


__all__ = ["HOOKS", "STORE_OPERATIONS", "Hook", "HookEvent", "Lifecycle", "Reject",
           "Watcher", "watch_store"]
