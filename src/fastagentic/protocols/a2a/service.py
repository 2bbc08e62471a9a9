"""A2A operations on the run engine, binding-neutral (1.0 JSON in, 1.0 JSON out).

A task is a run: the task id is the run id, and the context id, the conversation history and
the skill live in the run's labels (``labels["a2a"]``).  So tasks survive restarts, are served
by any replica that shares the store, and are the same runs REST and MCP see.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic_core import from_json, to_json

from ...core import events as ev
from ...core import runs as rs
from ...core.context import CallContext, UserContext
from ...core.pipeline import Invocation
from ...core.runs import RunRecord
from ...core.specs import AgentSpec
from ...exceptions import Conflict, NotFound
from . import wire
from .errors import (
    PUSH_NOT_SUPPORTED,
    TASK_NOT_CANCELABLE,
    UNSUPPORTED_OPERATION,
    A2AError,
    invalid_params,
    task_not_found,
)

if TYPE_CHECKING:
    from ...app import App

logger = logging.getLogger("fastagentic.a2a")

SETTLE = frozenset({ev.DONE, ev.INPUT_REQUIRED})
FINISH = frozenset({ev.DONE})
HISTORY_CAP = 200
LIST_SCAN_CAP = 10_000
PUSH_NS = "a2a_push"


@dataclass(slots=True)
class Started:
    """A message accepted onto a task: the run, the skill, where its new events begin."""

    run: RunRecord
    spec: AgentSpec | None
    view: wire.TaskView
    after: int
    history_length: int | None
    return_immediately: bool
    #: Made right after the run was accepted here, before it could publish anything.
    subscription: Any = None
    #: The message answered a task waiting for input (not a new task).
    follow_up: bool = False


def _int_param(params: Mapping[str, Any], name: str, low: int, high: int | None = None
               ) -> int | None:
    value = wire.pick(params, name)
    if value is None or value == "":
        return None
    try:
        number = int(value)
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
    except (TypeError, ValueError):
        raise invalid_params(f"{name} must be an integer", field=name) from None
    if number < low or (high is not None and number > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise invalid_params(f"{name} must be {bounds}", field=name)
    return number


def _bool_param(params: Mapping[str, Any], name: str) -> bool:
    value = wire.pick(params, name)
    if isinstance(value, str):
        return value.lower() in ("true", "1")
    return bool(value)


def _state_word(run: RunRecord) -> str:
    """A run's task state as a word (``completed``, ``canceled``, ...) for messages."""
    return wire.STATE_V03[wire.state_of(run.status, run.error, True)]


def _task_id(params: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = wire.pick(params, name)
        if isinstance(value, str) and value:
            return value
    raise invalid_params(f"{names[0]} is required", field=names[0])


class A2AService:
    def __init__(self, app: App) -> None:
        self.app = app
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._push_locks: dict[str, asyncio.Lock] = {}
        self._push: Any = None

    @property
    def engine(self) -> Any:
        return self.app.engine

    # skills

    def skills(self, *, private: bool = False) -> list[AgentSpec]:
        return [s for s in self.app.registry.agents.values()
                if private or s.a2a_skill.public]

    def route(self, skill_id: str | None, fixed: str | None = None) -> AgentSpec:
        wanted = fixed or skill_id
        agents = list(self.app.registry.agents.values())
        if wanted:
            for spec in agents:
                if spec.skill_id == wanted:
                    return spec
            if fixed:
                raise A2AError(-32601, f"no skill {fixed!r}")
            raise invalid_params(f"unknown skill {wanted!r}; this agent offers "
                                 f"{', '.join(s.skill_id for s in agents) or 'no skills'}",
                                 field="metadata.skill")
        for spec in agents:
            if spec.default:
                return spec
        if not agents:
            raise A2AError(UNSUPPORTED_OPERATION, "this service has no agent endpoints")
        return agents[0]

    # reading tasks

    async def _run(self, task_id: str, user: UserContext) -> RunRecord:
        try:
            return await self.engine.get(task_id, user)
        except NotFound:
            raise task_not_found(task_id) from None

    async def view(self, run: RunRecord, until: int | None = None) -> wire.TaskView:
        """The task now, or as of run event ``until``."""
        view = wire.TaskView(run) if until is None else wire.TaskView.blank(run)
        events = await self.engine.read_all(run.id, 0)
        if until is not None:
            events = [e for e in events if e.seq <= until]
        view.feed(events)
        if until is None:
            # The record is at least as new as the log it was read before.
            view.status, view.pending = run.status, run.pending
            view.output, view.error = run.output, run.error
        return view

    async def get_task(self, params: Mapping[str, Any], user: UserContext) -> dict[str, Any]:
        task_id = _task_id(params, "id", "name")
        if task_id.startswith("tasks/"):
            task_id = task_id[len("tasks/"):]
        length = _int_param(params, "historyLength", 0)
        run = await self._run(task_id, user)
        return (await self.view(run)).task(history_length=length)

    async def list_tasks(self, params: Mapping[str, Any], user: UserContext
                         ) -> dict[str, Any]:
        page_size = _int_param(params, "pageSize", 1, 100) or 50
        length = _int_param(params, "historyLength", 0)
        context_id = wire.pick(params, "contextId") or None
        status = wire.pick(params, "status") or None
        if status is not None:
            status = wire.STATE_FROM_V03.get(status, status)
            if status == "TASK_STATE_CANCELLED":
                status = wire.CANCELED
            if status not in wire.STATES and status != wire.UNSPECIFIED:
                raise invalid_params(f"unknown status {status!r}", field="status")
        after_ts = wire.pick(params, "statusTimestampAfter")
        after = wire.parse_iso(after_ts) if after_ts else None
        artifacts = _bool_param(params, "includeArtifacts")
        cursor = None
        token = wire.pick(params, "pageToken")
        if token:
            try:
                cursor = tuple(from_json(base64.urlsafe_b64decode(token.encode())))
                float(cursor[0])
            except (ValueError, TypeError, IndexError):
                raise invalid_params("invalid pageToken", field="pageToken") from None
        matches: list[RunRecord] = []
        before = None
        scanned = 0
        while scanned < LIST_SCAN_CAP:
            page = await self.engine.list(user, limit=500, before=before)
            for run in page:
                info = run.labels.get("a2a")
                if not isinstance(info, dict):
                    continue
                if context_id and info.get("context_id") != context_id:
                    continue
                state = wire.state_of(run.status, run.error, run.started_at is not None)
                if status and state != status:
                    continue
                if after is not None and run.updated_at < after:
                    continue
                matches.append(run)
            scanned += len(page)
            if len(page) < 500:
                break
            before = (page[-1].created_at, page[-1].id)
        matches.sort(key=lambda r: (-r.updated_at, r.id))
        start = 0
        if cursor is not None:
            key = (-float(cursor[0]), str(cursor[1]))
            while start < len(matches) and (-matches[start].updated_at,
                                            matches[start].id) <= key:
                start += 1
        chunk = matches[start:start + page_size]
        tasks = []
        for run in chunk:
            view = await self.view(run) if artifacts else wire.TaskView(run)
            tasks.append(view.task(history_length=length, artifacts=artifacts))
        next_token = ""
        if start + page_size < len(matches) and chunk:
            last = chunk[-1]
            next_token = base64.urlsafe_b64encode(
                to_json([last.updated_at, last.id])).decode()
        return {"tasks": tasks, "nextPageToken": next_token, "pageSize": page_size,
                "totalSize": len(matches)}

    # sending

    async def start(self, params: Mapping[str, Any], message: dict[str, Any],
                    user: UserContext, headers: Mapping[str, str], version: str,
                    fixed_skill: str | None = None, grpc_json: bool = False) -> Started:
        """Accept a message: a new task, or the answer a task in input-required waits for.

        ``grpc_json``: the 0.3 HTTP+JSON binding (proto3 JSON, where an absent ``blocking``
        is false)."""
        config = wire.pick(params, "configuration") or {}
        if not isinstance(config, dict):
            raise invalid_params("configuration must be an object", field="configuration")
        metadata = params.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise invalid_params("metadata must be an object", field="metadata")
        history_length = _int_param(config, "historyLength", 0)
        if version == wire.V03:
            blocking = config.get("blocking")
            immediately = not blocking if grpc_json else blocking is False
        else:
            immediately = _bool_param(config, "returnImmediately")
        push = wire.pick(config, "taskPushNotificationConfig") or \
            wire.pick(config, "pushNotificationConfig") or wire.pick(config, "pushNotification")
        if push is not None:
            self._push_required()
            push = self.push_config_in(push, version, None)
            await self.policy.check_on_set(push["url"])
        task_id = message.get("taskId")
        if task_id:
            started = await self._continue(task_id, message, user, history_length, immediately)
        else:
            started = await self._new(message, metadata, user, headers, fixed_skill,
                                      history_length, immediately)
        if push is not None:
            push["taskId"] = started.run.id
            try:
                await self._save_push(started.run.id, push, version,
                                      from_seq=started.after if started.follow_up else 0)
            except BaseException:
                if started.subscription is not None:
                    self.engine.hub.unsubscribe(started.subscription)
                raise
        return started

    async def _new(self, message: dict[str, Any], metadata: dict[str, Any],
                   user: UserContext, headers: Mapping[str, str], fixed_skill: str | None,
                   history_length: int | None, immediately: bool) -> Started:
        skill = (message.get("metadata") or {}).get("skill") or metadata.get("skill")
        spec = self.route(skill if isinstance(skill, str) else None, fixed_skill)
        arguments = wire.message_to_arguments(spec, message)
        context_id = message.get("contextId") or wire.new_id()
        labels: dict[str, Any] = {"a2a": {
            "context_id": context_id, "skill": spec.skill_id, "message": message,
            "metadata": metadata, "history": [message],
        }}
        trace = {k: headers[k] for k in ("traceparent", "tracestate") if headers.get(k)}
        if trace:
            labels["trace"] = trace
        caller = metadata.get("fastagentic.caller")
        if isinstance(caller, dict):
            labels["caller"] = caller  # who delegated (informational, not an identity)
        context = CallContext(user=user, transport="a2a", kind="agent", name=spec.name,
                              headers=headers)
        idempotency = headers.get("idempotency-key") or None
        run, created = await self.app.pipeline.invoke(Invocation(
            spec, arguments, context,
            options={"labels": labels, "idempotency_key": idempotency}))
        engine = self.engine
        subscription = engine.hub.subscribe(run.id) \
            if created and engine.executing(run.id) and not immediately else None
        view = wire.TaskView(run)
        return Started(run, spec, view, run.last_seq if subscription else 0, history_length,
                       immediately, subscription)

    async def _continue(self, task_id: str, message: dict[str, Any], user: UserContext,
                        history_length: int | None, immediately: bool) -> Started:
        run = await self._run(task_id, user)
        context_id = wire.context_of(run)
        if message.get("contextId") and message["contextId"] != context_id:
            raise invalid_params(
                f"contextId {message['contextId']!r} does not match task {task_id}'s context "
                f"{context_id!r}", field="message.contextId")
        if run.status in rs.TERMINAL:
            raise A2AError(UNSUPPORTED_OPERATION,
                           f"task {task_id} is {_state_word(run)}; send a new message (with "
                           "its contextId) to start another task")
        if run.status != rs.INPUT_REQUIRED:
            raise A2AError(UNSUPPORTED_OPERATION,
                           f"task {task_id} is working and not waiting for input")
        spec = self.app.registry.runnable(run.endpoint)
        pending = run.pending or {}
        answer = wire.answer_from_message(pending, message)
        entry = message
        prompt = wire.prompt_message(pending, task_id, context_id)

        def labels(current: dict[str, Any]) -> dict[str, Any]:
            info = dict(current.get("a2a") or {"context_id": context_id})
            history = list(info.get("history") or ())
            history.extend([prompt, entry])
            info["history"] = history[-HISTORY_CAP:]
            info["message"] = message
            return {**current, "a2a": info}

        after = run.last_seq
        try:
            resumed = await self.engine.resume(task_id, user, answer=answer, has_answer=True,
                                               labels=labels, run=run)
        except Conflict as exc:
            raise A2AError(UNSUPPORTED_OPERATION, exc.message) from None
        view = await self.view(resumed, until=after)
        view.run = resumed
        return Started(resumed, spec, view, after, history_length, immediately,
                       follow_up=True)

    async def settle(self, started: Started) -> dict[str, Any]:
        """The answer to a non-streaming send (``SendMessageResponse``)."""
        view = started.view
        if not started.return_immediately:
            async for batch in self.engine.follow(started.run.id, started.after, until=SETTLE,
                                                  subscription=started.subscription):
                view.feed(batch)
        if view.status == rs.COMPLETED and wire.is_reply(view.output):
            return {"message": self._reply(view)}
        if started.return_immediately or view.status in (rs.QUEUED, rs.RUNNING):
            run = await self.engine.get(started.run.id)
            view = await self.view(run)
        else:
            # Refresh the labels (history) the follow-up wrote; the events gave the rest.
            view.run = started.run
        return {"task": view.task(history_length=started.history_length)}

    def _reply(self, view: wire.TaskView) -> dict[str, Any]:
        output = view.output
        return wire.agent_message(wire.reply_parts(output), None, view.context_id,
                                  metadata=output.get("metadata") or None)

    async def stream(self, started: Started
                     ) -> AsyncIterator[tuple[str | None, dict[str, Any]]]:
        """A streaming send: the Task, then its updates until it settles (or one Message).

        Each item comes with its SSE id (``wire.event_id``): where a subscriber that lost the
        stream resumes (``Last-Event-ID``)."""
        view = started.view
        mapper = wire.StreamMapper(view)

        def opening() -> list[tuple[str | None, dict[str, Any]]]:
            items: list[tuple[str | None, dict[str, Any]]] = [
                (str(started.after), {"task": view.task(history_length=started.history_length)})]
            if not started.follow_up and started.after > 0:
                # Its start was written with its acceptance (not followed): say it works.
                # (No id of its own: the snapshot already says so.)
                items.append((None, mapper.working()))
            return items

        held: list[ev.RunEvent] = []
        decided = started.follow_up or started.spec is None or not wire.may_reply(started.spec)
        if decided:
            for item in opening():
                yield item
        async for batch in self.engine.follow(started.run.id, started.after, until=SETTLE,
                                              subscription=started.subscription):
            if not decided:
                # The agent may answer with a Message instead of a Task: wait until it does
                # something (then it is a Task) or finishes.
                held.extend(batch)
                done = next((e for e in batch if e.type == ev.DONE), None)
                agent_spoke = any(e.type not in ev.LIFECYCLE_TYPES
                                  or e.type == ev.INPUT_REQUIRED for e in held)
                if done is not None and not agent_spoke:
                    data = done.data
                    if data.get("status") == rs.COMPLETED and wire.is_reply(data.get("output")):
                        view.feed(held)
                        yield str(done.seq), {"message": self._reply(view)}
                        return
                if done is None and not agent_spoke:
                    continue
                decided = True
                for item in opening():
                    yield item
                batch, held = held, []
            for event in batch:
                for index, item in enumerate(mapper.feed(event)):
                    yield wire.event_id(event.seq, index), item

    # cancel and subscribe

    async def cancel(self, params: Mapping[str, Any], user: UserContext) -> dict[str, Any]:
        task_id = _task_id(params, "id", "name")
        if task_id.startswith("tasks/"):
            task_id = task_id[len("tasks/"):]
        run = await self._run(task_id, user)
        if run.status in rs.TERMINAL:
            raise A2AError(TASK_NOT_CANCELABLE, f"task {task_id} is already {_state_word(run)}",
                           metadata={"taskId": task_id})
        try:
            run = await self.engine.cancel(task_id, user)
        except Conflict as exc:
            raise A2AError(TASK_NOT_CANCELABLE, exc.message,
                           metadata={"taskId": task_id}) from None
        if run.status not in rs.TERMINAL:  # executing on another replica: it stops shortly
            with contextlib.suppress(asyncio.TimeoutError):
                run = await asyncio.wait_for(self.engine.wait_settled(task_id), 10)
        return (await self.view(run)).task()

    async def subscribe(self, params: Mapping[str, Any], user: UserContext,
                        last_event_id: str | None = None
                        ) -> AsyncIterator[tuple[str | None, dict[str, Any]]]:
        """The Task now, then its updates until it finishes (``Last-Event-ID``: replay the
        updates after that point from the durable log instead of the snapshot)."""
        task_id = _task_id(params, "id", "name")
        if task_id.startswith("tasks/"):
            task_id = task_id[len("tasks/"):]
        run = await self._run(task_id, user)
        resume = wire.parse_event_id(last_event_id)
        if run.status in rs.TERMINAL and resume is None:
            raise A2AError(UNSUPPORTED_OPERATION,
                           f"task {task_id} has finished; get it with GetTask")
        return self._subscription(run, resume)

    async def _subscription(self, run: RunRecord, resume: tuple[int, int | None] | None
                            ) -> AsyncIterator[tuple[str | None, dict[str, Any]]]:
        if resume is None:
            view = await self.view(run)
            yield str(view.last_seq), {"task": view.task()}
            if view.status in rs.TERMINAL:
                return
            mapper = wire.StreamMapper(view, announce_working=False)
            after = view.last_seq
        else:
            # Rebuild the updates up to the resume point from the log, and send what follows.
            seq, seen = resume
            view = wire.TaskView.blank(run)
            mapper = wire.StreamMapper(view)
            after = seq
            for event in await self.engine.read_all(run.id, 0):
                if event.seq > seq:
                    break
                items = mapper.feed(event)
                if event.seq == seq and seen is not None:
                    for index, item in enumerate(items):
                        if index > seen:
                            yield wire.event_id(event.seq, index), item
            if view.status in rs.TERMINAL:
                return
        async for batch in self.engine.follow(run.id, after, until=FINISH):
            for event in batch:
                for index, item in enumerate(mapper.feed(event)):
                    yield wire.event_id(event.seq, index), item

    # push notification configs

    @property
    def policy(self) -> Any:
        return self.pusher.policy

    @property
    def pusher(self) -> Any:
        if self._push is None:
            from .push import PushDispatcher, PushSender, UrlPolicy

            settings = self.app.settings
            policy = UrlPolicy(settings.a2a_push_allow_hosts)
            sender = PushSender(policy, attempts=settings.a2a_push_attempts,
                                timeout=settings.a2a_push_timeout)
            self._push = _Push(policy, sender, PushDispatcher(sender))
        return self._push

    def _push_required(self) -> None:
        if not self.app.settings.a2a_push_notifications:
            raise A2AError(PUSH_NOT_SUPPORTED)

    @staticmethod
    def push_config_in(raw: Any, version: str, task_id: str | None) -> dict[str, Any]:
        """A client's push config (1.0 flat, 0.3 nested or 0.3 REST) in the 1.0 form."""
        if not isinstance(raw, dict):
            raise invalid_params("the push notification config must be an object",
                                 field="pushNotificationConfig")
        inner = wire.pick(raw, "pushNotificationConfig") or raw.get("config") or raw
        if isinstance(inner, dict) and wire.pick(inner, "pushNotificationConfig"):
            inner = wire.pick(inner, "pushNotificationConfig")
        if not isinstance(inner, dict):
            raise invalid_params("the push notification config must be an object",
                                 field="pushNotificationConfig")
        url = inner.get("url")
        if not isinstance(url, str) or not url:
            raise invalid_params("the push notification config needs a url", field="url")
        config: dict[str, Any] = {"url": url}
        config_id = inner.get("id")
        if not config_id and inner is not raw:
            config_id = wire.pick(raw, "configId")
        if config_id:
            config["id"] = str(config_id)
        if inner.get("token"):
            config["token"] = str(inner["token"])
        auth = inner.get("authentication")
        if isinstance(auth, dict):
            scheme = auth.get("scheme")
            if scheme is None and isinstance(auth.get("schemes"), list) and auth["schemes"]:
                scheme = auth["schemes"][0]
            if scheme:
                config["authentication"] = {"scheme": str(scheme)}
                if auth.get("credentials"):
                    config["authentication"]["credentials"] = str(auth["credentials"])
        if task_id:
            config["taskId"] = task_id
        return config

    async def _load_push(self, task_id: str) -> dict[str, Any]:
        return await self.engine.store.kv_get(PUSH_NS, task_id) or {"configs": {}}

    async def _save_push(self, task_id: str, config: dict[str, Any], version: str,
                         from_seq: int) -> dict[str, Any]:
        lock = self._push_locks.setdefault(task_id, asyncio.Lock())
        async with lock:
            doc = await self._load_push(task_id)
            configs = doc["configs"]
            if "id" not in config:
                config["id"] = _default_config_id(task_id, version, configs)
            config["taskId"] = task_id
            configs[config["id"]] = {**config, "version": version}
            await self.engine.store.kv_put(PUSH_NS, task_id, doc)
        self._watch(task_id, from_seq)
        return config

    async def create_push(self, params: Mapping[str, Any], user: UserContext, version: str,
                          task_id: str | None = None) -> dict[str, Any]:
        self._push_required()
        task_id = task_id or _task_id(params, "taskId", "id", "parent")
        if task_id.startswith("tasks/"):
            task_id = task_id[len("tasks/"):]
        run = await self._run(task_id, user)
        config = self.push_config_in(dict(params), version, task_id)
        await self.policy.check_on_set(config["url"])
        if run.status in rs.TERMINAL:
            # Kept (and listed) but there is nothing left to deliver.
            lock = self._push_locks.setdefault(task_id, asyncio.Lock())
            async with lock:
                doc = await self._load_push(task_id)
                if "id" not in config:
                    config["id"] = _default_config_id(task_id, version, doc["configs"])
                doc["configs"][config["id"]] = {**config, "version": version}
                await self.engine.store.kv_put(PUSH_NS, task_id, doc)
            return config
        return await self._save_push(task_id, config, version, from_seq=run.last_seq)

    async def get_push(self, task_id: str, config_id: str | None, user: UserContext
                       ) -> dict[str, Any]:
        self._push_required()
        await self._run(task_id, user)
        configs = (await self._load_push(task_id))["configs"]
        if not config_id:
            config_id = task_id if task_id in configs else next(iter(configs), None)
        config = configs.get(config_id or "")
        if config is None:
            raise A2AError(-32001, f"no push notification config {config_id!r} for task "
                           f"{task_id}", metadata={"taskId": task_id})
        return {k: v for k, v in config.items() if k != "version"}

    async def list_push(self, task_id: str, user: UserContext) -> list[dict[str, Any]]:
        self._push_required()
        await self._run(task_id, user)
        configs = (await self._load_push(task_id))["configs"]
        return [{k: v for k, v in c.items() if k != "version"} for c in configs.values()]

    async def delete_push(self, task_id: str, config_id: str | None, user: UserContext
                          ) -> None:
        self._push_required()
        await self._run(task_id, user)
        if not config_id:
            raise invalid_params("the push notification config id is required", field="id")
        lock = self._push_locks.setdefault(task_id, asyncio.Lock())
        async with lock:
            doc = await self._load_push(task_id)
            if doc["configs"].pop(config_id, None) is not None:
                await self.engine.store.kv_put(PUSH_NS, task_id, doc)

    # push delivery: one watcher per task on the replica where a config was set

    def _watch(self, task_id: str, from_seq: int) -> None:
        if task_id in self._watchers and not self._watchers[task_id].done():
            return
        task = asyncio.get_running_loop().create_task(self._deliver(task_id, from_seq),
                                                      name=f"a2a-push-{task_id}")
        self._watchers[task_id] = task
        task.add_done_callback(lambda t, tid=task_id: self._watchers.pop(tid, None)
                               if self._watchers.get(tid) is t else None)

    async def _deliver(self, task_id: str, from_seq: int) -> None:
        try:
            run = await self.engine.get(task_id)
            view = await self.view(run, until=from_seq)
            if from_seq == 0:  # set with the message that created the task: the Task first
                await self._send_push(task_id, view, {"task": view.task()}, first=True)
            mapper = wire.StreamMapper(view, announce_working=from_seq == 0)
            async for batch in self.engine.follow(task_id, from_seq, until=FINISH):
                for event in batch:
                    for item in mapper.feed(event):
                        await self._send_push(task_id, view, item)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("push delivery for task %s stopped", task_id)

    async def _send_push(self, task_id: str, view: wire.TaskView, item: dict[str, Any],
                         first: bool = False) -> None:
        configs = list((await self._load_push(task_id))["configs"].values())
        if not configs:
            return
        v10 = [c for c in configs if c.get("version") != wire.V03]
        v03 = [c for c in configs if c.get("version") == wire.V03]
        if v10:
            self.pusher.dispatcher.submit(task_id, v10, to_json(item))
        # 0.3 webhooks get the whole Task when its state changes (0.3 spec §9.5).
        if v03 and (first or "statusUpdate" in item):
            body = to_json(wire.task_v03(view.task()))
            self.pusher.dispatcher.submit(task_id, v03, body)

    async def close(self) -> None:
        for task in list(self._watchers.values()):
            task.cancel()
        for task in list(self._watchers.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._watchers.clear()
        if self._push is not None:
            await self._push.dispatcher.aclose()  # closes the sender too
            self._push = None


def _default_config_id(task_id: str, version: str, taken: Mapping[str, Any]) -> str:
    """The id of a push config set without one: the task's id in 1.0 (as the reference SDK
    does); ``default`` in 0.3 (what 0.3 clients ask for); a fresh id once that is taken."""
    wanted = "default" if version == wire.V03 else task_id
    return wanted if wanted not in taken else wire.new_id()


@dataclass(slots=True)
class _Push:
    policy: Any
    sender: Any
    dispatcher: Any
