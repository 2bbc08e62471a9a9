"""The MCP dispatcher: method names and params dicts in, result dicts out.

Transports (Streamable HTTP, stdio) parse their wire format into ``jsonrpc.Message`` and call
``McpServer.dispatch``; every tool, resource and prompt goes through the App's pipeline and
every agent tool is a run of the run engine, exactly as over REST.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic_core import from_json

from ...core import events as ev
from ...core.context import CallContext, UserContext
from ...core.pipeline import Invocation
from ...core.runs import INPUT_REQUIRED, TERMINAL
from ...core.specs import AgentSpec, ResourceSpec, Spec
from ...exceptions import FastAgenticError, InvalidInput, NeedsClientInput, ToolError
from ...policy.authz import visible
from .. import jsonrpc
from ..jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, JsonRpcError, Message
from ..rest import prompt_messages
from . import asking, mapping
from .asking import StateSeal
from .sessions import Sessions
from .tasks import EXTENSION as TASKS_EXTENSION
from .tasks import Tasks
from .tasks import support as task_support

if TYPE_CHECKING:
    from ...app import App

logger = logging.getLogger("fastagentic.mcp")

LATEST = "2025-11-25"
#: Methods that may answer "input required" in 2026-07-28 (multi round-trip).
ROUND_TRIP_METHODS = frozenset({"tools/call", "prompts/get", "resources/read"})
_DECLINED = object()
SUPPORTED = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
RESOURCE_NOT_FOUND = -32002
LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
PAGE_SIZE = 100

Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(slots=True)
class McpCall:
    """One incoming message and where its notifications can go."""

    user: UserContext
    transport: str
    session: dict[str, Any] | None = None
    protocol_version: str = LATEST
    #: Sends a notification on this request's stream (None: the transport cannot).
    send: Send | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def session_id(self) -> str | None:
        return self.session.get("id") if self.session else None

    @property
    def client_capabilities(self) -> dict[str, Any]:
        """Per request in 2026-07-28; declared at ``initialize`` in the session revisions."""
        if "client_capabilities" in self.extra:
            return self.extra["client_capabilities"]
        return ((self.session or {}).get("client") or {}).get("capabilities") or {}


class McpServer:
    def __init__(self, app: App) -> None:
        self.app = app
        self._methods: dict[str, Callable[[dict[str, Any], McpCall], Awaitable[Any]]] = {
            "initialize": self.initialize,
            "ping": self.ping,
            "tools/list": self.tools_list,
            "tools/call": self.tools_call,
            "resources/list": self.resources_list,
            "resources/templates/list": self.resource_templates_list,
            "resources/read": self.resources_read,
            "prompts/list": self.prompts_list,
            "prompts/get": self.prompts_get,
            "completion/complete": self.complete,
            "logging/setLevel": self.set_level,
            "resources/subscribe": self.subscribe,
            "resources/unsubscribe": self.unsubscribe,
            "server/discover": self.discover,
        }
        self.tasks = Tasks(self)
        self._methods.update({
            "tasks/get": self.tasks.get, "tasks/result": self.tasks.result,
            "tasks/list": self.tasks.list, "tasks/cancel": self.tasks.cancel,
            "tasks/update": self.tasks.update,
        })
        self.sessions = Sessions(lambda: app.store, idle_ttl=app.settings.mcp_session_ttl,
                                 limit=app.settings.mcp_max_sessions)
        #: Server-to-client channels of this process (HTTP GET streams, stdio), by session id.
        self._channels: dict[str, set[Send]] = {}
        #: Sessions that live with a connection, not in the store (stdio pipes, listen streams).
        self.local_sessions: dict[str, dict[str, Any]] = {}
        #: Our requests to clients awaiting their answer, by (session id, request id).
        self.pending_requests: dict[tuple[str | None, Any], asyncio.Future[Any]] = {}
        self.seal = StateSeal(app.settings.mcp_state_secret)
        #: In-flight requests of this process, by (session id, request id), for cancellation.
        self._inflight: dict[tuple[str | None, str | int], asyncio.Task[Any]] = {}

    # server-to-client channels

    def attach(self, session_id: str, send: Send) -> None:
        self._channels.setdefault(session_id, set()).add(send)

    def detach(self, session_id: str, send: Send) -> None:
        channels = self._channels.get(session_id)
        if channels is not None:
            channels.discard(send)
            if not channels:
                del self._channels[session_id]

    async def notify_session(self, session_id: str, message: dict[str, Any]) -> None:
        """Send a notification on a session's server-to-client channels in this process."""
        for send in list(self._channels.get(session_id, ())):
            await _quietly(send, message)

    async def broadcast(self, message: dict[str, Any]) -> None:
        """Send a notification to every session with a channel in this process."""
        for channels in list(self._channels.values()):
            for send in list(channels):
                await _quietly(send, message)

    async def list_changed(self, kind: str) -> None:
        method = {"tool": "tools", "agent": "tools", "resource": "resources",
                  "prompt": "prompts"}[kind]
        await self.broadcast(jsonrpc.notification(f"notifications/{method}/list_changed"))

    async def resource_updated(self, uri: str) -> int:
        """Tell every session subscribed to ``uri`` (with a channel here); returns how many."""
        told = 0
        for session_id, channels in list(self._channels.items()):
            session = self.local_sessions.get(session_id) or await self.sessions.get(session_id)
            if session is None or uri not in session.get("subscriptions", []):
                continue
            message = jsonrpc.notification("notifications/resources/updated", {"uri": uri})
            for send in list(channels):
                await _quietly(send, message)
            told += 1
        return told

    # dispatch

    async def dispatch(self, message: Message, call: McpCall, *, own_task: bool = False
                       ) -> dict[str, Any] | None:
        """The JSON-RPC response for a request; None for notifications, responses and
        requests the client cancelled.

        ``own_task``: the caller runs this in a task of its own, which ``notifications/cancelled``
        may then cancel directly (otherwise a tool call gets an inner task for that).
        """
        if message.is_notification:
            await self._notification(message, call)
            return None
        if message.is_response:  # a client's answer to one of our requests
            future = self.pending_requests.get((call.session_id, message.id))
            if future is not None and not future.done():
                future.set_result(asking.response_for(message))
            return None
        handler = self._methods.get(message.method or "")
        if handler is None:
            return jsonrpc.error(message.id, JsonRpcError(
                METHOD_NOT_FOUND, f"Method not found: {message.method}"))
        try:
            if self._round_trip(call) and message.method in ROUND_TRIP_METHODS:
                self._open_state(message, call)
            if message.method != "tools/call":
                return jsonrpc.result(message.id, await handler(message.params, call))
            key = (call.session_id, message.id)  # type: ignore[arg-type]
            if own_task:
                current = asyncio.current_task()
                assert current is not None
                self._inflight[key] = current
                try:
                    return jsonrpc.result(message.id, await handler(message.params, call))
                finally:
                    self._inflight.pop(key, None)
            # A tool call runs in a task of its own: notifications/cancelled cancels just it.
            work = asyncio.ensure_future(handler(message.params, call))
            self._inflight[key] = work
            try:
                return jsonrpc.result(message.id, await asyncio.shield(work))
            except asyncio.CancelledError:
                if not work.cancelled():  # we were cancelled (shutdown, disconnect)
                    work.cancel()
                    raise
                return None  # cancelled by the client: MCP sends no response
            finally:
                self._inflight.pop(key, None)
        except NeedsClientInput as need:
            if not self._round_trip(call):
                return jsonrpc.error(message.id, ToolError("the client cannot be asked here"))
            data = {"answers": call.extra.get("answers", {}), **call.extra.get("seal", {})}
            state = self.seal.seal(call, message.method or "", message.params, data)
            return jsonrpc.result(message.id, asking.input_required(need.requests, state))
        except Exception as exc:
            if not isinstance(exc, FastAgenticError | JsonRpcError):
                logger.exception("MCP %s failed", message.method)
            return jsonrpc.error(message.id, exc)

    @staticmethod
    def _round_trip(call: McpCall) -> bool:
        return bool((call.session or {}).get("modern"))

    def _open_state(self, message: Message, call: McpCall) -> None:
        """2026-07-28 retries: the answers so far (sealed state) plus the new ones."""
        data: dict[str, Any] = {}
        if message.params.get("requestState") is not None:
            data = self.seal.open(call, message.method or "", message.params,
                                  message.params["requestState"])
        answers = dict(data.get("answers") or {})
        responses = message.params.get("inputResponses")
        if isinstance(responses, dict):
            answers.update(responses)
        call.extra["answers"] = answers
        call.extra["state"] = data

    def asker(self, call: McpCall) -> Any:
        """How a call in this request asks its client (None: it cannot)."""
        if self._round_trip(call):
            return asking.RoundTripAsk(call, call.extra.get("answers", {}))
        if call.send is not None:
            return asking.LiveAsk(self, call, self.app.settings.mcp_client_timeout)
        return None

    async def _notification(self, message: Message, call: McpCall) -> None:
        if message.method == "notifications/cancelled":
            request_id = message.params.get("requestId")
            task = self._inflight.get((call.session_id, request_id))  # type: ignore[arg-type]
            if task is not None:
                task.cancel()
        # notifications/initialized and unknown notifications need no answer

    # lifecycle

    def negotiate(self, requested: Any) -> str:
        return requested if requested in SUPPORTED else LATEST

    def capabilities(self) -> dict[str, Any]:
        return {
            "tools": {"listChanged": True},
            "resources": {"subscribe": True, "listChanged": True},
            "prompts": {"listChanged": True},
            "logging": {},
            "completions": {},
            "tasks": {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}},
        }

    def server_info(self) -> dict[str, Any]:
        s = self.app.settings
        info: dict[str, Any] = {"name": s.title, "version": s.version}
        if s.description:
            info["description"] = s.description
        return info

    def extension_method(self, method: str | None) -> bool:
        """Methods an extension adds to the 2026-07-28 set (the tasks extension)."""
        return method in ("tasks/get", "tasks/update", "tasks/cancel")

    def extension_name_key(self, method: str | None) -> str | None:
        """The param an extension method names in ``Mcp-Name``."""
        return "taskId" if self.extension_method(method) else None

    async def discover(self, params: dict[str, Any], call: McpCall) -> dict[str, Any]:
        """``server/discover`` (2026-07-28): what ``initialize`` told a 2025-11-25 client."""
        from .modern import MODERN

        capabilities = self.capabilities()
        capabilities.pop("logging", None)  # 2026-07-28: per-request logLevel instead
        capabilities.pop("tasks", None)  # 2026-07-28: tasks are an extension
        capabilities["extensions"] = {TASKS_EXTENSION: {}}
        out: dict[str, Any] = {"supportedVersions": list(MODERN), "capabilities": capabilities}
        if self.app.settings.description:
            out["instructions"] = self.app.settings.description
        return out

    async def initialize(self, params: dict[str, Any], call: McpCall) -> dict[str, Any]:
        return {"protocolVersion": self.negotiate(params.get("protocolVersion")),
                "capabilities": self.capabilities(), "serverInfo": self.server_info()}

    async def ping(self, params: dict[str, Any], call: McpCall) -> dict[str, Any]:
        return {}

    async def set_level(self, params: dict[str, Any], call: McpCall) -> dict[str, Any]:
        level = params.get("level")
        if level not in LOG_LEVELS:
            raise JsonRpcError(INVALID_PARAMS, f"Invalid params: level must be one of "
                                               f"{', '.join(LOG_LEVELS)}")
        if call.session is not None:
            call.session["log_level"] = level
            call.extra["session_changed"] = True
        return {}

    # tools

    def _tool_specs(self) -> list[Spec]:
        reg = self.app.registry
        return [*reg.tools.values(), *(a for a in reg.agents.values() if a.mcp_tool)]

    def may_notify(self, params: dict[str, Any]) -> bool:
        """Whether a tools/call can send notifications or ask its client before answering
        (agents stream; tools taking a CallContext may log, report progress or ask).  Others
        are answered inline, as plain JSON."""
        try:
            spec = self._tool(params.get("name"))
        except JsonRpcError:
            return False
        return isinstance(spec, AgentSpec) or any(
            issubclass(CallContext, kind) for kind in spec.signature.injected.values())

    def _tool(self, name: Any) -> Spec:
        spec = self.app.registry.tools.get(name) if isinstance(name, str) else None
        if spec is not None:
            return spec
        for agent in self.app.registry.agents.values():
            if agent.mcp_tool is not None and agent.mcp_tool == name:
                return agent
        raise JsonRpcError(INVALID_PARAMS, f"Unknown tool: {name}")

    async def tools_list(self, params: dict[str, Any], call: McpCall) -> dict[str, Any]:
        modern = self._round_trip(call)
        tools = []
        for spec in visible(self.app, self._tool_specs(), call.user):
            definition = mapping.tool_definition(spec)  # type: ignore[arg-type]
            if not modern:  # 2026-07-28 dropped Tool.execution (tasks are an extension)
                definition["execution"] = {"taskSupport": task_support(spec)}
            tools.append(definition)
        return paginate("tools", tools, params.get("cursor"))

    async def tools_call(self, params: dict[str, Any], call: McpCall) -> dict[str, Any]:
        spec = self._tool(params.get("name"))
        arguments = params.get("arguments") or {}
        if not isinstance(arguments, dict):
            return mapping.tool_error("Invalid arguments: arguments must be an object")
        try:
            model = spec.signature.validate_python(arguments)
        except InvalidInput as exc:
            # Reported to the model, which can correct itself (2025-11-25).
            problems = "; ".join(f"{'.'.join(map(str, d['loc'][1:]))}: {d['msg']}"
                                 for d in exc.details or [])
            return mapping.tool_error(f"Invalid arguments for tool {spec.name}: {problems}")
        context = self._context(call, spec, params)
        as_task, ttl = self.tasks.wants_task(spec, params, call, self._round_trip(call))
        if as_task:
            return await self.tasks.create(spec, model, context, call, ttl,
                                           self._round_trip(call))
        if isinstance(spec, AgentSpec):
            return await self._call_agent(spec, model, context, params, call)
        try:
            value = await self.app.pipeline.invoke(Invocation(spec, model, context))
        except ToolError as exc:
            return mapping.tool_error(exc.message)
        except (FastAgenticError, NeedsClientInput):
            raise
        except Exception as exc:
            logger.exception("tool %s failed", spec.name)
            return mapping.tool_error(f"Error executing tool {spec.name}: {exc}")
        return mapping.tool_result(spec, value)

    async def _call_agent(self, spec: AgentSpec, model: Any, context: CallContext,
                          params: dict[str, Any], call: McpCall) -> dict[str, Any]:
        """An agent tool call is a run: its events stream as progress and log notifications,
        and when it asks for input the client is asked (elicitation) and the run resumed."""
        state = call.extra.get("state") or {}
        if state.get("run_id"):  # 2026-07-28 retry of a run that asked for input
            run = await self.app.engine.get(state["run_id"], call.user)
        else:
            run, _ = await self.app.pipeline.invoke(Invocation(spec, model, context))
        token = (params.get("_meta") or {}).get("progressToken")
        result = await self.drive_run(spec, run, int(state.get("after", 0)), token, call,
                                      context)
        result["_meta"] = {**result.get("_meta", {}), "io.fastagentic/run_id": run.id}
        return result

    async def drive_run(self, spec: Spec, run: Any, after: int, token: Any, call: McpCall,
                        context: CallContext, *, forward: bool = True) -> dict[str, Any]:
        """Follow a run to its end, asking the client whenever it waits for input; the
        CallToolResult the call answers with."""
        engine = self.app.engine
        while True:
            final = await engine.get(run.id)
            if final.status == INPUT_REQUIRED:  # ask the client, then resume the run
                call.extra["seal"] = {"run_id": run.id, "after": max(after, final.last_seq)}
                answer = await self._answer_for_run(final.pending or {}, context)
                if answer is _DECLINED:
                    return mapping.tool_error(
                        f"The run {run.id} is waiting for input that was not given; answer "
                        f"it with POST /runs/{run.id}/resume")
                await engine.resume(run.id, call.user, answer=answer, has_answer=True)
            elif final.status in TERMINAL:
                return self.tasks.call_result(final)
            try:
                async for batch in engine.follow(run.id, after,
                                                 until=frozenset({ev.DONE, ev.INPUT_REQUIRED})):
                    if forward:
                        for event in batch:
                            await self._forward_event(event, token, call)
                    after = batch[-1].seq
            except asyncio.CancelledError:
                if forward:  # the call was cancelled; a tasks/result wait is not the task
                    with contextlib.suppress(FastAgenticError):
                        await engine.cancel(run.id)
                raise

    async def _answer_for_run(self, pending: dict[str, Any], context: CallContext) -> Any:
        """Ask the client (elicitation) for what a paused run waits for."""
        if context.ask is None or "elicitation" not in context.client_capabilities:
            return _DECLINED
        schema, wrapped = mapping.elicitation_schema(pending.get("schema"))
        reply = await context.elicit(pending.get("prompt", "Input needed"), schema,
                                     key=pending.get("key"))
        if reply.get("action") != "accept":
            return _DECLINED
        content = reply.get("content") or {}
        return content.get("answer") if wrapped else content

    def _context(self, call: McpCall, spec: Spec, params: dict[str, Any]) -> CallContext:
        return CallContext(user=call.user, transport=call.transport, kind=spec.kind,
                           name=spec.name, notify=self._notifier(call, params),
                           client_capabilities=call.client_capabilities,
                           ask=self.asker(call))

    def _notifier(self, call: McpCall, params: dict[str, Any]
                  ) -> Callable[[str, dict[str, Any]], Awaitable[None]] | None:
        """How ``ctx.log`` and ``ctx.report_progress`` reach this caller."""
        send = call.send
        if send is None:
            return None
        token = (params.get("_meta") or {}).get("progressToken")

        async def notify(kind: str, payload: dict[str, Any]) -> None:
            if kind == "progress" and token is not None:
                body = {"progressToken": token, "progress": payload["progress"]}
                body.update({k: payload[k] for k in ("total", "message")
                             if payload.get(k) is not None})
                await send(jsonrpc.notification("notifications/progress", body))
            elif kind == "log" and _log_enabled(call, payload["level"]):
                body = {"level": payload["level"], "data": payload["data"]}
                if payload.get("logger"):
                    body["logger"] = payload["logger"]
                await send(jsonrpc.notification("notifications/message", body))

        return notify

    async def _forward_event(self, event: ev.RunEvent, token: Any, call: McpCall) -> None:
        if call.send is None:
            return
        if token is not None:
            message = event.type
            if event.type == ev.TOKEN:
                message = from_json(event.json).get("content", "")
            await call.send(jsonrpc.notification("notifications/progress", {
                "progressToken": token, "progress": event.seq, "message": message}))
        if (call.session or {}).get("log_level") and _log_enabled(call, "info") \
                and event.type != ev.TOKEN:
            await call.send(jsonrpc.notification("notifications/message", {
                "level": "info", "logger": "fastagentic.run", "data": from_json(event.json)}))

    # resources

    def _resources(self) -> list[ResourceSpec]:
        return list(self.app.registry.resources.values())

    async def resources_list(self, params: dict[str, Any], call: McpCall) -> dict[str, Any]:
        items = [mapping.resource_definition(s) for s in self._visible_resources(call)
                 if not s.is_template]
        return paginate("resources", items, params.get("cursor"))

    async def resource_templates_list(self, params: dict[str, Any], call: McpCall
                                      ) -> dict[str, Any]:
        items = [mapping.resource_definition(s) for s in self._visible_resources(call)
                 if s.is_template]
        return paginate("resourceTemplates", items, params.get("cursor"))

    def _visible_resources(self, call: McpCall) -> list[ResourceSpec]:
        """The resources this caller may read (listings show nothing else)."""
        return visible(self.app, self._resources(), call.user)  # type: ignore[arg-type,return-value]

    def _match(self, uri: str) -> tuple[ResourceSpec, dict[str, str]]:
        for spec in self._resources():
            if not spec.is_template and spec.uri == uri:
                return spec, {}
        for spec in self._resources():
            if spec.is_template:
                found = mapping.template_regex(spec.uri).match(uri)
                if found:
                    return spec, found.groupdict()
        raise JsonRpcError(RESOURCE_NOT_FOUND, "Resource not found", {"uri": uri})

    async def resources_read(self, params: dict[str, Any], call: McpCall) -> dict[str, Any]:
        uri = params.get("uri")
        if not isinstance(uri, str):
            raise JsonRpcError(INVALID_PARAMS, "Invalid params: uri must be a string")
        spec, variables = self._match(uri)
        model = spec.signature.validate_python(variables)
        context = self._context(call, spec, params)
        value = await self.app.pipeline.invoke(Invocation(spec, model, context))
        return {"contents": [mapping.resource_contents(spec, uri, value)]}

    async def subscribe(self, params: dict[str, Any], call: McpCall) -> dict[str, Any]:
        uri = params.get("uri")
        if not isinstance(uri, str):
            raise JsonRpcError(INVALID_PARAMS, "Invalid params: uri must be a string")
        self._match(uri)  # unknown resources cannot be subscribed to
        if call.session is not None and uri not in call.session.setdefault("subscriptions", []):
            call.session["subscriptions"].append(uri)
            call.extra["session_changed"] = True
        return {}

    async def unsubscribe(self, params: dict[str, Any], call: McpCall) -> dict[str, Any]:
        uri = params.get("uri")
        subscriptions = (call.session or {}).get("subscriptions", [])
        if uri in subscriptions:
            subscriptions.remove(uri)
            call.extra["session_changed"] = True
        return {}

    # prompts

    async def prompts_list(self, params: dict[str, Any], call: McpCall) -> dict[str, Any]:
        items = [mapping.prompt_definition(s) for s in visible(
            self.app, list(self.app.registry.prompts.values()), call.user)]
        return paginate("prompts", items, params.get("cursor"))

    async def prompts_get(self, params: dict[str, Any], call: McpCall) -> dict[str, Any]:
        name = params.get("name")
        spec = self.app.registry.prompts.get(name) if isinstance(name, str) else None
        if spec is None:
            raise JsonRpcError(INVALID_PARAMS, f"Unknown prompt: {name}")
        model = spec.signature.validate_python(params.get("arguments") or {})
        context = self._context(call, spec, params)
        value = await self.app.pipeline.invoke(Invocation(spec, model, context))
        out: dict[str, Any] = {"messages": prompt_messages(value)}
        if spec.description:
            out["description"] = spec.description
        return out

    # completion

    async def complete(self, params: dict[str, Any], call: McpCall) -> dict[str, Any]:
        ref = params.get("ref") or {}
        argument = params.get("argument") or {}
        name, value = argument.get("name"), str(argument.get("value", ""))
        if ref.get("type") == "ref/prompt":
            spec: Spec | None = self.app.registry.prompts.get(ref.get("name", ""))
        elif ref.get("type") == "ref/resource":
            uri = ref.get("uri")
            spec = next((s for s in self._resources() if s.uri == uri), None)
        else:
            raise JsonRpcError(INVALID_PARAMS, "Invalid params: ref.type must be ref/prompt or "
                                               "ref/resource")
        if spec is None:
            raise JsonRpcError(INVALID_PARAMS, f"Unknown reference: {ref}")
        declared = getattr(spec, "completions", {}).get(name)
        if callable(declared):  # a function of the typed prefix
            found = declared(value)
            if inspect.isawaitable(found):
                found = await found
            values = [str(v) for v in found or []]
        else:
            choices = declared if declared is not None else _choices(spec, name)
            values = [str(v) for v in choices if str(v).startswith(value)]
        return {"completion": {"values": values[:100], "total": len(values),
                               "hasMore": len(values) > 100}}


def _choices(spec: Spec, argument: Any) -> list[str]:
    """Completion candidates: enum or Literal values declared in the argument's schema."""
    schema = spec.signature.input_schema()
    prop = schema.get("properties", {}).get(argument, {})
    if "$ref" in prop:
        prop = schema.get("$defs", {}).get(prop["$ref"].rsplit("/", 1)[-1], {})
    for option in prop.get("anyOf", []):
        if "enum" in option:
            prop = option
    return [str(v) for v in prop.get("enum", [])]


def _log_enabled(call: McpCall, level: str) -> bool:
    """Messages at or above the session's level (``logging/setLevel``; default ``info``)."""
    session = call.session or {}
    wanted = session.get("log_level")
    if wanted is None:
        if session.get("modern"):
            return False  # 2026-07-28: no log notifications unless the request asks
        wanted = "info"
    if level not in LOG_LEVELS:
        return False
    return LOG_LEVELS.index(level) >= LOG_LEVELS.index(wanted)


async def _quietly(send: Send, message: dict[str, Any]) -> None:
    try:
        await send(message)
    except Exception:  # a gone client must not break the others
        logger.debug("dropping a notification for a closed channel", exc_info=True)


def paginate(key: str, items: list[Any], cursor: Any) -> dict[str, Any]:
    start = 0
    if cursor is not None:
        try:
            start = int(base64.urlsafe_b64decode(str(cursor).encode()).decode())
        except (ValueError, UnicodeDecodeError):
            start = -1
        if start < 0 or start > len(items):
            raise JsonRpcError(INVALID_PARAMS, "Invalid params: unknown cursor")
    page = items[start:start + PAGE_SIZE]
    out: dict[str, Any] = {key: page}
    if start + PAGE_SIZE < len(items):
        out["nextCursor"] = base64.urlsafe_b64encode(str(start + PAGE_SIZE).encode()).decode()
    return out


__all__ = ["LATEST", "SUPPORTED", "McpCall", "McpServer"]
