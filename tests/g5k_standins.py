"""Fixtures that serve the Grid5000 stand-ins on 127.0.0.1.

- ``g5k_api_server`` (session): the REST API stand-in (tests/g5k_api_server), serving the real
  reference documents of tests/data/g5k; started once, its state is reset for every test.
- ``g5k_api`` (function): the same server with a fresh state, and ``g5k_configuration`` pointing
  execo_g5k at it (fast retries, a short timeout, a reference cache shared by the session so that
  the whole reference is fetched once). Everything is restored afterwards.
"""

import pytest

from g5k_api_server import G5kAPIStandin


@pytest.fixture(scope="session")
def g5k_api_server():
    server = G5kAPIStandin().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def g5k_reference_cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("g5k_api_cache"))


@pytest.fixture
def g5k_api(g5k_api_server, g5k_reference_cache_dir):
    from execo_g5k import api_cache
    from execo_g5k.config import g5k_configuration

    saved = dict(g5k_configuration)
    g5k_api_server.state.reset()
    api_cache.reset()
    g5k_configuration.update({
        "api_uri": g5k_api_server.base_uri,
        "api_username": None,
        "api_password": None,
        "api_additional_args": {},
        "api_timeout": 5,
        "api_retries": 2,
        "api_retry_backoff": 0.01,
        "api_cache_dir": g5k_reference_cache_dir,
    })
    try:
        yield g5k_api_server
    finally:
        api_cache.reset()
        g5k_configuration.clear()
        g5k_configuration.update(saved)
        g5k_api_server.state.reset()
