"""``App``: an ASGI application built on FastAPI that serves every definition."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import logging
import sys
import weakref
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from fastapi import FastAPI
from starlette.routing import Route

from .core.context import bind_user, unbind_user
from .core.engine import RunEngine
from .core.lifecycle import Lifecycle, watch_store
from .core.pipeline import Pipeline, Stage
from .core.registry import Registry
from .core.specs import Spec, make_agent, make_prompt, make_resource, make_tool
from .exceptions import ConfigurationError, FastAgenticError
from .protocols import errors, openapi
from .protocols.a2a.http import A2AHttp
from .protocols.http import USER_SCOPE_KEY
from .protocols.limits import BodyLimit
from .protocols.mcp.http import StreamableHttp
from .protocols.mcp.legacy_sse import LegacySse
from .protocols.mcp.server import McpServer
from .protocols.rest import RestView
from .settings import Settings
from .stores.base import Store
from .stores.factory import store_from_url

# FastAPI >= 0.165 traces requests itself once a global OpenTelemetry provider is set: the
# App's own tracing (``configure_otel``) does it, so FastAPI's is off (no duplicate spans).
_NO_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters else {})

SPEC_ATTR = "__fastagentic_spec__"
PENDING_ATTR = "__fastagentic_pending__"
logger = logging.getLogger("fastagentic.app")

# Apps by the module namespace (globals dict) that created them: the bare ``@tool`` form
# registers with the App of the function's own module (``fn.__globals__``), so two Apps in one
# process never share definitions, and a module loaded twice under one name is two namespaces.
_apps_by_namespace: dict[int, list[weakref.ref[App]]] = {}
_pending_by_namespace: dict[int, list[Callable[..., Any]]] = {}


_frozen = False


def freeze_after_startup(settings: Settings) -> None:
    """``gc_freeze``: the first app this process serves (over HTTP, as a worker or on stdio)
    has started; what is alive now lives as long as the process, so the collector stops
    tracing it, and looks at what calls allocate in passes of ``gc_young_threshold`` (once
    per process: a process serving apps one after another, such as a test run, freezes only
    the first)."""
    global _frozen
    if settings.gc_freeze and not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()
        if settings.gc_young_threshold:
            gc.set_threshold(settings.gc_young_threshold, *gc.get_threshold()[1:])


def _namespace_of(fn: Callable[..., Any]) -> dict[str, Any] | None:
    return getattr(fn, "__globals__", None)


def _decorator(register: Callable[..., Spec], fn: Callable[..., Any] | None, **kwargs: Any):  # noqa: ANN202
    def wrap(f: Callable[..., Any]) -> Callable[..., Any]:
        register(f, **kwargs)
        return f

    return wrap(fn) if fn is not None else wrap


class App:
    """One definition, many views: REST, SSE and WebSocket now; MCP and A2A plug in here.

    ``App`` is itself the ASGI application (``uvicorn module:app``); the underlying FastAPI is
    ``app.fastapi`` (its route decorators are also reachable on ``app``: ``@app.get(...)``).
    """

    def __init__(
        self,
        title: str | None = None,
        version: str | None = None,
        description: str | None = None,
        durable_store: str | Store | None = None,
        *,
        lifespan: Callable[[FastAPI], contextlib.AbstractAsyncContextManager[Any]] | None = None,
        **settings: Any,
    ) -> None:
        given = {k: v for k, v in dict(title=title, version=version, description=description,
                                       **settings).items() if v is not None}
        self._store_override: Store | None = None
        if isinstance(durable_store, Store):
            self._store_override = durable_store
        elif durable_store is not None:
            given["durable_store"] = durable_store
        try:
            self.settings = Settings(**given)
        except Exception as exc:
            raise ConfigurationError(f"invalid App configuration: {exc}") from exc
        self.registry = Registry()
        self.pipeline = Pipeline()
        self._store: Store | None = None
        self._engine: RunEngine | None = None
        self._user_lifespan = lifespan
        self._openapi_cache: tuple[int, dict[str, Any]] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        # Governance: each piece is off (and costs nothing) until configured; each exposes a
        # pipeline ``stage`` and ``_governance_changed`` puts them in their fixed order.
        #: ``auth.base.AuthSettings`` (``configure_oidc``, ``require_auth``, API keys).
        self.auth: Any = None
        self._gate: Any = None  # auth.gate.AuthGate, set with ``auth``
        #: ``policy.authz.Authorization``: scopes/roles per definition (on with auth).
        self.authorization: Any = None
        #: ``policy.base.Policy`` objects (``before_run``, ``after_run``, ``on_checkpoint``).
        self.policies: list[Any] = []
        #: ``policy.rate_limit.RateLimits`` (``app.rate_limit(...)``).
        self.rate_limits: Any = None
        #: ``policy.quotas.Quotas`` (``app.quota(...)``).
        self.quotas: Any = None
        #: ``cost.budget.Budgets`` (``app.budget(...)``).
        self.budgets: Any = None
        from .audit.api import AuditApi
        from .audit.log import AuditLog

        #: The hash-chained audit log (``App(audit=True)``).
        self.audit = AuditLog(self)
        from .cost.prices import Prices
        from .cost.usage import UsageApi, UsageLedger

        #: Model prices: ``App(model_prices=...)`` over genai-prices.
        self.prices = Prices(self.settings.model_prices)
        #: Usage per user and tenant (``GET /usage``).
        self.usage = UsageLedger(self)
        #: Hooks (``add_hook``) and telemetry watchers (``configure_otel``, metrics).
        self.lifecycle = Lifecycle()
        self.fastapi = FastAPI(
            title=self.settings.title, version=self.settings.version,
            description=self.settings.description, lifespan=self._lifespan, **_NO_TELEMETRY,
        )
        self.fastapi.state.fastagentic = self
        self.fastapi.add_exception_handler(FastAgenticError, errors.handle_fastagentic_error)
        self.fastapi.add_exception_handler(Exception, errors.handle_unexpected)
        self._rest = RestView(self)
        self.fastapi.router.routes.extend(self._rest.routes())
        self.fastapi.router.routes.extend(AuditApi(self).routes())  # GET /audit (admins)
        self.fastapi.router.routes.extend(UsageApi(self).routes())
        self.mcp = McpServer(self)
        self._mcp_http = StreamableHttp(self, self.mcp)
        mcp_path = self.settings.mcp_path
        legacy = LegacySse(self._mcp_http, self.mcp, self.settings.mcp_messages_path)
        self.fastapi.router.routes.extend([
            Route(mcp_path + "/schema", self._mcp_http.schema, methods=["GET"]),
            Route("/.well-known/oauth-protected-resource", self._mcp_http.resource_metadata,
                  methods=["GET"]),
            Route("/.well-known/oauth-protected-resource" + mcp_path,
                  self._mcp_http.resource_metadata, methods=["GET"]),
            Route(mcp_path, self._mcp_http),
            Route(self.settings.mcp_sse_path, legacy.stream, methods=["GET"]),
            Route(self.settings.mcp_messages_path, legacy.post, methods=["POST"]),
        ])
        self.a2a = A2AHttp(self)
        a2a_path = self.settings.a2a_path
        self.fastapi.router.routes.extend([
            Route("/.well-known/agent-card.json", self.a2a.card, methods=["GET"]),
            Route("/.well-known/agent.json", self.a2a.card, methods=["GET"]),
            Route(a2a_path, self.a2a, methods=["POST", "GET"]),
            Route(a2a_path + "/{rest:path}", self.a2a, methods=["GET", "POST", "DELETE"]),
        ])
        self._a2a_path = a2a_path
        self._a2a_prefix = a2a_path + "/"
        self._a2a_asgi = BodyLimit(self.a2a, self.settings)
        self._agents: Any = None
        self.fastapi.openapi = lambda: openapi.build(self)  # type: ignore[method-assign]
        self._asgi = BodyLimit(self.fastapi, self.settings)
        self._mcp_path = self.settings.mcp_path
        self._mcp_asgi = BodyLimit(self._mcp_http, self.settings)
        if self.settings.metrics:
            from .telemetry.metrics import enable_metrics

            enable_metrics(self, path=self.settings.metrics_path)
        if self.settings.oidc_issuer and self.settings.oidc_audience:
            from .auth.oidc import configure_oidc

            configure_oidc(self)  # FASTAGENTIC_OIDC_ISSUER + _AUDIENCE (+ _JWKS_URL)
        # Held so the namespace's id cannot be reused while this App lives.
        self._namespace = sys._getframe(1).f_globals
        _apps_by_namespace.setdefault(id(self._namespace), []).append(weakref.ref(self))
        for fn in _pending_by_namespace.pop(id(self._namespace), []):
            self._adopt(fn)

    # ASGI

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        gate = self._gate
        if gate is not None and scope["type"] != "lifespan":
            user = gate.known(scope)
            if user is None:
                await gate(scope, receive, send, self._serve)
                return
            # A token the authenticator verified before: admitted here, one frame less.
            scope[USER_SCOPE_KEY] = user
            token = bind_user(user)
            try:
                await self._serve(scope, receive, send)
            finally:
                unbind_user(token)
            return
        await self._serve(scope, receive, send)

    async def _serve(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == self._mcp_path \
                and not self.fastapi.user_middleware:
            # The MCP endpoint is in every agent's hot path: it skips the router's walk and
            # FastAPI's layers (its errors are JSON-RPC errors anyway).  With middleware of the
            # user's, it goes through FastAPI so that middleware applies.
            await self._mcp_asgi(scope, receive, send)
            return
        if scope["type"] == "http" and not self.fastapi.user_middleware and (
                scope["path"] == self._a2a_path or scope["path"].startswith(self._a2a_prefix)):
            await self._a2a_asgi(scope, receive, send)  # the same fast path for A2A
            return
        await self._asgi(scope, receive, send)

    def __getattr__(self, name: str) -> Any:
        # FastAPI's own API (``get``, ``post``, ``include_router``, ``add_middleware``, ...).
        if name.startswith("_") or name == "fastapi" or "fastapi" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.fastapi, name)

    # running

    @property
    def store(self) -> Store:
        if self._store is None:
            raise ConfigurationError("the app is not running (serve it, or use app.running())")
        return self._store

    @property
    def engine(self) -> RunEngine:
        if self._engine is None:
            raise ConfigurationError("the app is not running (serve it, or use app.running())")
        return self._engine

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[App]:
        """Open the store and start the run engine (the ASGI lifespan does this when served)."""
        if self.rate_limits is not None:
            self.rate_limits.open()  # its rules name definitions that exist
        self._governance_changed()  # settings changed since (``audit``) take effect here
        store = self._store_override or store_from_url(self.settings.durable_store)
        if self.settings.tenant_stores:
            from .stores.tenants import TenantStores

            store = TenantStores(store, {tenant: store_from_url(url) for tenant, url
                                         in self.settings.tenant_stores.items()},
                                 owns_default=self._store_override is None)
        if self.settings.checkpoint_store:
            from .stores.s3 import blobs_from_url
            from .stores.split import SplitStore

            store = SplitStore(store, blobs_from_url(self.settings.checkpoint_store))
        await store.open()
        engine = RunEngine(store, self.registry, self.pipeline,
                           lease_ttl=self.settings.lease_ttl,
                           poll_interval=self.settings.poll_interval,
                           worker=self.settings.worker,
                           concurrency=self.settings.worker_concurrency,
                           drain=self.settings.shutdown_drain)
        self._store, self._engine = store, engine
        engine.lifecycle = self.lifecycle
        self._lifecycle_changed()
        if self.lifecycle.watchers:
            watch_store(store, self.lifecycle)
        engine.delegator = lambda: self.agents
        from .policy.runner import RunGovernance

        engine.governance = RunGovernance(self)
        await engine.start()
        retention = self._start_retention(store) if self.settings.worker else None
        try:
            yield self
        finally:
            if retention is not None:
                retention.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await retention
            await self.a2a.service.close()
            if self._agents is not None:
                await self._agents.aclose()
            await self.mcp.tasks.close()
            await engine.stop(grace=self.settings.shutdown_grace)
            if self.rate_limits is not None:
                await self.rate_limits.close()
            await self.audit.drain()
            self._engine = None
            self._store = None
            if self._store_override is None or store is not self._store_override:
                await store.close()

    def _start_retention(self, store: Any) -> asyncio.Task[None] | None:
        """Worker processes prune finished runs (``retention_*`` settings), one process at a
        time (a lock in the store), every ``retention_interval`` seconds."""
        from .stores.retention import RetentionPolicy

        s = self.settings
        policy = RetentionPolicy(events=s.retention_events, checkpoints=s.retention_checkpoints,
                                 runs=s.retention_runs)
        if not policy.active:
            return None
        return asyncio.create_task(self._retention_loop(store, policy),
                                   name="fastagentic-retention")

    async def _retention_loop(self, store: Any, policy: Any) -> None:
        from .stores.retention import NAMESPACE, prune

        interval = self.settings.retention_interval
        archive, blobs = None, None
        if self.settings.archive_store:
            from .stores.archive import Archive
            from .stores.s3 import blobs_from_url

            blobs = blobs_from_url(self.settings.archive_store)
            await blobs.open()
            archive = Archive(blobs)
        try:
            while True:
                try:
                    owner = self.engine.owner
                    if await store.kv_put_new(NAMESPACE, "lock", owner, ttl=interval * 0.9):
                        report = await prune(store, policy, archive=archive)
                        if any(report.as_dict().values()):
                            logger.info("retention: %s", report.as_dict())
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("retention pass failed")
                await asyncio.sleep(interval)
        finally:
            if blobs is not None:
                await blobs.close()

    @contextlib.asynccontextmanager
    async def _lifespan(self, fastapi_app: FastAPI) -> AsyncIterator[Any]:
        if self.settings.log_format != "off":  # served: the process's logging is ours
            from .telemetry.logs import configure_logging

            fmt = self.settings.log_format
            configure_logging(json=None if fmt == "auto" else fmt == "json",
                              level=self.settings.log_level)
        async with self.running():
            if self._user_lifespan is None:
                freeze_after_startup(self.settings)
                yield None
            else:
                async with self._user_lifespan(fastapi_app) as state:
                    freeze_after_startup(self.settings)
                    yield state

    @property
    def agents(self) -> Any:
        """The agent registry runs delegate through (``ctx.delegate``): this app's agent
        endpoints, plus external A2A agents added with ``app.agents.add_remote(...)``."""
        if self._agents is None:
            from .a2a.registry import AgentRegistry

            self._agents = AgentRegistry(self)
        return self._agents

    # authentication

    def require_auth(self, authenticator: Any, *, authorization_servers: list[str] | None = None,
                     scopes: list[str] | None = None, resource: str | None = None,
                     public_paths: list[str] | None = None,
                     required_scopes: list[str] | None = None) -> None:
        """Require credentials on every transport: ``authenticator(token, headers)`` returns
        the caller's ``UserContext`` or raises ``Unauthenticated``/``InsufficientScope``
        (``configure_oidc`` installs a JWT verifier here).  API keys (``app.api_keys``) are
        accepted besides; every caller needs ``required_scopes``, and definitions'
        ``scopes=``/``roles=`` are enforced from now on.  ``scopes`` are the ones advertised
        (RFC 9728 metadata, the A2A card); ``public_paths`` (``/status``, ``/pages/*``) need no
        credentials."""
        from .auth.base import AuthSettings
        from .auth.chain import CredentialChain
        from .auth.gate import AuthGate
        from .policy.authz import Authorization

        self.auth = AuthSettings(
            CredentialChain(authenticator, lambda: self.api_keys, required_scopes or ()),
            list(authorization_servers or []), list(scopes or []), resource,
            public_paths=[*self.settings.auth_public_paths, *(public_paths or [])],
            sessions=self.auth.sessions if self.auth is not None else None)
        self._gate = AuthGate(self)
        self.authorization = Authorization(self)
        if self.settings.auth_sessions:
            from .auth.sessions import enable_sessions

            enable_sessions(self, allowed_origins=self.settings.auth_session_origins)
        self._governance_changed()

    @property
    def api_keys(self) -> Any:
        """API keys for service accounts (``auth.api_keys.ApiKeys``; the app must be running:
        they live in its store)."""
        from .auth.api_keys import ApiKeys

        return ApiKeys(lambda: self.store)

    # hooks

    def add_hook(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Register ``fn`` for the hook point ``name`` (``on_request``, ``on_response``,
        ``on_llm_start``, ``on_llm_end``, ``on_tool_call``, ``on_tool_result``,
        ``on_node_enter``, ``on_node_exit``, ``on_checkpoint``, ``on_error``).  It gets a
        ``HookEvent`` on every transport and in background runs, and may observe it, change
        ``event.data`` (or return a new dict) or ``raise Reject(reason)``."""
        self.lifecycle.add_hook(name, fn)
        self._lifecycle_changed()
        return fn

    def hook(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """``@app.hook("on_tool_call")``: :meth:`add_hook` as a decorator."""
        return lambda fn: self.add_hook(name, fn)

    def add_guardrail(self, guardrail: Any, *, on: Any = ("input", "output")) -> Any:
        """Check inputs and/or outputs with ``guardrail`` (``fastagentic.guardrails``): it
        allows, blocks (``hook_rejected`` on every transport) or rewrites each text."""
        from .guardrails import add_guardrail

        return add_guardrail(self, guardrail, on=on)

    def _lifecycle_changed(self) -> None:
        self.pipeline.set_observer(self.lifecycle.stage if self.lifecycle.active else None)

    # governance

    def _governance_changed(self) -> None:
        """Put the configured governance stages in the pipeline, outermost first: audit (so it
        records what the others refuse), authorization, policies, rate limits, quotas,
        budgets."""
        from .core.pipeline import combine
        from .policy.base import policy_stage

        pieces = [self.audit if self.audit.enabled else None, self.authorization,
                  policy_stage(self), self.rate_limits, self.quotas, self.budgets]
        self.pipeline.set_governance(combine([p for p in pieces if p is not None]))

    def rate_limit(self, limit: str, *, per: str = "user", endpoints: Iterable[str] | None = None,
                   name: str | None = None, strategy: str = "sliding-window-counter",
                   in_runs: bool = False) -> Any:
        """Limit calls on every transport (see :mod:`fastagentic.policy.rate_limit`):
        ``limit`` is one window or several (``"10/second;100/minute"``: burst and sustained),
        counted ``per`` "user", "tenant", "endpoint", "user+endpoint", "tenant+endpoint" or
        "global"; ``endpoints`` restricts it to those definitions; ``in_runs`` also throttles
        the tool calls runs make.  Counters live in ``rate_limit_store`` (memory or Redis)."""
        from .policy.rate_limit import RateLimits

        if self.rate_limits is None:
            self.rate_limits = RateLimits(self)
        rule = self.rate_limits.add(limit, per=per, endpoints=endpoints, name=name,
                                    strategy=strategy, in_runs=in_runs)
        self._governance_changed()
        return rule

    def quota(self, *, runs: int | None = None, tokens: int | None = None, per: str = "user",
              period: str | float = "day", endpoints: Iterable[str] | None = None,
              name: str | None = None) -> Any:
        """A quota of ``runs`` accepted or model ``tokens`` used per ``per`` ("user",
        "tenant" or "global") per ``period`` ("minute", "hour", "day", "week", "month" or
        seconds), kept in the durable store (see :mod:`fastagentic.policy.quotas`); callers
        see theirs at ``GET /quotas``."""
        from .policy.quotas import Quotas

        if self.quotas is None:
            self.quotas = Quotas(self)
            self.fastapi.router.routes.append(
                Route("/quotas", self.quotas.endpoint, methods=["GET"]))
        rule = self.quotas.add(runs=runs, tokens=tokens, per=per, period=period,
                               endpoints=endpoints, name=name)
        self._governance_changed()
        return rule

    def add_policy(self, policy: Any) -> Any:
        """Add a :class:`~fastagentic.policy.Policy` (asked in the order added)."""
        from .policy.base import Policy

        if not isinstance(policy, Policy):
            raise ConfigurationError(f"{policy!r} is not a fastagentic.policy.Policy")
        self.policies.append(policy)
        self._governance_changed()
        return policy

    def _policy_decorator(self, point: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        from .policy.base import FunctionPolicy

        self.add_policy(FunctionPolicy(point, fn))
        return fn

    def before_run(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``@app.before_run``: ``(start: RunStart) -> allow() | deny(reason) |
        modify(arguments=...) | None``."""
        return self._policy_decorator("before_run", fn)

    def after_run(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``@app.after_run``: ``(run, output) -> allow() | deny(reason) |
        modify(output=...) | None``."""
        return self._policy_decorator("after_run", fn)

    def on_checkpoint(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``@app.on_checkpoint``: ``(run, draft) -> allow() | deny(reason) |
        modify(state=..., metadata=...) | None``."""
        return self._policy_decorator("on_checkpoint", fn)

    def budget(self, usd: float, *, per: str = "tenant", period: str | int | None = None,
               on_exhausted: str = "reject", downgrade_to: Any = None,
               alerts: tuple[float, ...] = (0.8, 1.0), estimate_output_tokens: int = 1024,
               name: str = "") -> Any:
        """A cost budget (see :mod:`fastagentic.cost.budget`): ``usd`` per run, user or
        tenant, per ``period`` (None, "day", "month" or seconds); ``on_exhausted`` is
        "reject", "pause" or "downgrade" (to ``downgrade_to``)."""
        from .cost.budget import Budget, Budgets

        if self.budgets is None:
            self.budgets = Budgets(self)
        budget = self.budgets.add(Budget(
            usd=usd, per=per, period=period, on_exhausted=on_exhausted,
            downgrade_to=downgrade_to, alerts=tuple(alerts),
            estimate_output_tokens=estimate_output_tokens, name=name))
        self._governance_changed()
        return budget

    def on_budget_alert(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``@app.on_budget_alert``: called once per budget window and threshold crossed
        (``{"budget", "per", "subject", "threshold", "limit_usd", "spent_usd", ...}``)."""
        from .cost.budget import Budgets

        if self.budgets is None:
            self.budgets = Budgets(self)
        self.budgets.alert_hooks.append(fn)
        return fn

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run ``coro`` in the background, kept referenced until it ends."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # the pipeline

    def use(self, stage: Stage) -> Stage:
        """Add a pipeline stage (``async def stage(call, call_next)``); usable as a decorator."""
        self.pipeline.use(stage)
        return stage

    # registration

    def add(self, spec: Spec) -> Spec:
        self.registry.add(spec)
        if spec.kind == "agent":
            self.fastapi.router.routes.extend(self._rest.agent_routes(spec))  # type: ignore[arg-type]
        if self._engine is not None:  # added while serving: tell connected MCP clients
            task = asyncio.get_running_loop().create_task(self.mcp.list_changed(spec.kind))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return spec

    async def notify_resource_updated(self, uri: str) -> int:
        """Tell MCP clients subscribed to ``uri`` that it changed; returns how many sessions."""
        return await self.mcp.resource_updated(uri)

    def _register(self, fn: Callable[..., Any], spec: Spec) -> Spec:
        self.add(spec)
        try:
            setattr(fn, SPEC_ATTR, spec)
        except (AttributeError, TypeError):
            pass
        return spec

    def tool(self, fn: Callable[..., Any] | None = None, /, **options: Any):  # noqa: ANN201
        """Register a tool: ``POST /tools/{name}`` (and an MCP tool)."""
        return _decorator(lambda f, **kw: self._register(f, make_tool(f, **kw)), fn, **options)

    def resource(self, uri: str | Callable[..., Any] | None = None, /, **options: Any):  # noqa: ANN201
        """Register a resource: ``GET /resources/{name}``; ``uri`` may be a URI template."""
        if callable(uri):  # bare @app.resource
            self._register(uri, make_resource(uri))
            return uri
        return _decorator(lambda f, **kw: self._register(f, make_resource(f, uri, **kw)), None,
                          **options)

    def prompt(self, fn: Callable[..., Any] | None = None, /, **options: Any):  # noqa: ANN201
        """Register a prompt template: ``POST /prompts/{name}`` (and an MCP prompt)."""
        return _decorator(lambda f, **kw: self._register(f, make_prompt(f, **kw)), fn, **options)

    def agent_endpoint(self, path: str, /, **options: Any):  # noqa: ANN201
        """Register an agent endpoint: ``POST {path}``, ``{path}/stream``, ``{path}/ws``."""
        if not isinstance(path, str):
            raise ConfigurationError("use @app.agent_endpoint('/path', ...)")
        return _decorator(lambda f, **kw: self._register(f, make_agent(f, path, **kw)), None,
                          **options)

    def include(self, *targets: Any) -> None:
        """Adopt definitions made with the bare decorators in other modules (or functions)."""
        for target in targets:
            if inspect.ismodule(target):
                for fn in _pending_by_namespace.pop(id(vars(target)), []):
                    self._adopt(fn)
            elif callable(target) and hasattr(target, PENDING_ATTR):
                namespace = _namespace_of(target)
                pending = _pending_by_namespace.get(id(namespace), []) if namespace else []
                if target in pending:
                    pending.remove(target)
                self._adopt(target)
            else:
                raise ConfigurationError(f"cannot include {target!r}: not a module or a "
                                         "function decorated with fastagentic's decorators")

    def _adopt(self, fn: Callable[..., Any]) -> None:
        kind, args, options = getattr(fn, PENDING_ATTR)
        method = getattr(self, kind)
        if args:
            method(*args, **options)(fn)
        else:
            method(**options)(fn)


def register_bare(kind: str, fn: Callable[..., Any], args: tuple[Any, ...],
                  options: dict[str, Any]) -> Callable[..., Any]:
    """The bare decorators: register with the App of ``fn``'s module, or hold until one exists."""
    setattr(fn, PENDING_ATTR, (kind, args, options))
    namespace = _namespace_of(fn)
    if namespace is None:
        raise ConfigurationError(f"@{kind} decorates functions; got {fn!r}")
    key = id(namespace)
    apps = [a for ref in _apps_by_namespace.get(key, [])
            if (a := ref()) is not None and a._namespace is namespace]
    if len(apps) > 1:
        module = namespace.get("__name__", "?")
        raise ConfigurationError(
            f"module {module!r} creates several Apps: use @app.{kind}(...) to choose one")
    if apps:
        apps[0]._adopt(fn)
    else:
        _pending_by_namespace.setdefault(key, []).append(fn)
    return fn
