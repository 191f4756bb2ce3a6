"""Helpers of the management tests: services in processes, curl, keys."""
import json
import os
import subprocess
from pathlib import Path

from pipsim.management import pki
from pipsim.tokens import HMAC_256_64, CoseKey

from coapnet import Served
from outside import command

PASSPHRASE = "correct horse battery staple"


class Service(Served):
    """``pipsim COMMAND ...`` in a process of its own, on 127.0.0.1, any free port (``url``)."""

    def __init__(self, tmp_path: Path, command: str, *args, env=None):
        super().__init__(tmp_path / f"{command}.ready", [command, "--bind", "127.0.0.1:0", *args],
                         env)
        self.url = self.uri


def keystore_env(passphrase=PASSPHRASE) -> dict:
    return {**os.environ, "PIPSIM_KEYSTORE_PASSPHRASE": passphrase}


class Answer:
    def __init__(self, status: int, content_type: str, body: bytes):
        self.status, self.content_type, self.body = status, content_type, body

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self):
        assert self.content_type.startswith("application/json"), self.content_type
        return json.loads(self.body)


def curl_path() -> str:
    return command("curl")


class Curl:
    """curl as a caller: ``as_`` a client of ``ca`` (its bundle DIR/NAME), or with no
    certificate (None), always checking the server against ``ca``'s certificate."""

    def __init__(self, ca: Path, tmp_path: Path):
        self.ca, self.tmp_path = ca, tmp_path

    def run(self, url: str, *, as_: str | None = "alice", cert_ca: Path | None = None,
            method: str = "GET", data: str | None = None) -> subprocess.CompletedProcess:
        body = self.tmp_path / "curl.body"
        command = [curl_path(), "-sS", "--max-time", "20", "-o", str(body),
                   "-w", "%{http_code} %{content_type}", "-X", method, "--cacert", str(self.ca / pki.CA_CERT)]
        if as_ is not None:
            bundle = (cert_ca or self.ca) / as_
            command += ["--cert", str(bundle / pki.CERT), "--key", str(bundle / pki.KEY)]
        if data is not None:
            command += ["-H", "Content-Type: application/json", "--data-binary", data]
        done = subprocess.run(command + [url], capture_output=True, text=True, timeout=60)
        done.body = body.read_bytes() if body.exists() else b""
        body.unlink(missing_ok=True)
        return done

    def __call__(self, url: str, **kwargs) -> Answer:
        """An HTTP answer (the exchange must succeed)."""
        done = self.run(url, **kwargs)
        assert done.returncode == 0, done.stderr
        status, _, content_type = done.stdout.partition(" ")
        return Answer(int(status), content_type, done.body)


def issuing_key(path: Path, kid: str = "owner-server") -> CoseKey:
    """A domain server's issuing key, as `pipsim serve --export-keys` writes it."""
    key = CoseKey.generate(HMAC_256_64, kid.encode())
    path.write_bytes(key.to_bytes())
    path.chmod(0o600)
    return key
