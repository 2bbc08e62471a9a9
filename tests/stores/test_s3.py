"""S3 against a real S3-compatible server (moto's server mode, ``tests/s3_server.py``): the
blob store, the store contract on ``SplitStore`` (SQLite records, checkpoints on S3) and the
run archive."""

from __future__ import annotations

import calendar
import gzip
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic_core import from_json
from s3_server import S3Bucket, s3_bucket

from fastagentic.core import events as ev
from fastagentic.core.runs import COMPLETED, FAILED, RUNNING, Checkpoint, RunRecord
from fastagentic.exceptions import ConfigurationError, StoreError
from fastagentic.stores.archive import Archive, archive_key, parse_key
from fastagentic.stores.factory import store_from_url
from fastagentic.stores.s3 import S3Blobs, blobs_from_url
from fastagentic.stores.split import INDEX_NS, SplitStore
from fastagentic.testing.store_contract import (
    AWKWARD_TEXT,
    AWKWARD_VALUE,
    CHECKS,
    Check,
    check_id,
    make_run,
)

# Characters JSON leaves unescaped that str.splitlines() would split a line on.
LINE_BREAKERS = "\u2028\u2029\x85\x1c\x1d\x1e\x0b\x0c"


@pytest.fixture
def s3() -> Iterator[S3Bucket]:
    with s3_bucket() as bucket:
        yield bucket


@pytest.fixture
async def blobs(s3: S3Bucket) -> AsyncIterator[S3Blobs]:
    blobs = S3Blobs(s3.url())
    await blobs.open()
    try:
        yield blobs
    finally:
        await blobs.close()


@pytest.fixture
async def split(s3: S3Bucket, tmp_path: Path) -> AsyncIterator[SplitStore]:
    store = SplitStore(store_from_url(f"sqlite:///{tmp_path / 'runs.db'}"), S3Blobs(s3.url()))
    await store.open()
    try:
        yield store
    finally:
        await store.close()


# the store contract, checkpoints on S3


@pytest.mark.parametrize("check", CHECKS, ids=check_id)
async def test_store_contract(split: SplitStore, check: Check) -> None:
    await check(split)


async def test_checkpoints_are_objects_in_the_bucket(split: SplitStore, s3: S3Bucket) -> None:
    run = make_run()
    await split.create_run(run)
    cp = Checkpoint(id="cp-4", run_id=run.id, seq=4, state={"v": AWKWARD_VALUE})
    odd = Checkpoint(id="a/b ü", run_id=run.id, seq=12, state=None)
    await split.put_checkpoint(cp)
    await split.put_checkpoint(odd)

    keys = await split.blobs.list("checkpoints/")
    assert keys == [f"checkpoints/{run.id}/{4:020d}-cp-4.json",
                    f"checkpoints/{run.id}/{12:020d}-a%2Fb%20%C3%BC.json"]
    raw = s3.client().get_object(Bucket=s3.bucket, Key=f"fastagentic/{keys[0]}")
    assert raw["ContentType"] == "application/json"
    assert from_json(raw["Body"].read()) == cp.to_dict()
    assert await split.records.list_checkpoints(run.id) == [], "nothing in the records store"
    assert [k for k, _ in await split.records.kv_list(INDEX_NS)] == [
        f"{run.id}/{4:020d}-cp-4", f"{run.id}/{12:020d}-a%2Fb%20%C3%BC"]
    assert [c.id for c in await split.list_checkpoints(run.id)] == ["cp-4", "a/b ü"]


class CountingBlobs(S3Blobs):
    """Counts the listings made through it."""

    listings = 0

    async def list(self, *args: Any, **kwargs: Any) -> list[str]:
        self.listings += 1
        return await super().list(*args, **kwargs)


async def test_latest_checkpoint_reads_the_index_not_a_listing(s3: S3Bucket,
                                                               tmp_path: Path) -> None:
    blobs = CountingBlobs(s3.url())
    store = SplitStore(store_from_url(f"sqlite:///{tmp_path / 'runs.db'}"), blobs)
    await store.open()
    try:
        run = make_run()
        await store.create_run(run)
        assert await store.latest_checkpoint(run.id) is None
        for seq in (3, 1500, 20, 7):  # out of order; 1500 sorts last only when zero-padded
            await store.put_checkpoint(Checkpoint(id=f"cp-{seq}", run_id=run.id, seq=seq,
                                                  state={"seq": seq}))
        latest = await store.latest_checkpoint(run.id)
        assert latest is not None and latest.id == "cp-1500"
        assert blobs.listings == 0
    finally:
        await store.close()


async def test_latest_checkpoint_without_its_object_falls_back_on_the_listing(
        split: SplitStore) -> None:
    run = make_run()
    await split.create_run(run)
    for seq in (4, 9):
        await split.put_checkpoint(Checkpoint(id=f"cp-{seq}", run_id=run.id, seq=seq,
                                              state={"seq": seq}))
    # As after a put that wrote its index entry but not its object.
    await split.blobs.delete(f"checkpoints/{run.id}/{9:020d}-cp-9.json")
    latest = await split.latest_checkpoint(run.id)
    assert latest is not None and latest.state == {"seq": 4}
    assert [c.seq for c in await split.list_checkpoints(run.id)] == [4]


async def test_prune_removes_the_objects_and_their_index(split: SplitStore) -> None:
    done, live = make_run(status=COMPLETED, finished_at=time.time()), make_run(status=RUNNING)
    for run in (done, live):
        await split.create_run(run)
        for seq in (1, 2):
            await split.put_checkpoint(Checkpoint(id=f"cp-{seq}", run_id=run.id, seq=seq,
                                                  state=seq))
    assert await split.prune_run(live.id, checkpoints=True) is False
    assert await split.prune_run(done.id, record=True) is True
    assert await split.blobs.list(f"checkpoints/{done.id}/") == []
    assert await split.kv_list(INDEX_NS, f"{done.id}/") == []
    assert len(await split.blobs.list(f"checkpoints/{live.id}/")) == 2
    assert len(await split.kv_list(INDEX_NS, f"{live.id}/")) == 2


# the blob store


async def test_put_get_delete(blobs: S3Blobs, s3: S3Bucket) -> None:
    payload = (AWKWARD_TEXT * 1000).encode() + bytes(range(256))
    await blobs.put("dir/ü key 🔑.bin", payload, content_type="application/x-test")
    assert await blobs.get("dir/ü key 🔑.bin") == payload
    head = s3.client().head_object(Bucket=s3.bucket, Key="fastagentic/dir/ü key 🔑.bin")
    assert head["ContentType"] == "application/x-test"
    assert await blobs.get("dir/missing") is None
    await blobs.delete("dir/ü key 🔑.bin")
    await blobs.delete("dir/ü key 🔑.bin")  # deleting what is gone is no error
    assert await blobs.get("dir/ü key 🔑.bin") is None


async def test_list_and_delete_prefix_go_page_by_page(blobs: S3Blobs, s3: S3Bucket) -> None:
    blobs.page_size = 3
    keys = [f"k/{i:02d}-ü" for i in range(10)]
    for key in [*keys, "kk/not-under-k", "other/x"]:
        await blobs.put(key, key.encode())
    neighbour = S3Blobs(s3.url("fastagentic2"))  # a prefix that starts like ours
    await neighbour.open()
    try:
        await neighbour.put("k/00-ü", b"theirs")
        assert await blobs.list("k/") == keys
        assert await blobs.list("k/", start_after=keys[4], limit=4) == keys[5:9]
        assert await blobs.list("k/", limit=0) == []
        assert await blobs.list() == [*keys, "kk/not-under-k", "other/x"]

        assert await blobs.delete_prefix("k/") == 10  # four DeleteObjects batches
        assert await blobs.list() == ["kk/not-under-k", "other/x"]
        assert await neighbour.get("k/00-ü") == b"theirs"
        assert await blobs.delete_prefix("k/") == 0
    finally:
        await neighbour.close()


async def test_a_missing_bucket_fails_fast_and_says_so(s3: S3Bucket, tmp_path: Path) -> None:
    url = f"s3://no-such-bucket-{s3.bucket}/x?endpoint={s3.endpoint}"
    started = time.monotonic()
    with pytest.raises(StoreError, match=f"bucket 'no-such-bucket-{s3.bucket}' does not exist"):
        await S3Blobs(url).open()
    records = store_from_url(f"sqlite:///{tmp_path / 'runs.db'}")
    with pytest.raises(StoreError, match="does not exist"):
        await SplitStore(records, S3Blobs(url)).open()
    assert time.monotonic() - started < 5


async def test_missing_credentials_fail_fast_and_say_so(s3: S3Bucket,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    started = time.monotonic()
    with pytest.raises(StoreError, match="no usable AWS credentials.*AWS_ACCESS_KEY_ID"):
        await S3Blobs(s3.url()).open()
    assert time.monotonic() - started < 5


async def test_unreachable_server_fails_fast(s3: S3Bucket) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once it is closed
    started = time.monotonic()
    with pytest.raises(StoreError, match=f"server at http://127.0.0.1:{port} does not answer"):
        await S3Blobs(f"s3://{s3.bucket}/x?endpoint=http://127.0.0.1:{port}").open()
    assert time.monotonic() - started < 10


async def test_using_a_blob_store_that_is_not_open_is_an_error(s3: S3Bucket) -> None:
    with pytest.raises(StoreError, match="not open"):
        await S3Blobs(s3.url()).get("x")


def test_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    blobs = blobs_from_url("s3://bucket/a/b/?endpoint=http://127.0.0.1:9000&region=eu-west-3")
    assert (blobs.bucket, blobs.prefix, blobs.endpoint, blobs.region) == (
        "bucket", "a/b", "http://127.0.0.1:9000", "eu-west-3")
    plain = blobs_from_url("s3://bucket")
    assert (plain.prefix, plain.endpoint, plain.region) == ("", None, None)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://minio:9000")
    assert blobs_from_url("s3://bucket/p").endpoint == "http://minio:9000"
    for url, message in [
        ("redis://127.0.0.1:6379/0", "not a blob store URL"),
        ("/tmp/blobs", "not a blob store URL"),
        ("s3:///prefix", "s3://bucket/prefix"),
        ("s3://bucket/p?endpoint=http://h:1&bucket=x", "unknown parameter"),
        ("s3://bucket/p?endpoint=ftp://h", "http"),
    ]:
        with pytest.raises(ConfigurationError, match=message):
            blobs_from_url(url)


async def test_endpoint_from_the_environment(s3: S3Bucket,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    blobs = blobs_from_url(f"s3://{s3.bucket}/env")
    await blobs.open()
    try:
        await blobs.put("x", b"1")
        assert await blobs.get("x") == b"1"
    finally:
        await blobs.close()
    assert s3.client().get_object(Bucket=s3.bucket, Key="env/x")["Body"].read() == b"1"


# the archive


def finished_run(tenant: str | None, finished: str, **fields: Any) -> RunRecord:
    """A completed run of ``tenant`` that finished at ``finished`` (UTC, ISO 8601)."""
    at = calendar.timegm(time.strptime(finished, "%Y-%m-%dT%H:%M:%S"))
    return make_run(**{"status": COMPLETED, "tenant": tenant, "finished_at": at,
                       "created_at": at - 60, **fields})


async def test_archive_round_trip(blobs: S3Blobs) -> None:
    archive = Archive(blobs)
    big = "0123456789abcdef" * 70_000 + AWKWARD_TEXT
    run = finished_run("acme/eu ü", "2024-02-29T23:59:59", input=AWKWARD_VALUE,
                       output={"big": big, "odd": LINE_BREAKERS}, usage={"amount": {"usd": 0.1}},
                       answers={"ask 🔑": AWKWARD_VALUE}, labels={"l": LINE_BREAKERS})
    events = [
        ev.encode(run.id, 1, ev.RUN_STARTED, 1712345678.123456, {}),
        ev.encode(run.id, 2, ev.TOKEN, time.time(), {"content": AWKWARD_TEXT, "delta": {}}),
        ev.encode(run.id, 3, ev.TOKEN, time.time(), {"content": LINE_BREAKERS + "\n\r\n"}),
        ev.encode(run.id, 4, ev.NODE_END, time.time(), {"node": "n", "result": AWKWARD_VALUE}),
        ev.encode(run.id, 5, ev.TOKEN, time.time(), {"content": big}),
        ev.encode(run.id, 6, ev.DONE, time.time(), {"output": {"big": big}}),
    ]
    checkpoints = [
        Checkpoint(id="cp-2", run_id=run.id, seq=2, state={"v": AWKWARD_VALUE},
                   metadata={"note": LINE_BREAKERS}),
        Checkpoint(id="cp-ü\n5", run_id=run.id, seq=5, state=[big, None, 1 / 3]),
    ]

    key = await archive.put_run(run, events, checkpoints)
    assert key == f"archive/acme%2Feu%20%C3%BC/2024/02/{run.id}.jsonl.gz" == archive_key(run)
    for ref in (run.id, key):
        got = await archive.get_run(ref)
        assert got is not None and got.key == key
        assert got.run.to_dict() == run.to_dict()
        assert got.events == events, "every event comes back exactly, its wire JSON too"
        assert [c.to_dict() for c in got.checkpoints] == [c.to_dict() for c in checkpoints]

    # One gzip object of JSON lines: the run, then the events, then the checkpoints.
    raw = await blobs.get(key)
    assert raw is not None and raw[:2] == b"\x1f\x8b" and len(raw) < len(big) // 10
    lines = gzip.decompress(raw).decode().split("\n")
    assert lines[-1] == "" and len(lines) == 1 + 1 + len(events) + len(checkpoints)
    kinds = [from_json(line)["kind"] for line in lines[:-1]]
    assert kinds == ["run"] + ["event"] * len(events) + ["checkpoint"] * len(checkpoints)
    assert from_json(lines[0])["run"]["id"] == run.id


async def test_archive_list_and_delete(blobs: S3Blobs) -> None:
    archive = Archive(blobs)
    runs = {
        "a1": finished_run("acme", "2024-03-01T00:00:00"),
        "a2": finished_run("acme", "2024-03-31T23:59:59"),
        "a3": finished_run("acme", "2024-04-01T00:00:00"),
        "none": finished_run(None, "2024-03-15T12:00:00"),
        "under": finished_run("_", "2024-03-15T12:00:00", status=FAILED),
        "globex": finished_run("globex", "2023-12-31T23:59:59"),
    }
    never_finished = make_run(tenant="acme", created_at=runs["a1"].finished_at)
    for run in [*runs.values(), never_finished]:
        await archive.put_run(run, [], [])
    # Archiving again rewrites the same object.
    await archive.put_run(runs["a1"], [ev.encode(runs["a1"].id, 1, ev.DONE, 1.0, {})], [])

    def ids(entries: list[Any]) -> set[str]:
        return {e.run_id for e in entries}

    everything = await archive.list()
    assert [e.key for e in everything] == sorted(archive_key(r) for r in
                                                 [*runs.values(), never_finished])
    acme = await archive.list(tenant="acme")
    assert ids(acme) == {runs["a1"].id, runs["a2"].id, runs["a3"].id, never_finished.id}
    assert all(e.tenant == "acme" for e in acme)
    assert ids(await archive.list(tenant="acme", month="2024-03")) == {
        runs["a1"].id, runs["a2"].id, never_finished.id}
    assert ids(await archive.list(month="2024-03")) == {
        runs["a1"].id, runs["a2"].id, never_finished.id, runs["none"].id, runs["under"].id}
    untenanted = await archive.list(tenant=None)
    assert ids(untenanted) == {runs["none"].id} and untenanted[0].tenant is None
    assert ids(await archive.list(tenant="_")) == {runs["under"].id}
    assert (await archive.list(tenant="globex"))[0].month == "2023-12"
    assert await archive.list(tenant="nobody") == []

    page1 = await archive.list(limit=4)
    page2 = await archive.list(limit=4, after=page1[-1].key)
    assert [e.key for e in page1 + page2] == [e.key for e in everything]
    with pytest.raises(ConfigurationError, match="YYYY-MM"):
        await archive.list(month="2024/03")

    got = await archive.get_run(runs["a1"].id)
    assert got is not None and len(got.events) == 1
    assert await archive.delete(runs["a1"].id) is True
    assert await archive.get_run(runs["a1"].id) is None
    assert await archive.get_run(archive_key(runs["a1"])) is None
    assert await archive.delete(runs["a1"].id) is False
    assert await archive.delete(archive_key(runs["under"])) is True
    assert runs["under"].id not in ids(await archive.list())
    assert await archive.get_run("run_never_archived") is None
    assert parse_key("archive-ids/x") is None and parse_key("archive/a/2024/x.jsonl.gz") is None


async def test_a_foreign_object_is_not_read_as_an_archive(blobs: S3Blobs) -> None:
    key = "archive/acme/2024/01/run_x.jsonl.gz"
    await blobs.put(key, gzip.compress(b'{"kind": "something else"}\n'))
    with pytest.raises(StoreError, match="not a fastagentic run archive"):
        await Archive(blobs).get_run(key)
