"""Blobs on S3 or any S3-compatible server: checkpoint documents and run archives.

``S3Blobs("s3://bucket/prefix")`` keeps bytes under ``prefix/`` in ``bucket`` through one
aiobotocore client, opened by :meth:`S3Blobs.open` and kept until :meth:`S3Blobs.close`.
The URL's query names a server other than AWS (``?endpoint=http://127.0.0.1:9000``, else
the standard ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``; a server of one's own is
addressed path-style) and a region (``?region=``, else the AWS environment and config).
Credentials come from botocore's usual chain: environment, profile, instance role.

Every request has bounded connect and read timeouts and a bounded number of attempts, and
every failure surfaces as a :class:`~fastagentic.exceptions.StoreError` that names the
bucket, so a wrong bucket, missing credentials or an unreachable server fail fast and say so.
"""

from __future__ import annotations

import builtins
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..exceptions import ConfigurationError, MissingDependency, StoreError

try:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ReadTimeoutError,
    )
except ImportError:  # pragma: no cover - exercised without the extra installed
    raise MissingDependency("aiobotocore", "s3") from None

QUERY_PARAMS = frozenset({"endpoint", "region"})
DENIED = frozenset({"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"})
WRONG_REGION = frozenset({"301", "PermanentRedirect", "AuthorizationHeaderMalformed"})


def blobs_from_url(url: str) -> S3Blobs:
    """The blob store of an ``s3://bucket/prefix`` URL (not opened yet)."""
    if urlsplit(url).scheme.lower() != "s3":
        raise ConfigurationError(
            f"{url!r} is not a blob store URL: use s3://bucket/prefix (optionally "
            "?endpoint=http://host:port for an S3-compatible server, &region=NAME)")
    return S3Blobs(url)


class S3Blobs:
    """Bytes by key under one bucket and prefix; keys given and returned are relative to it."""

    #: Seconds to connect, and to wait for each read of a response.
    connect_timeout = 5.0
    read_timeout = 30.0
    #: Attempts per request (the first and its retries), botocore's "standard" retry mode.
    max_attempts = 3
    #: Keys per LIST page and per DeleteObjects batch (S3 allows 1000 at most).
    page_size = 1000

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() != "s3" or not parts.netloc:
            raise ConfigurationError(f"{url!r}: an S3 URL is s3://bucket/prefix")
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        unknown = sorted(set(query) - QUERY_PARAMS)
        if unknown:
            raise ConfigurationError(
                f"{url!r}: unknown parameter(s) {', '.join(unknown)}; an S3 URL takes "
                "?endpoint=http://host:port and &region=NAME")
        self.url = url
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.endpoint = (query.get("endpoint") or os.environ.get("AWS_ENDPOINT_URL_S3")
                         or os.environ.get("AWS_ENDPOINT_URL") or None)
        if self.endpoint is not None and urlsplit(self.endpoint).scheme not in ("http", "https"):
            raise ConfigurationError(f"{url!r}: the endpoint must be an http(s):// URL")
        self.region = query.get("region")
        self._root = f"{self.prefix}/" if self.prefix else ""
        self._client: Any = None
        self._stack: contextlib.AsyncExitStack | None = None

    def __repr__(self) -> str:
        return f"S3Blobs(s3://{self.bucket}/{self.prefix}, endpoint={self.endpoint})"

    # lifecycle

    async def open(self) -> None:
        """Create the client and check that the bucket is there and ours to use."""
        if self._client is not None:
            return
        options: dict[str, Any] = {
            "connect_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
            "retries": {"max_attempts": self.max_attempts, "mode": "standard"},
        }
        if self.endpoint is not None:
            options["s3"] = {"addressing_style": "path"}
        stack = contextlib.AsyncExitStack()
        try:
            with self._errors("connecting to"):
                self._client = await stack.enter_async_context(get_session().create_client(
                    "s3", region_name=self.region, endpoint_url=self.endpoint,
                    config=AioConfig(**options)))
            await self.ping()
        except BaseException:
            self._client = None
            await stack.aclose()
            raise
        self._stack = stack

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def ping(self) -> None:
        """Raise :class:`StoreError` unless the bucket answers to these credentials."""
        with self._errors("reaching"):
            await self._s3.head_bucket(Bucket=self.bucket)

    # blobs

    async def put(self, key: str, data: bytes, *,
                  content_type: str = "application/octet-stream") -> None:
        with self._errors("writing", key):
            await self._s3.put_object(Bucket=self.bucket, Key=self._root + key, Body=data,
                                      ContentType=content_type)

    async def get(self, key: str) -> bytes | None:
        """The blob's bytes, or None when there is none."""
        with self._errors("reading", key):
            try:
                response = await self._s3.get_object(Bucket=self.bucket, Key=self._root + key)
            except ClientError as exc:
                if _code(exc) in ("NoSuchKey", "404"):
                    return None
                raise
            async with response["Body"] as body:
                return await body.read()

    async def delete(self, key: str) -> None:
        """Remove the blob (nothing happens when there is none)."""
        with self._errors("deleting", key):
            await self._s3.delete_object(Bucket=self.bucket, Key=self._root + key)

    async def keys(self, prefix: str = "", *, start_after: str | None = None
                   ) -> AsyncIterator[str]:
        """Every key starting with ``prefix``, in key order (UTF-8 bytes), past
        ``start_after``; fetched a page at a time."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self._root + prefix,
                                  "MaxKeys": self.page_size}
        if start_after is not None:
            params["StartAfter"] = self._root + start_after
        while True:
            with self._errors("listing", prefix + "*"):
                page = await self._s3.list_objects_v2(**params)
            for item in page.get("Contents", ()):
                yield item["Key"][len(self._root):]
            if not page.get("IsTruncated"):
                return
            params.pop("StartAfter", None)
            params["ContinuationToken"] = page["NextContinuationToken"]

    async def list(self, prefix: str = "", *, start_after: str | None = None,
                   limit: int | None = None) -> builtins.list[str]:
        """The keys starting with ``prefix`` (at most ``limit`` of them), in key order."""
        found: builtins.list[str] = []
        if limit is not None and limit <= 0:
            return found
        async with contextlib.aclosing(self.keys(prefix, start_after=start_after)) as keys:
            async for key in keys:
                found.append(key)
                if limit is not None and len(found) >= limit:
                    break
        return found

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every blob whose key starts with ``prefix`` (batched DeleteObjects);
        returns how many there were."""
        removed = 0
        batch: list[str] = []
        async for key in self.keys(prefix):
            batch.append(key)
            if len(batch) == self.page_size:
                removed += await self._delete_batch(batch)
                batch = []
        if batch:
            removed += await self._delete_batch(batch)
        return removed

    async def _delete_batch(self, keys: builtins.list[str]) -> int:
        with self._errors("deleting", keys[0] + " ..."):
            response = await self._s3.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": self._root + key} for key in keys], "Quiet": True})
        errors = response.get("Errors") or []
        if errors:
            first = errors[0]
            raise StoreError(f"S3 s3://{self.bucket}/{first.get('Key')}: deleting failed "
                             f"for {len(errors)} key(s): {first.get('Code')}: "
                             f"{first.get('Message')}")
        return len(keys)

    # errors

    @property
    def _s3(self) -> Any:
        if self._client is None:
            raise StoreError(f"{self!r} is not open: call open() first")
        return self._client

    @contextlib.contextmanager
    def _errors(self, action: str, key: str | None = None) -> Iterator[None]:
        """Turn botocore's and the network's failures into one clear :class:`StoreError`."""
        try:
            yield
        except (BotoCoreError, ClientError, OSError) as exc:
            raise StoreError(self._explain(exc, action, key)) from exc

    def _explain(self, exc: Exception, action: str, key: str | None) -> str:
        where = f"s3://{self.bucket}/{self._root}{key or ''}"
        server = self.endpoint or "AWS"
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return (f"S3 {action} {where}: no usable AWS credentials ({exc}); set "
                    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or give the "
                    "process a role")
        if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
            return f"S3 {action} {where}: the server at {server} does not answer ({exc})"
        if isinstance(exc, ClientError):
            code = _code(exc)
            if code == "NoSuchBucket" or (code == "404" and key is None):  # HEAD: no body
                return f"S3 bucket {self.bucket!r} does not exist at {server}"
            if code in DENIED:
                return (f"S3 {action} {where}: access denied ({code}): check the credentials "
                        "and the bucket's policy")
            if code in WRONG_REGION:
                return (f"S3 bucket {self.bucket!r} is in another region than "
                        f"{self.region or 'the configured one'}: add ?region=NAME to the URL")
            message = exc.response.get("Error", {}).get("Message") or exc
            return f"S3 {action} {where}: {code}: {message}"
        return f"S3 {action} {where} at {server} failed: {exc}"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


__all__ = ["S3Blobs", "blobs_from_url"]
