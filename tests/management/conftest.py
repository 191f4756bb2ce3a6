"""Fixtures of the management tests: a PKI (and a foreign one), services, curl, the admin
server's LwM2M server (tests/management/lwm2m_helpers.py)."""
from pathlib import Path

import pytest

from pipsim.management import pki
from lwm2m_helpers import Running
from mgmt_helpers import Curl, Service

SERVERS = ("keystore", "owner-tg", "validator")
CLIENTS = ("alice", "bob", "admin", "maintainer-server")


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory) -> Path:
    """A CA with the services' and the clients' bundles."""
    directory = pki.init(tmp_path_factory.mktemp("pki") / "ca")
    for name in SERVERS:
        pki.issue(directory, name, [])
    for name in CLIENTS:
        pki.issue(directory, name)
    return directory


@pytest.fixture(scope="session")
def foreign_pki(tmp_path_factory) -> Path:
    """Another CA, with an 'alice' and an 'admin' of its own."""
    directory = pki.init(tmp_path_factory.mktemp("pki") / "foreign")
    pki.issue(directory, "alice")
    pki.issue(directory, "admin")
    return directory


@pytest.fixture
def services(tmp_path):
    """Start services (``services(command, *args, env=...)``); all are stopped afterwards."""
    started = []

    def start(command, *args, env=None):
        started.append(Service(tmp_path, command, *args, env=env))
        return started[-1]
    yield start
    for each in started:
        each.stop()


@pytest.fixture
def curl(pki_dir, tmp_path) -> Curl:
    return Curl(pki_dir, tmp_path)


@pytest.fixture
def admin_server():
    """``admin_server(port, **options)``: a ``Running`` server, stopped after the test."""
    started = []

    def start(port, **options):
        started.append(Running(port, **options))
        return started[-1]

    yield start
    for running in started:
        if running.thread.is_alive():
            running.stop()
