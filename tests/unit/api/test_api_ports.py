"""A port that another process holds is refused at start-up with what to do about it."""

from __future__ import annotations

import socket

import pytest

from xae.api.server import check_port_free
from xae.errors import PortInUse


def test_a_taken_api_port_is_reported_with_the_setting_to_change() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PortInUse) as caught:
            check_port_free("127.0.0.1", port, "API", "XAE_API_PORT")
    assert str(port) in caught.value.message
    assert "XAE_API_PORT" in caught.value.message


def test_a_free_port_passes() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check_port_free("127.0.0.1", port, "API", "XAE_API_PORT")
