"""A2A push notifications: SSRF screening of webhook URLs, delivery with retries, ordering.

* :class:`UrlPolicy` screens a webhook URL when a push config is set (a literal blocked address
  or a name that *resolves* to one is refused; a name that does not resolve is accepted) and
  again on every connection when a notification is sent (fail closed).
* :class:`PushSender` POSTs one event to one webhook. Its connections go through a network
  backend that resolves the host itself, screens every address and connects to a screened
  address, so a DNS answer that changes between the check and the connection (rebinding) does
  not reach a blocked address. Redirects are never followed.
* :class:`PushDispatcher` delivers the events of one task to its webhooks in order, one worker
  per task, without blocking the caller.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import httpcore
import httpx

from ...exceptions import ConfigurationError, InvalidInput
from ...telemetry.propagation import current_headers

logger = logging.getLogger("fastagentic.a2a.push")

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``await resolver(host, port)`` -> the IP addresses of ``host``; raises ``OSError`` if none."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

RESOLVE_TIMEOUT = 2.0
MAX_DELAY = 8.0
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


def blocked_reason(ip: IPAddress) -> str | None:
    """Why a webhook may not be sent to ``ip`` (None: a global unicast address)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return blocked_reason(embedded)
    for reason, hit in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("shared (CGNAT)", isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT),
        ("private", ip.is_private),
    ):
        if hit:
            return f"a {reason} address"
    return None if ip.is_global else "not a global address"


def _ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _normal_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _parse_allow(entry: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``1.2.3.4:port``, ``::1`` or ``[::1]:port`` -> (host, port)."""
    entry = entry.strip()
    port: str | None = None
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif entry.count(":") == 1:
        host, _, port = entry.partition(":")
    else:
        host = entry
    if port is not None and not port.isdigit():
        raise ConfigurationError(f"invalid push allow-host entry {entry!r}")
    return _normal_host(host), int(port) if port else None


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses of ``host`` from the system resolver, within ``RESOLVE_TIMEOUT``."""
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT)
    return [str(info[4][0]) for info in infos]


class UrlPolicy:
    """Which webhook URLs push notifications may be sent to (SSRF screening).

    ``allow_hosts`` skips the screen for the hosts named (exact host names or IP literals,
    optionally ``host:port``; ``"*"`` allows every host): for development and the TCKs only.
    An IP entry also allows a name that resolves to that IP.
    """

    def __init__(self, allow_hosts: Sequence[str] = (), resolver: Resolver | None = None) -> None:
        if isinstance(allow_hosts, str):
            allow_hosts = [allow_hosts]
        self.allow_all = "*" in allow_hosts
        self._allowed = [_parse_allow(entry) for entry in allow_hosts if entry != "*"]
        self._resolve = resolver or system_resolver

    def allows(self, host: str, port: int) -> bool:
        """Whether ``host`` (a name or an IP) on ``port`` is on the allowlist."""
        if self.allow_all:
            return True
        host = _normal_host(host)
        ip = _ip(host)
        for allowed, allowed_port in self._allowed:
            if allowed_port is not None and allowed_port != port:
                continue
            if allowed == host or (ip is not None and _ip(allowed) == ip):
                return True
        return False

    def parse(self, url: str) -> httpx.URL:
        """``url`` as an ``httpx.URL`` if its form is acceptable (scheme, host, no userinfo)."""
        if not isinstance(url, str) or not url:
            raise InvalidInput("push notification URL is missing")
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise InvalidInput(f"invalid push notification URL: {exc}") from None
        if parsed.scheme not in ("http", "https"):
            raise InvalidInput("push notification URL must use http or https")
        if not parsed.host:
            raise InvalidInput("push notification URL has no host")
        if parsed.userinfo:
            raise InvalidInput("push notification URL must not contain user information")
        return parsed

    async def check_on_set(self, url: str) -> None:
        """Screen ``url`` when a push config is set; raise ``InvalidInput`` if it is refused.

        A host name that does not resolve is accepted here: it is screened again at send time.
        """
        parsed = self.parse(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        # The ASCII (IDNA) form: the host that the connection at send time is made to.
        await self.addresses(parsed.raw_host.decode("ascii"), port, must_resolve=False)

    async def addresses(self, host: str, port: int, *, must_resolve: bool = True) -> list[str]:
        """The screened addresses to connect to for ``host`` (``[host]`` if allowlisted).

        Raises ``InvalidInput`` if ``host`` is or resolves to a blocked address; if it does not
        resolve, raises ``httpcore.ConnectError`` (``must_resolve``) or returns ``[]``.
        """
        if self.allows(host, port):
            return [host]
        name = _normal_host(host)
        if name == "localhost" or name.endswith(".localhost"):
            raise InvalidInput(f"push notification URL host {host!r} is a local host name")
        ip = _ip(name)
        if ip is not None:
            reason = blocked_reason(ip)
            if reason:
                raise InvalidInput(f"push notification URL host {host} is {reason}")
            return [name]
        error: Exception | None = None
        try:
            found = list(await self._resolve(name, port))
        except (OSError, TimeoutError, UnicodeError) as exc:
            found, error = [], exc
        if not found:
            if must_resolve:
                raise httpcore.ConnectError(f"cannot resolve {host}: {error or 'no address'}")
            return []
        for address in found:
            resolved = _ip(address)
            if resolved is None:
                raise InvalidInput(f"push notification URL host {host} resolves to {address!r}")
            if self.allows(address, port):
                continue
            reason = blocked_reason(resolved)
            if reason:
                raise InvalidInput(
                    f"push notification URL host {host} resolves to {address}, {reason}")
        return list(dict.fromkeys(found))


class _ScreeningBackend(httpcore.AsyncNetworkBackend):
    """Resolves and screens the host of every new connection, then connects to a screened IP.

    httpcore passes the URL's host name separately for TLS (SNI, certificate check), and the
    ``Host`` header comes from the request, so both keep the host name.
    """

    def __init__(self, policy: UrlPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._policy.addresses(host, port)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error or httpcore.ConnectError(f"no address to connect to for {host}")

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        raise InvalidInput("push notifications are not sent over Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _ScreenedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, policy: UrlPolicy) -> None:
        ssl_context = httpx.create_ssl_context()
        super().__init__(verify=ssl_context, trust_env=False)
        # httpx takes no network backend, so its connection pool is replaced by one that
        # uses ours (the pool is the only thing AsyncHTTPTransport sends through).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context, network_backend=_ScreeningBackend(policy))


def _headers(config: dict[str, Any]) -> dict[str, str]:
    # The trace of the task (its delivery runs in the context of the request that set the
    # webhook, or of the run's own events), so the receiver can continue it.
    headers = {**current_headers(), "Content-Type": "application/json"}
    if config.get("token"):
        headers["X-A2A-Notification-Token"] = str(config["token"])
    auth = config.get("authentication") or {}
    if isinstance(auth, dict) and auth.get("scheme") and auth.get("credentials"):
        headers["Authorization"] = f"{auth['scheme']} {auth['credentials']}"
    return headers


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    # Seconds; an HTTP date is ignored (our own backoff applies).
    return float(value) if value.isdigit() else None


class PushSender:
    """POSTs push notifications, retrying with backoff; one shared HTTP client.

    ``deliver`` never raises: failures are logged on ``fastagentic.a2a.push``.
    """

    def __init__(self, policy: UrlPolicy, attempts: int = 4, backoff: float = 0.5,
                 timeout: float = 10.0) -> None:
        if attempts < 1:
            raise ConfigurationError("push delivery needs at least one attempt")
        self.policy = policy
        self.attempts = attempts
        self.backoff = backoff
        self._client = httpx.AsyncClient(
            transport=_ScreenedTransport(policy), timeout=timeout, follow_redirects=False,
            trust_env=False)

    async def deliver(self, config: dict[str, Any], body: bytes) -> bool:
        """POST ``body`` to the webhook of ``config`` (a 1.0 TaskPushNotificationConfig).

        True when the receiver answered 2xx.
        """
        try:
            return await self._deliver(config, body)
        except Exception:
            logger.exception("push notification to config %r failed", config.get("id"))
            return False

    async def _deliver(self, config: dict[str, Any], body: bytes) -> bool:
        where = f"config {config.get('id')!r} of task {config.get('taskId')!r}"
        try:
            url = self.policy.parse(config.get("url"))  # type: ignore[arg-type]
        except InvalidInput as exc:
            logger.warning("push notification not sent (%s): %s", where, exc.message)
            return False
        where += f" to {url.copy_with(query=None, fragment=None)}"
        headers = _headers(config)
        outcome = ""
        for attempt in range(1, self.attempts + 1):
            wait: float | None = None
            try:
                async with self._client.stream("POST", url, content=body,
                                               headers=headers) as response:
                    status = response.status_code
                    wait = _retry_after(response)
            except InvalidInput as exc:
                logger.warning("push notification refused (%s): %s", where, exc.message)
                return False
            except httpx.TransportError as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            else:
                if 200 <= status < 300:
                    return True
                if 300 <= status < 400:
                    logger.warning("push notification answered %d (%s); redirects are not "
                                   "followed", status, where)
                    return False
                if status < 500 and status not in (408, 429):
                    logger.warning("push notification rejected with %d (%s)", status, where)
                    return False
                outcome = f"HTTP {status}"
            if attempt < self.attempts:
                logger.info("push notification attempt %d failed (%s): %s; retrying",
                            attempt, where, outcome)
                await asyncio.sleep(self._delay(attempt, wait))
        logger.warning("push notification failed after %d attempts (%s): %s",
                       self.attempts, where, outcome)
        return False

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        delay = min(self.backoff * 2 ** (attempt - 1), MAX_DELAY) * random.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_DELAY))
        return delay

    async def aclose(self) -> None:
        await self._client.aclose()


class PushDispatcher:
    """Delivers each task's events to its webhooks in order, without blocking the caller.

    One worker per task drains that task's queue (every config of an event is delivered, each
    with its retries, before the next event) and exits when the queue is empty. A webhook that
    failed ``max_failures`` events in a row is skipped for the rest of that worker's queue.
    """

    def __init__(self, sender: PushSender, max_failures: int = 3) -> None:
        self.sender = sender
        self.max_failures = max_failures
        self._queues: dict[str, deque[tuple[list[dict[str, Any]], bytes]]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._closed = False

    def submit(self, task_id: str, configs: list[dict[str, Any]], body: bytes) -> None:
        """Queue ``body`` for every config of ``task_id`` (call from the event loop)."""
        if self._closed or not configs:
            return
        self._queues.setdefault(task_id, deque()).append((list(configs), body))
        if task_id not in self._workers:
            self._workers[task_id] = asyncio.get_running_loop().create_task(
                self._work(task_id), name=f"a2a-push-{task_id}")

    async def _work(self, task_id: str) -> None:
        queue = self._queues[task_id]
        failures: dict[tuple[Any, Any], int] = {}
        try:
            while queue:
                configs, body = queue.popleft()
                live = [c for c in configs
                        if failures.get((c.get("id"), c.get("url")), 0) < self.max_failures]
                results = await asyncio.gather(*(self.sender.deliver(c, body) for c in live))
                for config, ok in zip(live, results, strict=True):
                    key = (config.get("id"), config.get("url"))
                    failures[key] = 0 if ok else failures.get(key, 0) + 1
                    if failures[key] == self.max_failures:
                        logger.warning("push config %r of task %r failed %d events in a row; "
                                       "skipping it for now", key[0], task_id, failures[key])
        finally:
            self._queues.pop(task_id, None)
            self._workers.pop(task_id, None)

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until every queued event was handled; False if ``timeout`` passed first."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while pending := [w for w in self._workers.values() if not w.done()]:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            await asyncio.wait(pending, timeout=remaining)
        return True

    async def aclose(self) -> None:
        """Drop undelivered events, stop the workers and close the sender."""
        self._closed = True
        workers = list(self._workers.values())
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._workers.clear()
        self._queues.clear()
        await self.sender.aclose()
