"""REST view: tools, resources, prompts, agent endpoints, runs and health.

Handlers turn HTTP into calls on the pipeline or the run engine and results back into JSON;
none of them calls user code directly.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from pydantic_core import from_json
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

from ..core.context import CallContext
from ..core.pipeline import Invocation
from ..core.registry import tool_as_agent
from ..core.runs import STATUSES, RunRecord
from ..core.specs import AgentSpec, ResourceSpec, Spec
from ..exceptions import BadRequest, ClientInputUnavailable, Conflict, FastAgenticError, NotFound
from ..policy.authz import visible
from . import sse, websocket
from .http import int_param, json_response, user_of, wants_sse

if TYPE_CHECKING:
    from ..app import App

MAX_IDEMPOTENCY_KEY = 255


def describe(spec: Spec) -> dict[str, Any]:
    """The listing form of a definition (``GET /tools`` and friends)."""
    out: dict[str, Any] = {"name": spec.name, "title": spec.title,
                           "description": spec.description,
                           "input_schema": spec.signature.input_schema()}
    if spec.kind in ("tool", "agent"):
        out["output_schema"] = spec.signature.output_schema()
    if isinstance(spec, ResourceSpec):
        out.update(uri=spec.uri, mime_type=spec.mime_type, variables=list(spec.variables))
    if isinstance(spec, AgentSpec):
        out.update(path=spec.path, stream=spec.stream, durable=spec.durable,
                   framework=spec.adapter.framework if spec.adapter else None,
                   mcp_tool=spec.mcp_tool, a2a_skill=spec.skill_id, default=spec.default)
    if spec.tags:
        out["tags"] = list(spec.tags)
    return out


class RestView:
    def __init__(self, app: App) -> None:
        self.app = app

    # routes

    def routes(self) -> list[Route]:
        return [
            Route("/health", self.health, methods=["GET"]),
            Route("/health/live", self.live, methods=["GET"]),
            Route("/health/ready", self.ready, methods=["GET"]),
            Route("/tools", self.list_kind("tool"), methods=["GET"]),
            Route("/tools/{name}", self.call_tool, methods=["POST"]),
            Route("/resources", self.list_kind("resource"), methods=["GET"]),
            Route("/resources/{name}", self.read_resource, methods=["GET"]),
            Route("/resources/{name}/{rest:path}", self.read_resource, methods=["GET"]),
            Route("/prompts", self.list_kind("prompt"), methods=["GET"]),
            Route("/prompts/{name}", self.render_prompt, methods=["POST"]),
            Route("/agents", self.list_kind("agent"), methods=["GET"]),
            Route("/runs", self.list_runs, methods=["GET"]),
            Route("/runs/{run_id}", self.get_run, methods=["GET"]),
            Route("/runs/{run_id}/events", self.run_events, methods=["GET"]),
            Route("/runs/{run_id}/cancel", self.cancel_run, methods=["POST"]),
            Route("/runs/{run_id}/resume", self.resume_run, methods=["POST"]),
            WebSocketRoute("/runs/{run_id}/ws", websocket.RunSocket(self.app)),
        ]

    def agent_routes(self, spec: AgentSpec) -> list[Route]:
        async def start(request: Request) -> Response:
            return await self.start_run(request, spec, stream=spec.stream and wants_sse(request))

        async def start_stream(request: Request) -> Response:
            return await self.start_run(request, spec, stream=True)

        routes = [Route(spec.path, start, methods=["POST"], name=f"agent:{spec.name}")]
        if spec.stream:  # stream=False: results only (runs can still be followed by id)
            routes.append(Route(spec.path + "/stream", start_stream, methods=["POST"],
                                name=f"agent-stream:{spec.name}"))
            routes.append(WebSocketRoute(spec.path + "/ws",
                                         websocket.AgentSocket(self.app, spec.name)))
        return routes

    # health

    async def health(self, request: Request) -> Response:
        s = self.app.settings
        return json_response({"status": "ok", "title": s.title, "version": s.version})

    async def live(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    async def ready(self, request: Request) -> Response:
        try:
            store = self.app.store
            await asyncio.wait_for(store.ping(), timeout=2.0)
        except (FastAgenticError, TimeoutError, OSError) as exc:
            message = getattr(exc, "message", None) or type(exc).__name__
            return json_response({"status": "unavailable", "store": message}, status=503)
        return json_response({"status": "ok", "store": store.url.split("://", 1)[0]})

    # definitions

    def list_kind(self, kind: str):  # noqa: ANN201 - a route endpoint
        async def listing(request: Request) -> Response:
            specs = visible(self.app, list(self.app.registry._table(kind).values()),
                            user_of(request))
            return json_response({f"{kind}s": [describe(spec) for spec in specs]})

        return listing

    def _lookup(self, kind: str, name: str) -> Any:
        spec = self.app.registry._table(kind).get(name)
        if spec is None:
            raise NotFound(f"unknown {kind} {name!r}")
        return spec

    async def _invoke(self, request: Request, spec: Spec, arguments: Any) -> Any:
        return await self.app.pipeline.invoke(
            Invocation(spec, arguments, self._context(request, spec)))

    def _context(self, request: Request, spec: Spec, transport: str = "rest") -> CallContext:
        return CallContext(user=user_of(request), transport=transport, kind=spec.kind,
                           name=spec.name, headers=request.headers)

    async def call_tool(self, request: Request) -> Response:
        spec = self._lookup("tool", request.path_params["name"])
        arguments = spec.signature.validate_json(await request.body())
        if "respond-async" in request.headers.get("prefer", ""):
            return await self._tool_run(request, spec, arguments)
        try:
            result = await self._invoke(request, spec, arguments)
        except ClientInputUnavailable as exc:
            if spec.task_support == "forbidden":
                raise
            raise ClientInputUnavailable(
                f"{exc.message}; or run it as a run (Prefer: respond-async), where the "
                "question becomes the run's input request") from None
        body = b'{"result":' + spec.signature.dump_output_json(result) + b"}"
        return Response(body, media_type="application/json")

    async def _tool_run(self, request: Request, spec: Any, arguments: Any) -> Response:
        """A tool as a run (``Prefer: respond-async``): durable, followed at ``/runs/{id}``;
        when it asks its caller (``ctx.elicit``), the run waits for ``/runs/{id}/resume``."""
        if spec.task_support == "forbidden":
            raise Conflict(f"tool {spec.name!r} runs synchronously only "
                           "(task_support='forbidden')")
        key = request.headers.get("idempotency-key")
        if key is not None and not (0 < len(key) <= MAX_IDEMPOTENCY_KEY):
            raise BadRequest(f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} characters")
        run_spec = tool_as_agent(spec)
        run, _ = await self.app.pipeline.invoke(Invocation(
            run_spec, arguments, self._context(request, run_spec),
            options={"idempotency_key": key}))
        return json_response(run_result(run), status=202,
                             headers={"Location": f"/runs/{run.id}", "X-Run-Id": run.id})

    async def read_resource(self, request: Request) -> Response:
        spec = self._lookup("resource", request.path_params["name"])
        params: dict[str, Any] = dict(request.query_params)
        rest = request.path_params.get("rest")
        if rest is not None:
            parts = rest.split("/")
            if len(parts) != len(spec.variables):
                raise NotFound(
                    f"resource {spec.name!r} takes {len(spec.variables)} path parameters "
                    f"({', '.join(spec.variables) or 'none'})")
            params.update(zip(spec.variables, parts, strict=True))
        arguments = spec.signature.validate_python(params)
        return resource_response(spec, await self._invoke(request, spec, arguments))

    async def render_prompt(self, request: Request) -> Response:
        spec = self._lookup("prompt", request.path_params["name"])
        arguments = spec.signature.validate_json(await request.body())
        result = await self._invoke(request, spec, arguments)
        return json_response({"description": spec.description,
                              "messages": prompt_messages(result)})

    # runs

    async def start_run(self, request: Request, spec: AgentSpec, *, stream: bool) -> Response:
        key = request.headers.get("idempotency-key")
        if key is not None and not (0 < len(key) <= MAX_IDEMPOTENCY_KEY):
            raise BadRequest(f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} characters")
        arguments = spec.signature.validate_json(await request.body())
        context = self._context(request, spec, "sse" if stream else "rest")
        run, created = await self.app.pipeline.invoke(
            Invocation(spec, arguments, context, options={"idempotency_key": key}))
        headers = {"Location": f"/runs/{run.id}", "X-Run-Id": run.id}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        engine = self.app.engine
        if stream:
            return sse.run_stream(engine, run.id, 0, ping=self.app.settings.sse_ping,
                                  headers=headers)
        if "respond-async" in request.headers.get("prefer", ""):
            return json_response(run_result(run), status=202, headers=headers)
        run = await engine.wait_settled(run.id)
        return json_response(run_result(run), headers=headers)

    async def _run(self, request: Request) -> RunRecord:
        return await self.app.engine.get(request.path_params["run_id"], user_of(request))

    async def get_run(self, request: Request) -> Response:
        return json_response((await self._run(request)).public())

    async def list_runs(self, request: Request) -> Response:
        q = request.query_params
        limit = int_param(q.get("limit"), "limit", default=50, minimum=1, maximum=500)
        status = q.get("status")
        if status is not None and status not in STATUSES:
            raise BadRequest(f"status must be one of {', '.join(STATUSES)}")
        before = decode_cursor(q.get("cursor"))
        runs = await self.app.engine.list(user_of(request), status=status,
                                          endpoint=q.get("endpoint"), limit=limit + 1,
                                          before=before)
        page, more = runs[:limit], len(runs) > limit
        cursor = encode_cursor(page[-1]) if more else None
        return json_response({"runs": [r.public() for r in page], "next_cursor": cursor})

    async def run_events(self, request: Request) -> Response:
        run = await self._run(request)
        after = int_param(request.headers.get("last-event-id")
                          or request.query_params.get("after"), "after", default=0)
        accept = request.headers.get("accept", "")
        if "application/json" in accept and "text/event-stream" not in accept:
            limit = int_param(request.query_params.get("limit"), "limit", default=1000,
                              minimum=1, maximum=10000)
            events = await self.app.store.read_events(run.id, after, limit)
            return json_response({
                "run_id": run.id, "status": run.status,
                "events": [from_json(e.json) for e in events],
                "next_after": events[-1].seq if events else after})
        return sse.run_stream(self.app.engine, run.id, after, ping=self.app.settings.sse_ping)

    async def cancel_run(self, request: Request) -> Response:
        run = await self.app.engine.cancel(request.path_params["run_id"], user_of(request))
        return json_response(run.public())

    async def resume_run(self, request: Request) -> Response:
        body = await request.body()
        has_answer = bool(body.strip())
        answer = None
        if has_answer:
            try:
                answer = from_json(body)
            except ValueError as exc:
                raise BadRequest(f"Malformed JSON body: {exc}") from None
        run = await self.app.engine.resume(request.path_params["run_id"], user_of(request),
                                           answer=answer, has_answer=has_answer)
        if wants_sse(request):
            return sse.run_stream(self.app.engine, run.id, run.last_seq,
                                  ping=self.app.settings.sse_ping)
        return json_response(run.public())


def run_result(run: RunRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"run_id": run.id, "status": run.status, "output": run.output}
    if run.error is not None:
        out["error"] = run.error
    if run.pending is not None:
        out["input_request"] = run.pending
    return out


def encode_cursor(run: RunRecord) -> str:
    return f"{run.created_at!r}:{run.id}"


def decode_cursor(cursor: str | None) -> tuple[float, str] | None:
    if not cursor:
        return None
    created, _, run_id = cursor.partition(":")
    try:
        return float(created), run_id
    except ValueError:
        raise BadRequest("invalid cursor") from None


def resource_response(spec: ResourceSpec, result: Any) -> Response:
    if isinstance(result, bytes):
        return Response(result, media_type=spec.mime_type or "application/octet-stream")
    if isinstance(result, str):
        return Response(result, media_type=spec.mime_type or "text/plain; charset=utf-8")
    body = spec.signature.dump_output_json(result)
    return Response(body, media_type=spec.mime_type or "application/json")


def prompt_messages(result: Any) -> list[dict[str, Any]]:
    """A prompt returns text (one user message) or a list of ``{role, content}`` messages."""
    if isinstance(result, str):
        return [{"role": "user", "content": {"type": "text", "text": result}}]
    messages = []
    for item in result or []:
        if hasattr(item, "model_dump"):
            item = item.model_dump(mode="json", exclude_none=True)
        role, content = item.get("role", "user"), item.get("content", "")
        if isinstance(content, str):
            content = {"type": "text", "text": content}
        elif hasattr(content, "model_dump"):
            content = content.model_dump(mode="json", exclude_none=True)
        messages.append({"role": role, "content": content})
    return messages


__all__ = ["RestView"]
