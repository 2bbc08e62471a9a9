"""The invocation pipeline: the one code path every transport calls.

``authenticate → authorize/policy → rate limit/budget → hooks → execute → audit → metrics``:
each concern is a *stage* (``async def stage(call, call_next)``) added with :meth:`Pipeline.use`;
the terminal step runs the user's code (tools, resources, prompts) or hands the call to the run
engine (agent runs).  With no stages the pipeline costs one function call.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import itertools
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pydantic import BaseModel

from .context import CallContext
from .signature import CallSignature
from .specs import Spec

Stage = Callable[["Invocation", Callable[["Invocation"], Awaitable[Any]]], Awaitable[Any]]


@dataclass(slots=True)
class Invocation:
    """One call on the pipeline: what (``spec``), with what (``arguments``), by whom
    (``context``)."""

    spec: Spec
    arguments: BaseModel
    context: CallContext
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.spec.kind


#: Sync user code runs here (as many threads as anyio's default limit; a plain executor hop
#: costs less than half of anyio's under load).
_THREADS = ThreadPoolExecutor(max_workers=40, thread_name_prefix="fastagentic-sync")


async def call_user_function(
    fn: Callable[..., Any],
    signature: CallSignature,
    arguments: BaseModel,
    injections: dict[type, Any],
) -> Any:
    """Run user code: coroutines awaited, sync functions off the event loop (with the caller's
    context variables)."""
    kwargs = signature.kwargs(arguments, injections)
    if _is_async(fn):
        return await fn(**kwargs)
    context = contextvars.copy_context()
    result = await asyncio.get_running_loop().run_in_executor(
        _THREADS, partial(context.run, fn, **kwargs))
    if inspect.isawaitable(result):
        result = await result
    return result


def _is_async(fn: Callable[..., Any]) -> bool:
    """``inspect.iscoroutinefunction``, told once per function (it costs several calls)."""
    try:
        return _is_async_known(fn)
    except TypeError:  # an unhashable callable object: asked each time
        return inspect.iscoroutinefunction(fn)


_is_async_known = functools.lru_cache(maxsize=4096)(inspect.iscoroutinefunction)


class Checks:
    """Stages that usually decide a call without awaiting anything, run as one stage.

    Each piece has ``stage`` (the stage, as usual) and ``fast(call) -> bool``: True when the
    call passes that stage with nothing to await and nothing to wrap around the rest (what it
    counts, it has counted); False when its stage must decide, having changed nothing.  A call
    that every piece passes fast costs one frame; at the first piece that cannot tell, the
    stages from that piece on run as written.  A stage that can run them in its own frame (the
    audit's) takes them with ``stage_with(checks)`` and calls :meth:`next_for` itself."""

    def __init__(self, pieces: list[Any]) -> None:
        self._fast = [piece.fast for piece in pieces]
        self._stages: list[Stage] = [piece.stage for piece in pieces]

    def next_for(self, call: Invocation, call_next: Callable[[Invocation], Awaitable[Any]]
                 ) -> Callable[[Invocation], Awaitable[Any]]:
        """What runs ``call`` after these checks: ``call_next`` itself when every piece passes
        it fast, else the stages from the first piece that cannot tell, around
        ``call_next``."""
        for at, fast in enumerate(self._fast):
            if not fast(call):
                chain = call_next
                for stage in reversed(self._stages[at:]):
                    chain = partial(stage, call_next=chain)  # type: ignore[call-arg]
                return chain
        return call_next

    async def stage(self, call: Invocation, call_next: Callable[[Invocation], Awaitable[Any]]
                    ) -> Any:
        return await self.next_for(call, call_next)(call)


def combine(pieces: list[Any]) -> list[Stage]:
    """The stages of ``pieces`` in order, each run of consecutive pieces with ``fast`` as one
    :class:`Checks` stage, inside the frame of the piece before it when that piece has
    ``stage_with``."""
    stages: list[Stage] = []
    at = 0
    while at < len(pieces):
        run = list(itertools.takewhile(_has_fast, pieces[at:]))
        if run:  # fast pieces not taken by the piece before them
            stages.append(Checks(run).stage if len(run) > 1 else run[0].stage)
            at += len(run)
            continue
        piece = pieces[at]
        run = list(itertools.takewhile(_has_fast, pieces[at + 1:]))
        if run and getattr(piece, "stage_with", None) is not None:
            stages.append(piece.stage_with(Checks(run)))
            at += 1 + len(run)
        else:
            stages.append(piece.stage)
            at += 1
    return stages


def _has_fast(piece: Any) -> bool:
    return getattr(piece, "fast", None) is not None


class Pipeline:
    def __init__(self) -> None:
        self._stages: list[Stage] = []
        #: The built-in governance stages (authorization, policies, rate limits, quotas,
        #: budgets, audit), always outermost, in the order the App sets them.
        self._governance: list[Stage] = []
        #: Hooks and telemetry (``core.lifecycle``), outermost of all when set.
        self._observer: Stage | None = None
        self._terminals: dict[str, Callable[[Invocation], Awaitable[Any]]] = {}
        self._chain: Callable[[Invocation], Awaitable[Any]] = self._execute

    def use(self, stage: Stage) -> None:
        """Add a stage; stages run in the order they were added, around the execution."""
        self._stages.append(stage)
        self._rebuild()

    def set_governance(self, stages: list[Stage]) -> None:
        """Replace the governance stages (they run before the user's stages)."""
        self._governance = list(stages)
        self._rebuild()

    def set_observer(self, stage: Stage | None) -> None:
        """Set (or remove) the outermost stage, which sees every call and its outcome."""
        self._observer = stage
        self._rebuild()

    def set_terminal(self, kind: str, handler: Callable[[Invocation], Awaitable[Any]]) -> None:
        """How calls of ``kind`` execute (the run engine registers itself for ``agent``)."""
        self._terminals[kind] = handler

    def _rebuild(self) -> None:
        chain: Callable[[Invocation], Awaitable[Any]] = self._execute
        observer = [self._observer] if self._observer is not None else []
        for stage in reversed(observer + self._governance + self._stages):
            chain = partial(stage, call_next=chain)  # type: ignore[call-arg]
        self._chain = chain

    async def invoke(self, call: Invocation) -> Any:
        return await self._chain(call)

    async def _execute(self, call: Invocation) -> Any:
        terminal = self._terminals.get(call.spec.kind)
        if terminal is not None:
            return await terminal(call)
        injections = {CallContext: call.context, type(call.context.user): call.context.user}
        return await call_user_function(
            call.spec.fn, call.spec.signature, call.arguments, injections
        )
