"""The app the auth tests serve: OIDC required (scope ``agents:use``), definitions with their
own scopes and roles, a public tool, agents that answer, wait for input or call a scoped tool,
and a FastAPI route using ``current_user()``."""

from __future__ import annotations

from typing import Any

from fastagentic import App, CallContext, RunContext, UserContext
from fastagentic.auth import configure_oidc, current_user

from .issuer import AUDIENCE


def who(user: UserContext) -> dict[str, Any]:
    return {"user": user.user, "tenant": user.tenant, "scopes": sorted(user.scopes),
            "roles": sorted(user.roles)}


def governed_app(issuer_url: str, store: str = "memory://", **oidc: Any) -> App:
    app = App(title="governed", version="1.0.0", durable_store=store, oidc_issuer=issuer_url)
    options: dict[str, Any] = {"audience": AUDIENCE, "required_scopes": ["agents:use"],
                               "scope_roles": {"reports:admin": ["admin"]},
                               "jwks_min_refresh_interval": 0}
    options.update(oidc)
    configure_oidc(app, **options)

    @app.tool
    def whoami(ctx: CallContext) -> dict[str, Any]:
        """The caller, as the pipeline sees it."""
        return who(ctx.user)

    @app.tool
    def current() -> dict[str, Any]:
        """The caller, through current_user() (sync: runs in a worker thread)."""
        return who(current_user())

    @app.tool(scopes=["reports:write"], task_support="optional")
    def write_report(title: str) -> str:
        """Needs the reports:write scope."""
        return f"written: {title}"

    @app.resource("plans://{quarter}", scopes=["reports:write"])
    def plan(quarter: str) -> str:
        """A resource that needs the reports:write scope."""
        return f"plan for {quarter}"

    @app.prompt(roles=["auditor"])
    def audit_brief(topic: str) -> str:
        """A prompt for auditors only."""
        return f"Audit {topic}"

    @app.agent_endpoint("/report", mcp_tool="report", a2a_skill="report",
                        scopes=["reports:write"])
    async def report(topic: str) -> str:
        """An agent that needs the reports:write scope."""
        return f"report on {topic} by {current_user().user}"

    @app.agent_endpoint("/relay", mcp_tool="relay", a2a_skill="relay")
    async def relay(title: str, ctx: RunContext) -> str:
        """Calls write_report from inside the run, with its starter's scopes."""
        return await ctx.call_tool("write_report", {"title": title})

    @app.tool(roles=["admin", "auditor"])
    def purge() -> str:
        """Needs the admin or the auditor role."""
        return "purged"

    @app.tool(public=True)
    def ping() -> dict[str, Any]:
        """Callable without credentials."""
        return {"pong": True, **who(current_user())}

    @app.agent_endpoint("/echo", mcp_tool="echo", a2a_skill="echo")
    async def echo(message: str, ctx: RunContext) -> str:
        """Echoes, with the caller."""
        await ctx.token(message)
        return f"{current_user().user}@{current_user().tenant}: {message}"

    @app.agent_endpoint("/hold", mcp_tool="hold", a2a_skill="hold")
    async def hold(message: str, ctx: RunContext) -> dict[str, Any]:
        """Waits for an answer; then reports who it runs as and what a tool call saw."""
        answer = await ctx.ask("Anything else?")
        seen = await ctx.call_tool("current")
        return {"answer": answer, "run_as": who(current_user()), "tool_saw": seen,
                "message": message}

    @app.get("/me")
    async def me() -> dict[str, Any]:
        return who(current_user())

    return app
