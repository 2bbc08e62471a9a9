"""Push delivery over real sockets: headers, retries, redirects, per-task ordering."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Self

from fastagentic.protocols.a2a.push import PushDispatcher, PushSender, UrlPolicy

LOCAL = UrlPolicy(allow_hosts=["localhost", "127.0.0.1"])


@dataclass
class Hit:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    answer: Any


class Receiver:
    """A webhook receiver speaking raw HTTP/1.1 on 127.0.0.1 (``asyncio.start_server``).

    ``script`` answers the requests in turn (then ``default``): a status, ``(status, headers)``,
    ``"drop"`` (close without answering) or ``"hang"`` (never answer).
    """

    def __init__(self, script: list[Any] | None = None, default: Any = 200) -> None:
        self.script = list(script or [])
        self.default = default
        self.hits: list[Hit] = []
        self.port = 0

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    @property
    def delivered(self) -> list[bytes]:
        return [hit.body for hit in self.hits if isinstance(hit.answer, int) and hit.answer < 300]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            method, path, _ = head[0].split(" ", 2)
            headers = {}
            for line in head[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            answer = self.script.pop(0) if self.script else self.default
            self.hits.append(Hit(method, path, headers, body, answer))
            if answer == "hang":
                await reader.read()  # until the client gives up and closes
                return
            if answer == "drop":
                return
            status, extra = answer if isinstance(answer, tuple) else (answer, {})
            lines = [f"HTTP/1.1 {status} X", "Content-Length: 0", "Connection: close"]
            lines += [f"{name}: {value}" for name, value in extra.items()]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def config(url: str, **extra: Any) -> dict[str, Any]:
    return {"id": "cfg-1", "taskId": "task-1", "url": url, **extra}


def sender(**kwargs: Any) -> PushSender:
    return PushSender(kwargs.pop("policy", LOCAL), **{"backoff": 0.01, "timeout": 2.0, **kwargs})


async def test_delivers_with_token_and_authorization_headers() -> None:
    body = json.dumps({"statusUpdate": {"taskId": "task-1"}}).encode()
    push = sender()
    async with Receiver() as receiver:
        ok = await push.deliver(config(
            receiver.url("/webhook", host="localhost"), token="tok-1",
            authentication={"scheme": "Bearer", "credentials": "cred"}), body)
    await push.aclose()
    assert ok is True
    [hit] = receiver.hits
    assert (hit.method, hit.path, hit.body) == ("POST", "/webhook", body)
    assert hit.headers["content-type"] == "application/json"
    assert hit.headers["x-a2a-notification-token"] == "tok-1"
    assert hit.headers["authorization"] == "Bearer cred"
    assert hit.headers["host"] == f"localhost:{receiver.port}"


async def test_no_token_or_credentials_sends_neither_header() -> None:
    push = sender()
    async with Receiver() as receiver:
        ok = await push.deliver(config(receiver.url(), authentication={"scheme": "Bearer"}), b"{}")
    await push.aclose()
    assert ok is True
    assert "x-a2a-notification-token" not in receiver.hits[0].headers
    assert "authorization" not in receiver.hits[0].headers


async def test_retries_5xx_until_success() -> None:
    push = sender()
    async with Receiver([503, 503, 200]) as receiver:
        ok = await push.deliver(config(receiver.url()), b"{}")
    await push.aclose()
    assert ok is True
    assert [hit.answer for hit in receiver.hits] == [503, 503, 200]


async def test_4xx_is_not_retried() -> None:
    push = sender()
    async with Receiver([400]) as receiver:
        ok = await push.deliver(config(receiver.url()), b"{}")
    await push.aclose()
    assert ok is False
    assert len(receiver.hits) == 1


async def test_408_and_429_with_retry_after_are_retried() -> None:
    push = sender()
    async with Receiver([408, (429, {"Retry-After": "0"}), 204]) as receiver:
        ok = await push.deliver(config(receiver.url()), b"{}")
    await push.aclose()
    assert ok is True
    assert len(receiver.hits) == 3


async def test_gives_up_after_the_configured_attempts(caplog: Any) -> None:
    push = sender(attempts=3)
    async with Receiver(default=500) as receiver:
        ok = await push.deliver(config(receiver.url()), b"{}")
    await push.aclose()
    assert ok is False
    assert len(receiver.hits) == 3
    assert "failed after 3 attempts" in caplog.text


async def test_network_errors_and_timeouts_are_retried() -> None:
    push = sender(timeout=0.3)
    async with Receiver(["drop", "hang", 200]) as receiver:
        ok = await push.deliver(config(receiver.url()), b"{}")
    await push.aclose()
    assert ok is True
    assert [hit.answer for hit in receiver.hits] == ["drop", "hang", 200]


async def test_unreachable_webhook_fails_without_raising() -> None:
    async with Receiver() as receiver:
        url = receiver.url()  # closed below: nothing listens on the port any more
    push = sender(attempts=2)
    assert await push.deliver(config(url), b"{}") is False
    assert await push.deliver({"id": "x"}, b"{}") is False  # no url at all
    await push.aclose()


async def test_dispatcher_keeps_the_order_of_a_task_while_retrying() -> None:
    push = sender(attempts=4)
    dispatcher = PushDispatcher(push)
    flaky = [503 if i % 3 == 1 else "drop" if i % 7 == 3 else 200 for i in range(60)]
    async with Receiver(flaky) as first, Receiver() as second:
        configs = [config(first.url("/a")), {**config(second.url("/b")), "id": "cfg-2"}]
        for i in range(20):
            dispatcher.submit("task-1", configs, json.dumps({"n": i}).encode())
        assert await dispatcher.drain(timeout=30)
    await dispatcher.aclose()
    expected = [json.dumps({"n": i}).encode() for i in range(20)]
    assert first.delivered == expected
    assert second.delivered == expected
    assert len(first.hits) > 20  # the receiver really failed some attempts
    sent = [json.loads(hit.body)["n"] for hit in first.hits]
    assert sent == sorted(sent)  # a retry never overtakes, nor is overtaken


async def test_dispatcher_tasks_do_not_wait_for_each_other() -> None:
    dispatcher = PushDispatcher(sender(timeout=5.0, attempts=1))
    async with Receiver(default="hang") as slow, Receiver() as fast:
        dispatcher.submit("task-slow", [config(slow.url())], b"slow")
        for i in range(3):
            dispatcher.submit("task-fast", [config(fast.url())], str(i).encode())
        assert await dispatcher.drain(timeout=0.5) is False  # the slow task is still waiting
        assert fast.delivered == [b"0", b"1", b"2"]
        await dispatcher.aclose()  # drops the slow delivery
    assert await dispatcher.drain(timeout=0.1) is True


async def test_dispatcher_skips_a_webhook_after_consecutive_failures() -> None:
    dispatcher = PushDispatcher(sender(attempts=1), max_failures=2)
    async with Receiver(default=500) as dead, Receiver() as alive:
        configs = [config(dead.url()), {**config(alive.url()), "id": "cfg-2"}]
        for i in range(5):
            dispatcher.submit("task-1", configs, str(i).encode())
        assert await dispatcher.drain(timeout=10)
    await dispatcher.aclose()
    assert len(dead.hits) == 2
    assert alive.delivered == [str(i).encode() for i in range(5)]
