"""MCP tasks: a task-augmented ``tools/call`` is a run of the run engine.

The task id is the run id, so a task survives restarts, is served by any replica and can be
watched over REST (``GET /runs/{id}``).  Two eras:

* 2025-11-25 (core, experimental): ``params.task`` asks for a task; ``tasks/get``,
  ``tasks/result`` (waits, then answers what the call would have), ``tasks/list``,
  ``tasks/cancel``; a tool error makes the task ``failed``.
* 2026-07-28 (extension ``io.modelcontextprotocol/tasks``): the server decides; flat results
  with ``resultType: "task"``; ``tasks/get`` carries the result or the input requests;
  ``tasks/update`` answers them; a tool error is still ``completed``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ...core import runs as rs
from ...core.context import CallContext
from ...core.pipeline import Invocation
from ...core.registry import tool_as_agent
from ...core.runs import RunRecord
from ...core.specs import AgentSpec, Spec
from ...exceptions import MissingClientCapability, NotFound
from .. import jsonrpc
from ..jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, JsonRpcError
from . import mapping

if TYPE_CHECKING:
    from .server import McpCall, McpServer

EXTENSION = "io.modelcontextprotocol/tasks"
LABEL = "mcp_task"
POLL_MS = 1000
DEFAULT_TTL_MS = 24 * 3600 * 1000
RELATED = "io.modelcontextprotocol/related-task"
STATUS = {rs.QUEUED: "working", rs.RUNNING: "working", rs.INPUT_REQUIRED: "input_required",
          rs.COMPLETED: "completed", rs.FAILED: "failed", rs.CANCELLED: "cancelled"}


def support(spec: Spec) -> str:
    """``forbidden`` | ``optional`` | ``required``: ``@tool(task_support=...)`` (default
    ``forbidden``); agent tools are runs anyway, so ``optional``."""
    if isinstance(spec, AgentSpec):
        return "optional"
    return getattr(spec, "task_support", "forbidden")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _tool_failure(run: RunRecord) -> bool:
    """The run failed the way a tool reports failure (an ``isError`` result, not a crash)."""
    return run.status == rs.FAILED and (run.error or {}).get("code") == "tool_error"


class Tasks:
    def __init__(self, server: McpServer) -> None:
        self.server = server
        self._watchers: set[asyncio.Task[None]] = set()

    @property
    def engine(self) -> Any:
        return self.server.app.engine

    # creating

    async def create(self, spec: Spec, model: Any, context: CallContext, call: McpCall,
                     ttl: Any, modern: bool) -> dict[str, Any]:
        ttl_ms = ttl if isinstance(ttl, int) and ttl > 0 else DEFAULT_TTL_MS
        run_spec = spec if isinstance(spec, AgentSpec) else tool_as_agent(spec)  # type: ignore[arg-type]
        labels = {LABEL: {"ttl": ttl_ms, "tool": mapping.tool_name(spec)}}
        run, _ = await self.server.app.pipeline.invoke(
            Invocation(run_spec, model, context, options={"labels": labels}))
        fields = self.fields(run, modern)
        if not modern and call.session_id is not None:
            self._watch(run.id, call.session_id)
        return {"resultType": "task", **fields} if modern else {"task": fields}

    async def close(self) -> None:
        for task in list(self._watchers):
            task.cancel()
        if self._watchers:
            await asyncio.wait(self._watchers, timeout=5)

    def _watch(self, run_id: str, session_id: str) -> None:
        """2025-11-25 ``notifications/tasks/status``: each status change, to the session's
        streams in this process (a courtesy: clients poll ``tasks/get``)."""

        async def watch() -> None:
            last = "working"
            async for batch in self.engine.follow(run_id, 0):
                for event in batch:  # each transition, in the order the run went through it
                    if event.type == "status":
                        status = "working"
                    elif event.type == "input_required":
                        status = "input_required"
                    elif event.type == "done":
                        status = STATUS[event.data.get("status", rs.FAILED)]
                    else:
                        continue
                    if status == last:
                        continue
                    last = status
                    fields = self.fields(await self.engine.get(run_id), False)
                    fields["status"] = status
                    await self.server.notify_session(session_id, jsonrpc.notification(
                        "notifications/tasks/status", fields))

        task = asyncio.get_running_loop().create_task(watch())
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    def wants_task(self, spec: Spec, params: dict[str, Any], call: McpCall, modern: bool
                   ) -> tuple[bool, Any]:
        """Whether this call becomes a task (and its requested ttl)."""
        mode = support(spec)
        if not modern:
            task = params.get("task")
            if isinstance(task, dict):
                if mode == "forbidden":
                    raise JsonRpcError(METHOD_NOT_FOUND,
                                       f"tool {mapping.tool_name(spec)} does not run as a task")
                return True, task.get("ttl")
            if mode == "required":
                raise JsonRpcError(METHOD_NOT_FOUND, f"tool {mapping.tool_name(spec)} must be "
                                   "called as a task (params.task)")
            return False, None
        declared = EXTENSION in (call.client_capabilities.get("extensions") or {})
        if mode == "required" and not declared:
            raise MissingClientCapability({"extensions": {EXTENSION: {}}})
        # The server decides: task-supporting tools (and agents, which are runs) become tasks
        # for clients that declared the extension.
        return declared and mode != "forbidden", None

    # reading

    async def run_of(self, params: dict[str, Any], call: McpCall) -> RunRecord:
        task_id = params.get("taskId")
        if not isinstance(task_id, str):
            raise JsonRpcError(INVALID_PARAMS, "Invalid params: taskId must be a string")
        try:
            run = await self.engine.get(task_id, call.user)
        except NotFound:
            run = None
        if run is None or LABEL not in (run.labels or {}):
            raise JsonRpcError(INVALID_PARAMS, f"Unknown task: {task_id}")
        return run

    def fields(self, run: RunRecord, modern: bool) -> dict[str, Any]:
        ttl = (run.labels.get(LABEL) or {}).get("ttl", DEFAULT_TTL_MS)
        status = STATUS[run.status]
        if modern and _tool_failure(run):
            status = "completed"  # 2026-07-28: an isError tool result is a completed task
        out: dict[str, Any] = {"taskId": run.id, "status": status,
                               "createdAt": _iso(run.created_at),
                               "lastUpdatedAt": _iso(run.updated_at)}
        if run.status == rs.INPUT_REQUIRED and run.pending:
            out["statusMessage"] = run.pending.get("prompt")
        elif run.error:
            out["statusMessage"] = run.error.get("message")
        if modern:
            out.update(ttlMs=ttl, pollIntervalMs=POLL_MS)
        else:
            out.update(ttl=ttl, pollInterval=POLL_MS)
        return out

    def tool_spec(self, run: RunRecord) -> Spec:
        if run.endpoint.startswith("tool:"):
            spec: Spec | None = self.server.app.registry.tools.get(run.endpoint[5:])
        else:
            spec = self.server.app.registry.agents.get(run.endpoint)
        if spec is None:
            raise JsonRpcError(INVALID_PARAMS, f"the task's tool {run.endpoint} is gone")
        return spec

    def call_result(self, run: RunRecord) -> dict[str, Any]:
        """What the ``tools/call`` would have answered, for a settled run."""
        spec = self.tool_spec(run)
        if run.status == rs.COMPLETED:
            result = mapping.tool_result_dumped(spec, run.output)
        elif (run.error or {}).get("code") == "tool_error":
            result = mapping.tool_error((run.error or {}).get("message", "tool error"))
        else:
            message = (run.error or {}).get("message", run.status)
            result = mapping.tool_error(f"The run {run.id} {run.status}: {message}")
        return result

    # 2025-11-25 methods

    async def get(self, params: dict[str, Any], call: McpCall) -> dict[str, Any]:
        modern = bool((call.session or {}).get("modern"))
        if modern:
            self._require_extension(call)
        run = await self.run_of(params, call)
        out = self.fields(run, modern)
        if modern:
            out["resultType"] = "complete"
            if out["status"] == "failed":  # a protocol-level failure: an error, no result
                out["error"] = {"code": -32603,
                                "message": (run.error or {}).get("message", "failed")}
            elif run.status in rs.TERMINAL and run.status != rs.CANCELLED:
                out["result"] = self.call_result(run)
            elif run.status == rs.INPUT_REQUIRED and run.pending:
                schema, _ = mapping.elicitation_schema(run.pending.get("schema"))
                out["inputRequests"] = {run.pending.get("key", "input"): {
                    "method": "elicitation/create",
                    "params": {"mode": "form", "message": run.pending.get("prompt", ""),
                               "requestedSchema": schema}}}
        return out

    async def result(self, params: dict[str, Any], call: McpCall) -> dict[str, Any]:
        run = await self.run_of(params, call)
        spec = self.tool_spec(run)
        context = self.server._context(call, spec, params)
        result = await self.server.drive_run(spec, run, 0, None, call, context,
                                             forward=False)
        result.setdefault("_meta", {})[RELATED] = {"taskId": run.id}
        return result

    async def list(self, params: dict[str, Any], call: McpCall) -> dict[str, Any]:
        runs = []
        before = None
        while True:  # the caller's runs that are tasks, newest first
            page = await self.engine.list(call.user, limit=200, before=before)
            runs.extend(r for r in page if LABEL in (r.labels or {}))
            if len(page) < 200:
                break
            before = (page[-1].created_at, page[-1].id)
        from .server import paginate

        return paginate("tasks", [self.fields(r, False) for r in runs], params.get("cursor"))

    async def cancel(self, params: dict[str, Any], call: McpCall) -> dict[str, Any]:
        modern = bool((call.session or {}).get("modern"))
        if modern:
            self._require_extension(call)
        run = await self.run_of(params, call)
        if modern:
            if run.status not in rs.TERMINAL:  # 2026-07-28: an idempotent ack
                await self.engine.cancel(run.id, call.user)
            return {"resultType": "complete"}
        if run.status in rs.TERMINAL:
            raise JsonRpcError(INVALID_PARAMS, f"task {run.id} is already {run.status}")
        run = await self.engine.cancel(run.id, call.user)
        return self.fields(run, False)

    # 2026-07-28 extension

    async def update(self, params: dict[str, Any], call: McpCall) -> dict[str, Any]:
        self._require_extension(call)
        run = await self.run_of(params, call)
        responses = params.get("inputResponses") or {}
        pending = run.pending or {}
        reply = responses.get(pending.get("key")) if isinstance(responses, dict) else None
        if run.status == rs.INPUT_REQUIRED and isinstance(reply, dict) \
                and reply.get("action") == "accept":
            schema, wrapped = mapping.elicitation_schema(pending.get("schema"))
            content = reply.get("content") or {}
            answer = content.get("answer") if wrapped else content
            await self.engine.resume(run.id, call.user, answer=answer, has_answer=True)
        return {"resultType": "complete"}  # unknown or stale answers are ignored

    @staticmethod
    def _require_extension(call: McpCall) -> None:
        if EXTENSION not in (call.client_capabilities.get("extensions") or {}):
            raise MissingClientCapability({"extensions": {EXTENSION: {}}})


__all__ = ["EXTENSION", "Tasks"]
