"""Object storage: .vectro files and indexes on a local S3 server (moto), read by range requests."""

import socket

import numpy as np
import pytest

import vectro

pytest.importorskip("s3fs")
pytest.importorskip("moto.server")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A moto S3 server on 127.0.0.1 for this module, with one bucket; stopped afterwards."""
    import os

    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_ENDPOINT_URL=endpoint,
                      AWS_DEFAULT_REGION="us-east-1")
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="vectro")
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    yield endpoint
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def fetched(monkeypatch):
    """Count the bytes s3fs actually downloads (its one range-read primitive)."""
    import s3fs

    counter = {"bytes": 0, "requests": 0}
    original = s3fs.S3FileSystem._cat_file

    async def counting(self, path, start=None, end=None, **kwargs):
        data = await original(self, path, start=start, end=end, **kwargs)
        counter["bytes"] += len(data)
        counter["requests"] += 1
        return data

    monkeypatch.setattr(s3fs.S3FileSystem, "_cat_file", counting)
    s3fs.S3FileSystem.clear_instance_cache()  # instances bind their sync methods when created
    yield counter
    s3fs.S3FileSystem.clear_instance_cache()


def test_compressed_file_round_trip_through_s3(s3, sample, fetched):
    base, queries = sample
    packed = vectro.compress(base[:1000], "nf4")
    packed.save("s3://vectro/base.vectro")
    back = vectro.load("s3://vectro/base.vectro")
    np.testing.assert_array_equal(np.asarray(back.codes), packed.codes)
    # the same codes at another memory alignment: vectorised sums may round in another order (a few ulp)
    np.testing.assert_allclose(back.score(queries[:3]), packed.score(queries[:3]), rtol=1e-5, atol=1e-7)


def test_remote_index_searches_fetching_less_than_the_file(s3, sample, fetched, tmp_path):
    import s3fs

    base, queries = sample
    index = vectro.Index(384, "binary", rerank="int8")
    index.add(base)
    index.save("s3://vectro/docs.vxi")
    size = s3fs.S3FileSystem().size("vectro/docs.vxi")
    fetched["bytes"] = 0
    remote = vectro.Index.load("s3://vectro/docs.vxi")
    ids, scores = remote.search(queries[:5], k=10, oversampling=10)
    expected_ids, expected_scores = index.search(queries[:5], k=10, oversampling=10)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-6)
    assert 0 < fetched["bytes"] < size / 2  # binary codes + 500 re-rank rows, not 5,000 of them
    np.testing.assert_allclose(remote.get([7, 9]), index.get([7, 9]))
    remote.add(base[:2], ids=[10_000, 10_001])  # writing fetches the rest first, then works locally
    assert len(remote) == 5002
