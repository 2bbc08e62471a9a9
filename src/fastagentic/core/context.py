"""Who is calling and what a run's user code may do.

Parameters annotated with a subclass of :class:`Injected` (``RunContext``, ``CallContext``,
``UserContext``) are injected by the framework and left out of the public schemas.
"""

from __future__ import annotations

import contextvars
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, TypeAdapter
from pydantic_core import to_json, to_jsonable_python

from ..exceptions import ClientInputUnavailable, InputRequired
from . import events as ev

if TYPE_CHECKING:
    from .engine import RunSink
    from .lifecycle import Lifecycle


class Injected:
    """Marker base: parameters of these types are provided by fastagentic, not the caller."""


@dataclass(frozen=True, slots=True)
class UserContext(Injected):
    """The authenticated caller (``anonymous`` until authentication is configured)."""

    user: str = "anonymous"
    tenant: str | None = None
    scopes: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    claims: Mapping[str, Any] = field(default_factory=dict)

    @property
    def principal_key(self) -> str:
        """Identity used to scope runs and idempotency keys."""
        return f"{self.tenant or ''}/{self.user}"


ANONYMOUS = UserContext()

_current_user: contextvars.ContextVar[UserContext] = contextvars.ContextVar(
    "fastagentic_current_user", default=ANONYMOUS)


def current_user() -> UserContext:
    """The caller of the request, tool call or run being served: its user, tenant, scopes,
    roles and claims (``ANONYMOUS`` without authentication).

    Works in FastAPI routes (also as ``Depends(current_user)``), tools, resources, prompts and
    agent code, runs executing in the background included (they act as the user who started
    them, with the scopes and roles that user had).
    """
    return _current_user.get()


#: ``bind_user(user)`` makes ``user`` what :func:`current_user` returns in this context (and in
#: the tasks it starts from now on) and returns a token; ``unbind_user(token)`` restores the
#: previous one.  (The context variable's own methods: they are on every request's path.)
bind_user: Callable[[UserContext], contextvars.Token[UserContext]] = _current_user.set
unbind_user: Callable[[contextvars.Token[UserContext]], None] = _current_user.reset


_current_run_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "fastagentic_current_run_id", default=None)


def current_run_id() -> str | None:
    """The id of the run whose code is executing (None outside runs): logs carry it."""
    return _current_run_id.get()


def bind_run(run_id: str | None) -> contextvars.Token[str | None]:
    """Make ``run_id`` what :func:`current_run_id` returns in this context (and in the tasks
    it starts from now on); ``unbind_run(token)`` restores the previous one."""
    return _current_run_id.set(run_id)


def unbind_run(token: contextvars.Token[str | None]) -> None:
    _current_run_id.reset(token)


@dataclass(slots=True)
class CallContext(Injected):
    """One invocation through the pipeline (a tool call, a resource read, a run start)."""

    user: UserContext
    transport: str
    kind: str = ""
    name: str = ""
    run_id: str | None = None
    #: The request's headers (read-only; empty for calls made inside a run).
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Set by transports that can tell the caller things while the call runs (MCP).
    notify: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None
    #: What the client declared it can do (MCP client capabilities; empty elsewhere).
    client_capabilities: Mapping[str, Any] = field(default_factory=dict)
    #: Asks the client (MCP elicitation, sampling, roots): ``{key: (method, params)}`` in,
    #: ``{key: result}`` out.  None where the transport cannot ask.
    ask: ClientAsk | None = None
    _occurrences: dict[str, int] = field(default_factory=dict)

    async def ask_client(self, requests: Mapping[str, tuple[str, dict[str, Any]]]
                         ) -> dict[str, Any]:
        """Make several client requests at once (one round trip where the protocol allows)."""
        if self.ask is None:
            raise ClientInputUnavailable(
                f"{self.name or 'this call'} needs input from its client, and "
                f"{self.transport or 'this transport'} cannot ask for it: call it over MCP")
        return await self.ask(dict(requests))

    def _key(self, prefix: str, key: str | None) -> str:
        if key is not None:
            return key
        n = self._occurrences.get(prefix, 0) + 1
        self._occurrences[prefix] = n
        return f"{prefix}_{n}"

    async def elicit(self, message: str, schema: type | dict[str, Any] | None = None, *,
                     key: str | None = None) -> dict[str, Any]:
        """Ask the user (MCP form elicitation): ``{"action": "accept"|"decline"|"cancel",
        "content": {...}}``.  ``schema`` is a flat object schema or a Pydantic model."""
        requested = TypeAdapter(schema).json_schema() if isinstance(schema, type) else schema
        params = {"mode": "form", "message": message,
                  "requestedSchema": requested or {"type": "object", "properties": {}}}
        key = self._key("elicitation", key)
        return (await self.ask_client({key: ("elicitation/create", params)}))[key]

    async def elicit_url(self, message: str, url: str, *, key: str | None = None
                         ) -> dict[str, Any]:
        """Send the user to ``url`` (MCP URL-mode elicitation: sign-ins, payments, anything a
        form must not carry); ``{"action": "accept"}`` means they agreed to go."""
        key = self._key("elicitation", key)
        params = {"mode": "url", "message": message, "url": url}
        return (await self.ask_client({key: ("elicitation/create", params)}))[key]

    async def sample(self, messages: list[dict[str, Any]] | str, *, max_tokens: int = 512,
                     key: str | None = None, **options: Any) -> dict[str, Any]:
        """Ask the client's model (MCP ``sampling/createMessage``); ``options`` are the
        request's other fields (``systemPrompt``, ``tools``, ``temperature``, ...)."""
        if isinstance(messages, str):
            messages = [{"role": "user", "content": {"type": "text", "text": messages}}]
        key = self._key("sampling", key)
        params = {"messages": messages, "maxTokens": max_tokens, **options}
        return (await self.ask_client({key: ("sampling/createMessage", params)}))[key]

    async def list_roots(self, *, key: str | None = None) -> dict[str, Any]:
        """The client's roots (MCP ``roots/list``)."""
        key = self._key("roots", key)
        return (await self.ask_client({key: ("roots/list", {})}))[key]

    async def log(self, level: str, data: Any, logger: str | None = None) -> None:
        """A log message for the caller (MCP ``notifications/message``; a no-op elsewhere)."""
        if self.notify is not None:
            await self.notify("log", {"level": level, "data": data, "logger": logger})

    async def report_progress(self, progress: float, total: float | None = None,
                              message: str | None = None) -> None:
        """Progress for the caller (MCP ``notifications/progress``; a no-op elsewhere)."""
        if self.notify is not None:
            await self.notify("progress", {"progress": progress, "total": total,
                                           "message": message})


ClientAsk = Callable[[dict[str, tuple[str, dict[str, Any]]]], Awaitable[dict[str, Any]]]


def to_jsonable(value: Any) -> Any:
    """A value as JSON data (models, dataclasses, dates ... converted)."""
    return to_jsonable_python(value, fallback=repr)


def _stable_key(*parts: Any) -> str:
    return hashlib.sha256(to_json(parts, fallback=repr)).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class A2AInfo:
    """The A2A request behind a run (``ctx.a2a``): the task, its context and the latest user
    message (A2A 1.0 JSON: ``{"messageId", "role", "parts", "metadata", ...}``)."""

    task_id: str
    context_id: str
    skill: str
    message: dict[str, Any]
    metadata: dict[str, Any]

    @property
    def message_id(self) -> str:
        return str(self.message.get("messageId", ""))

    @property
    def text(self) -> str:
        """The text parts of the latest message, joined by newlines."""
        return "\n".join(p["text"] for p in self.message.get("parts", ()) if "text" in p)


class RunContext(Injected):
    """What a run's code can do: emit events, checkpoint, ask for input, call tools.

    On resume the same code runs again; ``state`` holds the last checkpoint's state, events the
    previous attempt already recorded are not recorded twice, ``ask`` returns the answer that
    was given, and ``call_tool`` answers completed calls from the tool ledger.
    """

    def __init__(
        self,
        *,
        run_id: str,
        endpoint: str,
        user: UserContext,
        attempt: int,
        state: Any,
        answers: dict[str, Any],
        sink: RunSink,
        labels: dict[str, Any] | None = None,
    ) -> None:
        #: What the run was started with besides its input (the protocol's task settings, the
        #: trace context, the delegating parent).  Read-only.
        self.labels: Mapping[str, Any] = labels or {}
        self.run_id = run_id
        self.endpoint = endpoint
        self.user = user
        self.attempt = attempt
        self.state = state
        self._answers = answers
        self._sink = sink
        self._occurrences: dict[str, int] = {}

    def _occurrence(self, key: str) -> int:
        n = self._occurrences.get(key, 0) + 1
        self._occurrences[key] = n
        return n

    @property
    def resumed(self) -> bool:
        """True when this execution continues an earlier attempt or answers an input request."""
        return self.attempt > 1 or bool(self._answers)

    @property
    def a2a(self) -> A2AInfo | None:
        """The A2A task this run serves, or None when it was not started over A2A."""
        info = self.labels.get("a2a")
        if not isinstance(info, dict):
            return None
        return A2AInfo(task_id=self.run_id, context_id=info.get("context_id", ""),
                       skill=info.get("skill", ""), message=info.get("message") or {},
                       metadata=info.get("metadata") or {})

    @property
    def store(self) -> Any:
        """The store this run lives in (framework adapters keep their own state there): its
        tenant's own store when tenants are mapped to stores."""
        store = self._sink.engine.store
        for_tenant = getattr(store, "for_tenant", None)
        return for_tenant(self.user.tenant) if for_tenant is not None else store

    @property
    def streamed_text(self) -> str:
        """The text this run has streamed so far (across attempts, without superseded parts)."""
        return "".join(self._sink.text)

    async def emit(self, event: ev.Event) -> None:
        await self._sink.emit(event)

    @property
    def observed(self) -> bool:
        """Whether hooks or telemetry watch this run (adapters then report model calls)."""
        return self._sink.engine.lifecycle.active

    @property
    def guards_cost(self) -> bool:
        """Whether budgets apply, so model steps should ``reserve_cost`` first."""
        governance = self._sink.engine.governance
        return governance is not None and governance.guards_cost

    async def reserve_cost(self, model: Any, *, input_tokens: int = 0,
                           output_tokens: int | None = None,
                           model_name: str | None = None, can_downgrade: bool = True) -> Any:
        """Call before each model step: reserves its estimated cost against the budgets that
        apply to this run and returns the model to use (``model``, or the cheaper one a
        ``downgrade`` budget names).  Raises ``BudgetExceeded`` (``reject``) or pauses the run
        (``pause``) when a budget cannot cover the step.  Then emit the step's ``cost`` event:
        it replaces the reservation.  ``model_name`` prices ``model`` when it is not a
        string; ``output_tokens`` defaults to the budgets' ``estimate_output_tokens``.
        ``can_downgrade=False``: the caller cannot switch models, so a ``downgrade`` budget
        rejects instead."""
        governance = self._sink.engine.governance
        if governance is None:
            return model
        name = model_name or (model if isinstance(model, str) else None)
        return await governance.reserve(self._sink, model, name, input_tokens, output_tokens,
                                        self._answers, can_downgrade)

    async def token(self, content: str) -> None:
        await self._sink.emit(ev.token(content))

    async def checkpoint(self, state: Any, metadata: dict[str, Any] | None = None) -> str:
        """Persist ``state``; a resumed run starts from the latest one (``ctx.state``)."""
        self.state = state
        return await self._sink.checkpoint(state, metadata or {})

    async def ask(
        self,
        prompt: str,
        *,
        schema: type | dict[str, Any] | None = None,
        key: str | None = None,
        details: Any = None,
    ) -> Any:
        """Pause the run until someone answers; returns the (validated) answer on resume."""
        if key is None:
            key = f"ask-{_stable_key(prompt)}-{self._occurrence('ask:' + prompt)}"
        if key in self._answers:
            answer = self._answers[key]
            if isinstance(schema, type):
                return TypeAdapter(schema).validate_python(answer)
            return answer
        json_schema = TypeAdapter(schema).json_schema() if isinstance(schema, type) else schema
        raise InputRequired(prompt, key=key, schema=json_schema, details=details)

    async def approve(self, prompt: str, *, details: Any = None, key: str | None = None) -> bool:
        """Ask for an approval: the answer is ``{"approved": bool, "comment": str | None}``."""
        answer = await self.ask(prompt, schema=Approval, key=key, details=details)
        return answer.approved

    async def call_tool(
        self, name: str, arguments: dict[str, Any] | None = None, *, call_id: str | None = None
    ) -> Any:
        """Call a registered tool through the pipeline, exactly once per ``call_id``.

        Emits ``tool_call``/``tool_result``.  A call that completed in an earlier attempt is
        answered from the tool ledger and its function is not called again.
        """
        arguments = arguments or {}
        if call_id is None:
            base = f"{name}-{_stable_key(name, arguments)}"
            call_id = f"{base}-{self._occurrence(base)}"
        return await self._sink.call_tool(name, arguments, call_id)

    async def once(self, call_id: str, name: str, call: Callable[[], Awaitable[Any]],
                   arguments: Any = None) -> Any:
        """Run ``call`` at most once per ``call_id`` in this run: its JSON result is recorded in
        the tool ledger, and a resumed run gets the recorded result without calling it again.

        For adapters that execute a framework's tool calls (``call_id`` is the framework's
        tool call id, ``arguments`` what the framework passes, shown to the ``on_tool_call``
        hooks); an exception is not recorded, so a failed call runs again on resume.
        """
        store = self.store
        entry = await store.ledger_get(self.run_id, call_id)
        if entry is not None and entry.error is None:
            return entry.output
        lifecycle = self._sink.engine.lifecycle
        if lifecycle.active:
            result = await self._observed_tool(lifecycle, call_id, name, call, arguments)
        else:
            result = await call()
        from .runs import LedgerEntry

        entry = await store.ledger_put(LedgerEntry(
            self.run_id, call_id, name, output=to_jsonable(result)))
        return entry.output

    async def _observed_tool(self, lifecycle: Lifecycle, call_id: str, name: str,
                             call: Callable[[], Awaitable[Any]], arguments: Any) -> Any:
        """A framework's tool call, shown to the tool hooks and telemetry.  A hook may reject
        it or change its result; its arguments are the framework's to pass (shown only)."""
        attributes = {"tool": name, "call_id": call_id}
        tokens = lifecycle.step_started("tool", name, self.run_id, attributes) \
            if lifecycle.watchers else None
        error: BaseException | None = None
        hook_args = ("run", self.endpoint, self.user, self.run_id)
        try:
            if lifecycle.has("on_tool_call"):
                await lifecycle.fire("on_tool_call", *hook_args, {
                    "tool": name, "arguments": to_jsonable(arguments), "call_id": call_id})
            result = await call()
            if lifecycle.has("on_tool_result"):
                result = (await lifecycle.fire("on_tool_result", *hook_args, {
                    "tool": name, "call_id": call_id, "result": result})).get("result")
            return result
        except BaseException as exc:
            error = exc
            raise
        finally:
            if tokens is not None:
                lifecycle.step_ended(tokens, attributes, error)

    async def llm_start(self, model: str | None, messages: Any = None, *,
                        system: str | None = None) -> LlmStep:
        """Call before each model call (framework adapters do): the ``on_llm_start`` hooks
        may change the messages (``step.hooked``: use ``step.messages``) or reject the call,
        and telemetry starts the step.  ``messages``: the messages as JSON data, or a function
        returning them (called only when hooks will see them).  End the step with
        ``await step.end(...)``."""
        lifecycle = self._sink.engine.lifecycle
        step = LlmStep(self, lifecycle, model, system)
        if not lifecycle.active:
            return step
        if lifecycle.watchers:
            step._tokens = lifecycle.step_started("llm", model or "model", self.run_id,
                                                  step.attributes)
        if lifecycle.has("on_llm_start"):
            try:
                data = await lifecycle.fire(
                    "on_llm_start", "run", self.endpoint, self.user, self.run_id,
                    {"model": model,
                     "messages": messages() if callable(messages) else messages})
            except BaseException as exc:
                step._close(exc)
                raise
            step.messages = data.get("messages")
            step.hooked = True
        return step

    async def delegate(self, agent: str, message: Any, *, call_id: str | None = None,
                       **options: Any) -> Any:
        """Hand ``message`` (text, a dict of arguments, or an A2A message) to another agent and
        wait for its answer: an agent endpoint of this app (run in process) or an external A2A
        agent registered on ``app.agents``.  Its events appear in this run as nested events.

        Exactly once per ``call_id``: a resumed run gets the recorded result, and the other
        agent is not asked again.  Returns a ``fastagentic.a2a.DelegationResult``.
        """
        engine = self._sink.engine
        delegator = engine.delegator() if engine.delegator is not None else None
        if delegator is None:
            from ..exceptions import ConfigurationError

            raise ConfigurationError("delegation needs an agent registry (app.agents)")
        if call_id is None:
            base = f"delegate-{agent}-{_stable_key(agent, message, options)}"
            call_id = f"{base}-{self._occurrence(base)}"
        entry = await engine.store.ledger_get(self.run_id, call_id)
        if entry is not None:
            result = delegator.result_from_dict(entry.output)
            self._sink.skip_recorded(lambda data: (data.get("delegate") or {}).get("task_id")
                                     == result.task_id)
            return result
        # Resumed before the answer was recorded: the same key finds the same delegated task.
        options.setdefault("idempotency_key", f"{self.run_id}:{call_id}")
        result = await delegator.delegate(self, agent, message, **options)
        from .runs import LedgerEntry

        entry = await engine.store.ledger_put(LedgerEntry(
            self.run_id, call_id, f"delegate:{agent}", output=result.to_dict()))
        return delegator.result_from_dict(entry.output)

    async def add_cost(
        self,
        tokens: dict[str, int],
        amount: dict[str, float] | None = None,
        model: str | None = None,
    ) -> None:
        await self._sink.emit(ev.cost(tokens, amount, model))


class LlmStep:
    """One model call of a run (:meth:`RunContext.llm_start`)."""

    def __init__(self, ctx: RunContext, lifecycle: Lifecycle, model: str | None,
                 system: str | None) -> None:
        self._ctx = ctx
        self._lifecycle = lifecycle
        self._tokens: Any = None
        self._ended = False
        self.model = model
        #: What ``on_llm_start`` hooks made of the messages (``hooked``: they were shown to
        #: hooks, which may have changed them in place); send these instead.
        self.messages: Any = None
        self.hooked = False
        self.attributes: dict[str, Any] = {"gen_ai.operation.name": "chat",
                                           "gen_ai.request.model": model}
        if system:
            self.attributes["gen_ai.system"] = system

    async def end(self, *, response: Any = None, model: str | None = None,
                  input_tokens: int | None = None, output_tokens: int | None = None,
                  error: BaseException | None = None) -> Any:
        """The call returned (or failed with ``error``): ``on_llm_end`` hooks see it (they
        may change ``response``: the returned value is what to use) and telemetry ends the
        step with the model that answered and the token counts."""
        if self._ended:
            return response
        self._ended = True
        lifecycle = self._lifecycle
        if model:
            self.attributes["gen_ai.response.model"] = model
        if input_tokens is not None:
            self.attributes["gen_ai.usage.input_tokens"] = input_tokens
        if output_tokens is not None:
            self.attributes["gen_ai.usage.output_tokens"] = output_tokens
        try:
            if error is None and lifecycle.has("on_llm_end"):
                ctx = self._ctx
                data = await lifecycle.fire(
                    "on_llm_end", "run", ctx.endpoint, ctx.user, ctx.run_id,
                    {"model": model or self.model, "response": response,
                     "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}})
                response = data.get("response", response)
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._close(error)
        return response

    def _close(self, error: BaseException | None) -> None:
        self._ended = True
        if self._tokens is not None:
            tokens, self._tokens = self._tokens, None
            self._lifecycle.step_ended(tokens, self.attributes, error)


class Approval(BaseModel):
    """The answer to :meth:`RunContext.approve`."""

    approved: bool
    comment: str | None = None
