"""The house of §VII over the network: the lamp and the sensor served by ``pipsim serve``
(CoAP + DTLS-PSK), the gateway's links to them CoAP clients (domains/house.py
``RemoteDevice``); the same session as in process, less the devices' insides."""
from __future__ import annotations

import io
import subprocess
import sys

import pytest

from pipsim.domains.gateway import transcript
from pipsim.domains.house import DEVICES, House, RemoteDevice, house_session

from coapnet import PSK, Served, free_port, serve_argv


@pytest.mark.needs("DTLSSocket")
@pytest.mark.filterwarnings("ignore:DTLS module did not shut down")   # aiocoap's, at close
def test_the_house_with_served_devices(tmp_path):
    served, devices = [], {}
    try:
        for name, image in DEVICES.items():
            port, keys = free_port(), tmp_path / f"{name}-keys"
            served.append(Served(tmp_path / f"{name}.ready", serve_argv(port, keys, image)))
            devices[name] = RemoteDevice(name, served[-1].uri, PSK, keys)
        # the CLI first, on fresh sessions (the same devices: their replay caches keep)
        argv = [a for n, s in zip(DEVICES, served) for a in (f"--{n}", s.uri,
                                                             str(tmp_path / f"{n}-keys"))]
        cli = subprocess.run([sys.executable, "-m", "pipsim.kernel.cli", "house", *argv, "--psk",
                              ":".join(PSK)], capture_output=True, text=True, timeout=120)
        assert cli.returncode == 0, cli.stdout + cli.stderr
        assert "over the network" in cli.stdout and "UNEXPECTED" not in cli.stdout
        house = House(devices=devices)
        assert not house.inside
        steps = house_session(house)
        out = io.StringIO()
        assert transcript(steps, out), out.getvalue()
        text = out.getvalue()
        assert "switches the lamp on (forwarded by domain provider-b): accepted" in text
        assert "refused (not_linked)" in text and "refused (command_mismatch)" in text
        assert "register" not in text                  # no device inside at hand
        assert all(s.running for s in served)
    finally:
        for device in devices.values():
            device.close()
        for server in served:
            server.stop()
