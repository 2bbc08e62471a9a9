"""Authorization: the scopes and roles each definition requires, enforced in the pipeline.

``@app.tool(scopes=["reports:write"], roles=["analyst", "admin"])``: with authentication
configured, a caller needs every listed scope and at least one listed role.  The check runs in
the pipeline, so it is the same on REST, SSE, WebSocket, MCP, A2A and for the tools a run calls
(with the scopes and roles of the user who started it).  Missing scopes answer 403
``insufficient_scope`` naming them; a missing role 403 ``forbidden``; a caller with no
credentials 401 (definitions marked ``public=True`` excepted).  Listings (``GET /tools``, MCP
``tools/list`` ...) show each caller only what it may use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..auth.base import InsufficientScope, Unauthenticated
from ..core.context import ANONYMOUS, UserContext, _current_user, bind_user, unbind_user
from ..core.registry import TOOL_RUN_PREFIX
from ..core.specs import Spec
from ..exceptions import FastAgenticError, Forbidden

if TYPE_CHECKING:
    from ..app import App


class Authorization:
    def __init__(self, app: App) -> None:
        self.app = app

    def _governing(self, spec: Spec) -> Spec:
        """A tool run as a run (``tool:<name>``) is governed by the tool's own options."""
        if spec.kind == "agent" and spec.name.startswith(TOOL_RUN_PREFIX):
            tool = self.app.registry.tools.get(spec.name[len(TOOL_RUN_PREFIX):])
            if tool is not None:
                return tool
        return spec

    def check(self, spec: Spec, user: UserContext) -> None:
        """Raise the refusal ``user`` gets for ``spec``, if any."""
        spec = self._governing(spec)
        if spec.public:
            return
        if user is ANONYMOUS or (user.user == ANONYMOUS.user and not user.claims
                                 and user == ANONYMOUS):
            raise Unauthenticated(f"{spec.kind} {spec.name!r} requires credentials")
        missing = [s for s in spec.scopes if s not in user.scopes]
        if missing:
            raise InsufficientScope(missing, f"{spec.kind} {spec.name!r} requires scope "
                                             f"{' '.join(missing)}")
        if spec.roles and user.roles.isdisjoint(spec.roles):
            raise Forbidden(f"{spec.kind} {spec.name!r} requires one of the roles "
                            f"{', '.join(spec.roles)}", details={"roles": list(spec.roles)})

    def permits(self, spec: Spec, user: UserContext) -> bool:
        try:
            self.check(spec, user)
        except FastAgenticError:
            return False
        return True

    def fast(self, call: Any) -> bool:
        """The call passes with nothing to do (``core.pipeline.Checks``): a definition without
        requirements (scopes, roles, a tool run as a run), called by a caller with credentials
        who is ``current_user()`` already (the auth gate bound it)."""
        spec = call.spec
        user = call.context.user
        return not spec.scopes and not spec.roles and spec.kind != "agent" \
            and bool(user.claims) and _current_user.get() is user

    async def stage(self, call: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        if self.fast(call):
            return await call_next(call)
        user = call.context.user
        try:
            self.check(call.spec, user)
        except FastAgenticError as exc:
            await self.app.audit.record(
                "auth.fail", actor=user, decision="deny", reason=exc.message,
                context={"code": exc.code, "kind": call.spec.kind, "name": call.spec.name,
                         "transport": call.context.transport}, run_id=call.context.run_id)
            raise
        if _current_user.get() is user:  # bound already (by the auth gate, or a run)
            return await call_next(call)
        token = bind_user(user)  # current_user() in the definition's code
        try:
            return await call_next(call)
        finally:
            unbind_user(token)


def visible(app: App, specs: list[Spec], user: UserContext) -> list[Spec]:
    """The definitions ``user`` may use (all of them without authentication)."""
    authorization = app.authorization
    if authorization is None:
        return specs
    return [spec for spec in specs if authorization.permits(spec, user)]
