"""The route template of a request once the router has served it (span names, metric labels:
bounded, never raw paths).

FastAPI puts its own routes in ``scope["route"]``; for plain Starlette routes (most of
fastagentic's) only ``scope["endpoint"]`` and ``scope["path_params"]`` tell which route
matched: a route without parameters matches its path only (the path is the template);
otherwise the endpoint's routes are told apart by their parameter names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


class RouteTemplates:
    """``templates(scope)``: the template, or None when no route matched.  ``attr`` is the
    route attribute returned: ``path`` (``/a2a/{rest:path}``) or ``path_format``
    (``/a2a/{rest}``)."""

    def __init__(self, routes: Callable[[], Sequence[Any]], *, attr: str = "path") -> None:
        self.routes = routes
        self.attr = attr
        self._seen = -1
        self._by_endpoint: dict[Any, list[tuple[frozenset[str], str]]] = {}

    def __call__(self, scope: Any) -> str | None:
        route = scope.get("route")
        if route is not None:
            return getattr(route, self.attr, None) or getattr(route, "path", None)
        endpoint = scope.get("endpoint")
        if endpoint is None:
            return None
        params = scope.get("path_params")
        if not params:
            return scope["path"]  # type: ignore[no-any-return]
        if len(self.routes()) != self._seen:  # routes were added (agents, user routes)
            self._index()
        candidates = self._by_endpoint.get(endpoint)
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0][1]
        keys = params.keys()
        for names, template in candidates:
            if keys == names:
                return template
        return None

    def _index(self) -> None:
        routes = self.routes()
        index: dict[Any, list[tuple[frozenset[str], str]]] = {}
        for route in routes:
            endpoint = getattr(route, "endpoint", None)
            template = getattr(route, self.attr, None)
            if endpoint is None or template is None:
                continue
            try:
                entries = index.setdefault(endpoint, [])
            except TypeError:  # an unhashable endpoint: never in a scope we can look up
                continue
            entries.append((frozenset(getattr(route, "param_convertors", ())), template))
        self._by_endpoint = index
        self._seen = len(routes)
