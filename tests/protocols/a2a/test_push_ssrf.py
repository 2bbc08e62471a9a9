"""SSRF screening of webhook URLs, when a push config is set and when a notification is sent."""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from typing import Any

import pytest

from fastagentic.exceptions import ConfigurationError, InvalidInput
from fastagentic.protocols.a2a.push import PushSender, UrlPolicy

from .test_push_delivery import Receiver, config

# {port} is a live receiver on 127.0.0.1: a refused URL must not reach it.
BLOCKED = [
    "http://127.0.0.1:{port}/hook",
    "http://10.1.2.3/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]:{port}/",
    "http://localhost:{port}/",
]
ALSO_BLOCKED = [
    "http://172.16.0.1/", "http://192.168.1.1/", "http://100.64.0.1/", "http://0.0.0.0/",
    "http://224.0.0.1/", "http://240.0.0.1/", "http://[fd00:ec2::254]/", "http://[fe80::1]/",
    "http://[fc00::1]/", "http://[::]/", "http://[::ffff:127.0.0.1]:{port}/",
    "http://[::ffff:169.254.169.254]/", "http://[64:ff9b::a01:203]/", "http://[2002:a00:1::]/",
    "http://app.localhost:{port}/", "http://LOCALHOST.:{port}/",
    "http://127.1:{port}/", "http://2130706433:{port}/",  # numeric forms the resolver expands
]
MALFORMED = ["ftp://example.com/hook", "file:///etc/passwd", "http:///hook",
             "http://user:pw@example.com/hook", "not a url", ""]


def fixed_resolver(*answers: Sequence[str]) -> Any:
    """A resolver giving ``answers`` in turn (the last one from then on); records its calls."""
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return list(answers[min(len(calls), len(answers)) - 1])

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


async def no_dns(host: str, port: int) -> list[str]:
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.mark.parametrize("url", BLOCKED + ALSO_BLOCKED)
async def test_blocked_on_set(url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        await UrlPolicy().check_on_set(url.format(port=8080))
    assert "push notification URL" in caught.value.message


@pytest.mark.parametrize("url", MALFORMED)
async def test_malformed_on_set(url: str) -> None:
    with pytest.raises(InvalidInput):
        await UrlPolicy(allow_hosts=["*"]).check_on_set(url)


@pytest.mark.parametrize("url", BLOCKED + ALSO_BLOCKED)
async def test_blocked_at_send_time(url: str, caplog: Any) -> None:
    caplog.set_level(logging.INFO, "fastagentic.a2a.push")
    push = PushSender(UrlPolicy(), backoff=0.01, timeout=1.0)
    async with Receiver() as receiver:
        ok = await push.deliver(config(url.format(port=receiver.port)), b"{}")
    await push.aclose()
    assert ok is False
    assert receiver.hits == []
    [record] = caplog.records  # refused once, not retried
    assert "refused" in record.getMessage()


async def test_screening_uses_the_resolved_addresses() -> None:
    resolver = fixed_resolver(["127.0.0.1"])
    policy = UrlPolicy(resolver=resolver)
    with pytest.raises(InvalidInput, match=r"resolves to 127\.0\.0\.1"):
        await policy.check_on_set("https://hooks.example.test/webhook")
    push = PushSender(policy, backoff=0.01, timeout=1.0)
    async with Receiver() as receiver:
        ok = await push.deliver(config(receiver.url(host="hooks.example.test")), b"{}")
    await push.aclose()
    assert ok is False
    assert receiver.hits == []
    assert resolver.calls == ["hooks.example.test", "hooks.example.test"]


async def test_any_blocked_address_refuses_the_name() -> None:
    policy = UrlPolicy(resolver=fixed_resolver(["93.184.215.14", "10.0.0.7"]))
    with pytest.raises(InvalidInput, match=r"10\.0\.0\.7"):
        await policy.check_on_set("https://hooks.example.test/webhook")


async def test_dns_rebinding_after_set_does_not_reach_the_new_address() -> None:
    # Global when the config is set, loopback when the notification is sent.
    policy = UrlPolicy(resolver=fixed_resolver(["93.184.215.14"], ["127.0.0.1"]))
    await policy.check_on_set("http://rebind.example.test/hook")
    push = PushSender(policy, backoff=0.01, timeout=1.0)
    async with Receiver() as receiver:
        ok = await push.deliver(config(receiver.url(host="rebind.example.test")), b"{}")
    await push.aclose()
    assert ok is False
    assert receiver.hits == []


async def test_connects_to_the_screened_address_and_keeps_the_host_name() -> None:
    # The name does not exist in DNS: delivery can only succeed through the resolved address.
    policy = UrlPolicy(allow_hosts=["127.0.0.1"], resolver=fixed_resolver(["127.0.0.1"]))
    push = PushSender(policy, backoff=0.01, timeout=1.0)
    async with Receiver() as receiver:
        ok = await push.deliver(config(receiver.url(host="hooks.example.test")), b"{}")
    await push.aclose()
    assert ok is True
    assert receiver.hits[0].headers["host"] == f"hooks.example.test:{receiver.port}"


async def test_unresolvable_name_is_accepted_on_set_and_refused_at_send_time() -> None:
    await UrlPolicy().check_on_set("https://example.com/webhook")  # no DNS here, or global
    policy = UrlPolicy(resolver=no_dns)
    await policy.check_on_set("https://hooks.invalid/webhook")
    push = PushSender(policy, attempts=2, backoff=0.01, timeout=1.0)
    assert await push.deliver(config("https://hooks.invalid/webhook"), b"{}") is False
    await push.aclose()


async def test_public_addresses_are_accepted_on_set() -> None:
    policy = UrlPolicy(resolver=fixed_resolver(["93.184.215.14", "2606:2800:21f:cb07::1"]))
    for url in ("https://8.8.8.8/hook", "http://[2001:4860:4860::8888]:8443/hook",
                "https://hooks.example.test/webhook"):
        await policy.check_on_set(url)


async def test_allowlist_by_host_and_port() -> None:
    policy = UrlPolicy(allow_hosts=["localhost", "127.0.0.1:9000", "[::1]:9001"])
    await policy.check_on_set("http://localhost:1234/hook")
    await policy.check_on_set("http://127.0.0.1:9000/hook")
    await policy.check_on_set("http://[::1]:9001/hook")
    for url in ("http://127.0.0.1:9001/hook", "http://[::1]:9000/", "http://10.0.0.1:9000/"):
        with pytest.raises(InvalidInput):
            await policy.check_on_set(url)
    await UrlPolicy(allow_hosts=["*"]).check_on_set("http://169.254.169.254/latest/meta-data")
    with pytest.raises(ConfigurationError):
        UrlPolicy(allow_hosts=["localhost:http"])


async def test_redirects_are_not_followed(caplog: Any) -> None:
    policy = UrlPolicy(allow_hosts=["127.0.0.1"])
    push = PushSender(policy, backoff=0.01, timeout=1.0)
    async with (
        Receiver() as target,
        Receiver([(302, {"Location": target.url("/stolen")})]) as hook,
    ):
        ok = await push.deliver(config(hook.url()), b"{}")
    await push.aclose()
    assert ok is False
    assert len(hook.hits) == 1  # a redirect is a failure, not retried
    assert target.hits == []
    assert "redirects are not followed" in caplog.text
