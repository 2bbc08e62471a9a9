"""An app configured for OIDC by the environment alone (``FASTAGENTIC_OIDC_ISSUER`` and
``FASTAGENTIC_OIDC_AUDIENCE``): served over stdio in the tests."""

from fastagentic import App, CallContext

app = App(title="env-configured")


@app.tool
def whoami(ctx: CallContext) -> str:
    """The caller."""
    return f"{ctx.user.user}@{ctx.user.tenant} {' '.join(sorted(ctx.user.scopes))}"
