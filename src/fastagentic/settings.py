"""Configuration: ``App(...)`` arguments, else ``FASTAGENTIC_*`` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .stores.factory import DEFAULT_URL


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FASTAGENTIC_", extra="forbid")

    title: str = "fastagentic app"
    version: str = "0.1.0"
    description: str = ""
    #: Where runs, events and checkpoints live (``sqlite:///path``, ``memory://``,
    #: ``postgresql://user@host/db``, ``redis://host:6379/0``).
    durable_store: str = DEFAULT_URL
    #: Keep checkpoints in S3 instead (``s3://bucket/prefix``); runs stay in ``durable_store``.
    checkpoint_store: str | None = None
    #: Copy finished runs here (``s3://bucket/prefix``) before retention deletes them.
    archive_store: str | None = None
    #: Retention, from a run's end: its events (and tool ledger), its checkpoints, the whole
    #: run.  Seconds or ``"7d"``, ``"12h"``, ``"30m"``; unset: kept.  Worker processes prune
    #: every ``retention_interval`` seconds (``fastagentic runs prune`` does it on demand).
    retention_events: float | None = None
    retention_checkpoints: float | None = None
    retention_runs: float | None = None
    retention_interval: float = Field(default=600.0, gt=0)
    #: Request bodies above this many bytes are refused with 413.
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1)
    #: A run's lease; a crashed process's runs are taken over after it expires.
    lease_ttl: float = Field(default=30.0, gt=0)
    #: How often an idle stream re-reads the store (runs executing in another process).
    poll_interval: float = Field(default=1.0, gt=0)
    #: Seconds between SSE keep-alive comments.
    sse_ping: float = Field(default=15.0, gt=0)
    #: Execute runs in this process (``fastagentic run --no-worker`` turns it off).
    worker: bool = True
    #: Grace period for in-flight runs at shutdown.
    shutdown_grace: float = Field(default=10.0, ge=0)
    #: At most this many runs taken from the queue execute in this process at once.
    worker_concurrency: int = Field(default=100, ge=1)
    #: At shutdown, in-flight runs may go on this long to finish before they are released
    #: to another worker (``fastagentic worker --drain``).
    shutdown_drain: float = Field(default=0.0, ge=0)
    #: Once the first served app of a process has started, move everything alive then (the
    #: modules, the app, its definitions) out of the garbage collector's sight
    #: (``gc.freeze()``, after a full collection): its passes then only look at what requests
    #: allocate, which makes every call cheaper (about a fifth fewer instructions per REST
    #: call in our measurements).
    gc_freeze: bool = True
    #: With ``gc_freeze``: the young generation's threshold set at the same time (Python's is
    #: 700; 0 keeps it).  Calls that wait together (the audit log's group commit, a batch of
    #: events) wake together and allocate together; at 700 that alone sets off a pass over
    #: every in-flight call's objects about once a batch (a sixth of the audit log's cost per
    #: call in our measurements).  Garbage is still collected, in fewer, larger passes.
    gc_young_threshold: int = Field(default=10_000, ge=0)
    #: Where the MCP Streamable HTTP endpoint is served.
    mcp_path: str = Field(default="/mcp", pattern=r"^/[^{}]*[^/]$")
    #: The legacy MCP HTTP+SSE transport (2024-11-05): its stream and message paths.
    mcp_sse_path: str = Field(default="/sse", pattern=r"^/[^{}]*[^/]$")
    mcp_messages_path: str = Field(default="/messages", pattern=r"^/[^{}]*[^/]$")
    #: An MCP session idle this long is reaped.
    mcp_session_ttl: float = Field(default=3600.0, gt=0)
    #: At most this many live MCP sessions (more → 503 on initialize).
    mcp_max_sessions: int = Field(default=10_000, ge=1)
    #: Browser origins allowed on /mcp besides this host's own (``*`` for any).
    mcp_allowed_origins: list[str] = Field(default_factory=list)
    #: Host names /mcp answers to (``*`` for any).  Unset: a server listening on loopback
    #: only answers to loopback names (DNS-rebinding protection); others answer to any.
    mcp_allowed_hosts: list[str] = Field(default_factory=list)
    #: Key for sealing MCP ``requestState`` (2026-07-28 multi round-trip).  Set the same value
    #: on every replica; unset, each process makes a random one.
    mcp_state_secret: str | None = None
    #: How long a tool waits for the client to answer an elicitation or sampling request.
    mcp_client_timeout: float = Field(default=300.0, gt=0)
    #: Behind a reverse proxy that sets ``Forwarded``/``X-Forwarded-Host``: use those for the
    #: addressed host.  Off by default, since any client can send them.
    trust_forwarded_headers: bool = False
    #: The URL clients reach this service at (``https://agents.example.com``), used in the A2A
    #: agent card.  Unset: taken from each request's host.
    public_url: str | None = None

    # authentication (see fastagentic.auth)
    #: The OIDC issuer whose tokens are accepted; with ``oidc_audience`` set too, the App
    #: configures OIDC by itself (else call ``configure_oidc``).
    oidc_issuer: str | None = None
    #: The audience (``aud``) tokens must be issued for.
    oidc_audience: str | None = None
    #: The issuer's JWKS; unset: discovered from ``/.well-known/openid-configuration``.
    oidc_jwks_url: str | None = None
    #: Scopes every token must carry.
    oidc_required_scopes: list[str] = Field(default_factory=list)
    #: Paths reachable without credentials besides health, docs and agent cards (``/x/*``:
    #: everything under ``/x/``).
    auth_public_paths: list[str] = Field(default_factory=list)
    #: Cookie sessions for browsers (``POST``/``DELETE /auth/session``).
    auth_sessions: bool = False
    #: Origins besides this host allowed to send cookie-authenticated state-changing requests.
    auth_session_origins: list[str] = Field(default_factory=list)

    # observability
    #: Serve Prometheus metrics at ``metrics_path`` (public: scrapers carry no credentials).
    metrics: bool = False
    metrics_path: str = "/metrics"
    #: Logs of a served app: ``json`` lines with trace, span, user, tenant and run ids and
    #: personal data redacted, ``console`` (readable, for development), ``auto`` (JSON unless
    #: on a terminal), or ``off`` (logging left as it is configured).
    log_format: Literal["off", "auto", "json", "console"] = "off"
    log_level: str = "INFO"

    # governance
    #: Keep the hash-chained audit log (run starts and ends, checkpoints, tool calls, policy
    #: and auth refusals) in the store.
    audit: bool = False
    #: Where rate limit counters live: ``memory://`` (this process) or
    #: ``redis://host:port/db`` (shared by every replica; ``pip install "fastagentic[redis]"``).
    rate_limit_store: str = "memory://"
    #: What audit entries keep of call arguments (which may hold personal data): their
    #: ``names`` (default), a SHA-256 of their canonical JSON (``hash``), or the ``full``
    #: values.
    audit_arguments: Literal["names", "hash", "full"] = "names"
    #: Tenants whose runs live in a store of their own: ``{"acme": "sqlite:///acme.db"}``.
    tenant_stores: dict[str, str] = Field(default_factory=dict)
    #: Prices that win over genai-prices: ``{"model": {"input": usd_per_million_tokens,
    #: "output": ..., "cache_read": ..., "cache_write": ...}}``.
    model_prices: dict[str, dict[str, float]] = Field(default_factory=dict)
    #: Budget threshold alerts are POSTed here as JSON (``{"type": "budget.alert", ...}``).
    budget_alert_webhook: str | None = None
    budget_alert_timeout: float = Field(default=10.0, gt=0)

    # A2A
    #: Where the A2A JSON-RPC endpoint (and the HTTP+JSON paths under it) are served.
    a2a_path: str = Field(default="/a2a", pattern=r"^/[^{}]*[^/]$")
    #: Also write the A2A 0.3 fields into /.well-known/agent-card.json (for 0.3 clients, which
    #: read the same path).  Strict 1.0 validators want them off.
    a2a_card_legacy_fields: bool = True
    #: Seconds an agent card may be cached (``Cache-Control: max-age``).
    a2a_card_max_age: int = Field(default=300, ge=0)
    #: Offer push notifications (webhooks) for A2A tasks.
    a2a_push_notifications: bool = True
    #: Webhook hosts exempt from the SSRF screen (``localhost``, ``10.0.0.5:8080``; ``*`` for
    #: any).  For development: by default loopback, private and link-local targets are refused.
    a2a_push_allow_hosts: list[str] = Field(default_factory=list)
    #: Delivery attempts per webhook call (with exponential backoff) and the timeout of each.
    a2a_push_attempts: int = Field(default=4, ge=1)
    a2a_push_timeout: float = Field(default=10.0, gt=0)
    #: Serve an extended agent card to authenticated callers (default: when auth is on).
    a2a_extended_card: bool | None = None
    #: Sign the agent card (JWS, RFC 8785 canonical form): a PEM private key or a path to one.
    a2a_signing_key: str | None = None
    a2a_signing_kid: str | None = None
    #: A URL of the JWKS that holds the signing key (the ``jku`` header).
    a2a_signing_jku: str | None = None
    #: Card details.
    a2a_provider_organization: str | None = None
    a2a_provider_url: str | None = None
    a2a_documentation_url: str | None = None
    a2a_icon_url: str | None = None

    @field_validator("retention_events", "retention_checkpoints", "retention_runs",
                     mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        if isinstance(value, str):
            from .stores.retention import parse_duration

            return parse_duration(value)
        return value

    @field_validator("checkpoint_store", "archive_store")
    @classmethod
    def _s3_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("s3://"):
            raise ValueError("must be an s3://bucket/prefix URL")
        return value
