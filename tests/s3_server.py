"""A local S3 for tests: moto's server mode (``ThreadedMotoServer``) on 127.0.0.1.

One server per test process, started on first use (on a port the OS picks) and stopped at
exit; each test takes a bucket of its own with :func:`s3_bucket`, emptied and removed
afterwards.  While a bucket is in use, the environment holds moto's dummy credentials and
region and nothing that would send botocore elsewhere: no profile or config file, no
instance-metadata or container credential lookup, no endpoint override.  ``S3Bucket.env``
is the same set for subprocesses (add it to their environment)::

    with s3_bucket() as s3:
        blobs = S3Blobs(s3.url())          # s3://<bucket>/fastagentic?endpoint=http://...
        subprocess.run([...], env={**os.environ, **s3.env})
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # Never ask an instance-metadata service, and read no user's profile.
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
# Variables that would take botocore to other credentials or another server.
UNSET = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
         "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
         "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")

_lock = threading.Lock()
_endpoint: str | None = None


def endpoint() -> str:
    """The URL of this process's moto server (started on first use, stopped at exit)."""
    global _endpoint
    with _lock:
        if _endpoint is None:
            import logging

            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            atexit.register(server.stop)
            host, port = server.get_host_and_port()
            _endpoint = f"http://{host}:{port}"
        return _endpoint


@dataclass(frozen=True)
class S3Bucket:
    endpoint: str
    bucket: str
    #: The environment the bucket is used with (credentials, region, no lookups elsewhere).
    env: dict[str, str]

    def url(self, prefix: str = "fastagentic") -> str:
        """The store URL of ``prefix`` in this bucket."""
        return f"s3://{self.bucket}/{prefix}?endpoint={self.endpoint}"

    def client(self):  # noqa: ANN201 - a boto3 client
        """A plain (synchronous) boto3 client of the server, to look behind a store's back."""
        return _client(self.endpoint)


@functools.cache
def _client(url: str):  # noqa: ANN202 - a boto3 client
    """One client per server (making one takes a while), shared: boto3 clients are
    thread-safe."""
    import boto3

    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@contextlib.contextmanager
def _environment() -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in (*CREDENTIALS, *UNSET)}
    for name in UNSET:
        os.environ.pop(name, None)
    os.environ.update(CREDENTIALS)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def s3_bucket() -> Iterator[S3Bucket]:
    """A new, empty bucket on the local server, with the test credentials in the
    environment; afterwards its objects and the bucket are deleted and the environment is
    restored."""
    url = endpoint()
    name = f"fa-test-{uuid.uuid4().hex[:16]}"
    client = _client(url)
    client.create_bucket(Bucket=name)
    try:
        with _environment():
            yield S3Bucket(endpoint=url, bucket=name, env=dict(CREDENTIALS))
    finally:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", ())]
            if keys:
                client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
        client.delete_bucket(Bucket=name)
