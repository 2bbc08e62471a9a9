"""An app that requires credentials (a test verifier stands in for OIDC)."""

from collections.abc import Mapping

from fastagentic import App, CallContext, tool
from fastagentic.auth.base import Unauthenticated
from fastagentic.core.context import UserContext

app = App(title="auth", version="0.0.1")


async def verifier(token: str | None, headers: Mapping[str, str]) -> UserContext:
    if token == "good":
        return UserContext(user="alice", tenant="acme")
    raise Unauthenticated("a valid token is required")


app.require_auth(verifier, authorization_servers=["https://auth.example"])


@tool
def whoami(ctx: CallContext) -> str:
    """The caller."""
    return f"{ctx.user.user}@{ctx.user.tenant}"
