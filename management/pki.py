"""The management PKI: one CA, and a certificate per named service or client (X.509, RFC 5280).

The management services authenticate their callers by mutual TLS (``pipsim.management.service``);
the caller's identity is its certificate's common name.  Layout of a PKI directory::

    DIR/            0700
      ca.pem        the CA certificate
      ca.key        its private key (0600): stays here
      NAME/         0700, what the entity NAME is given (``--tls DIR/NAME``)
        ca.pem      the CA certificate, to check its peers
        cert.pem    its certificate: CN = NAME
        key.pem     its private key (0600)

Keys are ECDSA P-256.  A client certificate has the extended key usage clientAuth; a server
certificate (``--server``: its hosts as subjectAltNames, RFC 6125 §6) has serverAuth and
clientAuth, since a service may call another (the Token Generator calls the Keystore
Manager) under its own name.  OpenSSL checks the usage, so a client certificate cannot
serve.  ``pipsim pki init DIR``; ``pipsim pki issue DIR NAME [--server [HOST ...]]``.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
import re
from pathlib import Path
from typing import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pipsim.kernel.errors import PipsimError
from pipsim.kernel.keyfiles import private_dir, write_private

CA_CERT, CA_KEY = "ca.pem", "ca.key"
CERT, KEY = "cert.pem", "key.pem"          # in an entity's bundle, beside its CA_CERT
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
CA_DAYS, LEAF_DAYS = 3650, 825
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class PkiError(PipsimError):
    """A PKI directory or name that cannot be used as asked."""


def init(directory: str | os.PathLike) -> Path:
    """Create the CA in ``directory`` (which must not hold one yet)."""
    directory = Path(directory)
    if (directory / CA_KEY).exists() or (directory / CA_CERT).exists():
        raise PkiError(f"{directory} already holds a CA")
    private_dir(directory)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pipsim management CA")])
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    write_private(directory / CA_KEY, _pem_key(key))
    (directory / CA_CERT).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return directory


def issue(directory: str | os.PathLike, name: str, servers: Sequence[str] | None = None) -> Path:
    """Issue the certificate of ``name`` (a client's, or a server's for the hosts ``servers``)
    into the bundle ``directory/name``, which is returned."""
    directory = Path(directory)
    if not NAME.fullmatch(name or ""):
        raise PkiError(f"name {name!r}: letters, digits, '-' and '_', at most 64, "
                       "starting with a letter or digit")
    try:
        ca_key = serialization.load_pem_private_key((directory / CA_KEY).read_bytes(), None)
        ca_cert = x509.load_pem_x509_certificate((directory / CA_CERT).read_bytes())
    except FileNotFoundError:
        raise PkiError(f"{directory} holds no CA: run `pipsim pki init {directory}`") from None
    bundle = directory / name
    if bundle.exists():
        raise PkiError(f"{bundle} exists: {name!r} has a certificate already")
    key = ec.generate_private_key(ec.SECP256R1())
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    now = _now()
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .issuer_name(ca_cert.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                              critical=True)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                              critical=False))
    if servers is not None:
        usages.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(host) for host in servers or LOCAL_HOSTS]),
            critical=False)
    cert = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False).sign(ca_key, hashes.SHA256())
    private_dir(bundle)
    write_private(bundle / KEY, _pem_key(key))
    (bundle / CERT).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (bundle / CA_CERT).write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return bundle


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)  # clock skew


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        pass
    if not re.fullmatch(r"[A-Za-z0-9.-]{1,253}", host):
        raise PkiError(f"--server {host!r} is neither an IP address nor a DNS name")
    return x509.DNSName(host)


def register(subparsers) -> None:
    """``pipsim pki init DIR`` and ``pipsim pki issue DIR NAME [--server [HOST ...]]``."""
    pki = subparsers.add_parser("pki", help="the management services' CA and certificates",
                                description=__doc__.splitlines()[0])
    commands = pki.add_subparsers(dest="pki_command", metavar="COMMAND", required=True)
    create = commands.add_parser("init", help="create the CA in DIR")
    create.add_argument("dir")
    create.set_defaults(func=lambda args: print(f"CA in {init(args.dir)}"))
    leaf = commands.add_parser("issue", help="issue NAME's certificate into DIR/NAME")
    leaf.add_argument("dir")
    leaf.add_argument("name", help="the identity: the certificate's CN")
    leaf.add_argument("--server", nargs="*", metavar="HOST",
                      help=f"a server certificate for these hosts (none given: {' '.join(LOCAL_HOSTS)})")
    leaf.set_defaults(func=lambda args: print(f"{args.name}: {issue(args.dir, args.name, args.server)}"))
