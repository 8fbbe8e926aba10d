"""serve(): a port already in use is a one-line R1kitError, found before the model loads."""

import socket

import pytest

from r1kit.errors import R1kitError
from r1kit.serve.server import bind, serve


@pytest.fixture
def busy_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_port_in_use(busy_port):
    with pytest.raises(R1kitError, match=f"port {busy_port} on 127.0.0.1 is already in use") as e:
        bind("127.0.0.1", busy_port)
    assert "\n" not in str(e.value)


def test_serve_checks_the_port_before_loading_the_model(busy_port):
    with pytest.raises(R1kitError, match="already in use"):  # not "model path not found"
        serve("./no/such/model", host="127.0.0.1", port=busy_port)


def test_bad_host():
    with pytest.raises(R1kitError, match="cannot listen on no.such.host.invalid:8000"):
        bind("no.such.host.invalid", 8000)
