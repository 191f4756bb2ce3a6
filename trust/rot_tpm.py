"""A TPM 2.0 root of trust (tpm2-pytss over the TSS's swtpm TCTI), and ``Swtpm``: the TPM
simulator started on loopback with its state in a temporary directory.

The tree register is PCR 23 (resettable, the application's); the attestation key is an ECC
P-256 restricted signing primary key under the owner hierarchy (never leaves the TPM); a quote
is TPM2_Quote over PCR 23 whose qualifying data is SHA-256(nonce) || SHA-256(claims); sealing
puts a random 32-byte key into a keyed-hash object whose policy is PolicyPCR over PCR 23 (or,
sealed to a partition's register, whose auth value is that register), and the data goes under
that key with ChaCha20-Poly1305 (a TPM seals at most 128 bytes).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

import cbor2
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from pipsim.kernel.needs import require
from pipsim.kernel.wire import CBORError, loads

from .measure import sha256
from .rot import SEAL_NONCE, AttestationError, RootOfTrust, SealError, bound

PCR = 23
PCR_SELECTION = f"sha256:{PCR}"
TPM_GENERATED = 0xFF544347           # TPM_GENERATED_VALUE (TPM 2.0 Part 2, 6.2)
AK_ATTRIBUTES = ("fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign")
# sealed to a partition's register: its auth value; no dictionary-attack lockout, which a
# failed unseal (a changed partition) would otherwise count towards (docs/trust.md)
SEAL_AUTH_ATTRIBUTES = "fixedtpm|fixedparent|userwithauth|noda"
STORAGE_ATTRIBUTES = ("fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|decrypt"
                      "|noda")


class TpmRoot(RootOfTrust):
    """The measurements extended into PCR 23 of a TPM reached through ``tcti`` (e.g.
    ``Swtpm.tcti``), its attestation key and sealing inside it."""

    kind = "tpm"

    def __init__(self, tcti: str):
        require("tpm2_pytss")
        import tpm2_pytss as tss
        self._tss = tss
        name, _, config = tcti.partition(":")
        self._esapi = tss.ESAPI(tss.TCTILdr(name, config))
        self._esapi.pcr_reset(tss.ESYS_TR.PCR23)
        self._ak, ak_public = self._primary("ecc256:ecdsa-sha256:null", AK_ATTRIBUTES)
        self._public = serialization.load_pem_public_key(ak_public.to_pem())
        self._storage, _ = self._primary("ecc256:aes128cfb", STORAGE_ATTRIBUTES)

    def _primary(self, template: str, attributes: str):
        tss = self._tss
        public = tss.TPM2B_PUBLIC.parse(template, objectAttributes=attributes)
        handle, out_public, *_ = self._esapi.create_primary(None, public, tss.ESYS_TR.OWNER)
        return handle, out_public

    def close(self) -> None:
        """Flush its keys from the TPM (transient objects outlive a connection) and close."""
        self._esapi.flush_context(self._ak)
        self._esapi.flush_context(self._storage)
        self._esapi.close()

    def extend(self, digest: bytes) -> None:
        tss = self._tss
        self._esapi.pcr_extend(tss.ESYS_TR.PCR23, tss.TPML_DIGEST_VALUES(
            [tss.TPMT_HA(hashAlg=tss.TPM2_ALG.SHA256, digest=tss.TPMU_HA(sha256=digest))]))

    def register(self) -> bytes:
        _, _, values = self._esapi.pcr_read(PCR_SELECTION)
        return bytes(values[0])

    def quote(self, nonce: bytes, claims: bytes) -> bytes:
        attest, signature = self._esapi.quote(self._ak, PCR_SELECTION,
                                              sha256(nonce) + claims)
        return cbor2.dumps([bytes(attest), signature.marshal()])

    @classmethod
    def check_quote(cls, quote: bytes, public_key, nonce: bytes, claims: bytes,
                    register: bytes) -> None:
        require("tpm2_pytss")
        import tpm2_pytss as tss
        try:
            attest_bytes, signature_bytes = loads(quote)
            attest, _ = tss.TPMS_ATTEST.unmarshal(attest_bytes)
            signature, _ = tss.TPMT_SIGNATURE.unmarshal(signature_bytes)
            ecdsa = signature.signature.ecdsa
            der = encode_dss_signature(int.from_bytes(bytes(ecdsa.signatureR), "big"),
                                       int.from_bytes(bytes(ecdsa.signatureS), "big"))
        except (CBORError, ValueError, TypeError, tss.TSS2_Exception) as error:
            raise AttestationError("malformed", f"TPM quote: {error}") from None
        if attest.magic != TPM_GENERATED or attest.type != tss.TPM2_ST.ATTEST_QUOTE:
            raise AttestationError("malformed", "TPM quote: not a TPM-generated quote")
        try:
            public_key.verify(der, attest_bytes, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise AttestationError("bad_signature", "TPM quote: the signature does not "
                                   "verify with the enrolled attestation key") from None
        extra = bytes(attest.extraData)
        if extra[:32] != sha256(nonce):
            raise AttestationError("nonce_mismatch", "the quote answers another nonce "
                                   "(a replayed quote)")
        selection = attest.attested.quote.pcrSelect
        if selection.marshal() != tss.TPML_PCR_SELECTION.parse(PCR_SELECTION).marshal():
            raise AttestationError("malformed", f"TPM quote over {selection}, not PCR {PCR}")
        if bytes(attest.attested.quote.pcrDigest) != sha256(register):
            raise AttestationError("log_mismatch", "the event log does not replay to the "
                                   f"quoted PCR {PCR}")
        if extra[32:] != claims:
            raise AttestationError("log_mismatch", "the claims differ from what was quoted")

    def public_key(self):
        return self._public

    def _policy(self, kind) -> object:
        tss = self._tss
        session = self._esapi.start_auth_session(
            tss.ESYS_TR.NONE, tss.ESYS_TR.NONE, kind,
            tss.TPMT_SYM_DEF(algorithm=tss.TPM2_ALG.NULL), tss.TPM2_ALG.SHA256)
        self._esapi.policy_pcr(session, tss.TPM2B_DIGEST(), PCR_SELECTION)
        return session

    def seal(self, data: bytes, register: bytes | None = None) -> bytes:
        tss = self._tss
        if register is None:                       # PolicyPCR over PCR 23 as it is now
            trial = self._policy(tss.TPM2_SE.TRIAL)
            public = tss.TPM2B_PUBLIC.parse("keyedhash", objectAttributes="fixedtpm|fixedparent",
                                            authPolicy=self._esapi.policy_get_digest(trial))
            self._esapi.flush_context(trial)
            auth = tss.TPM2B_AUTH()
        else:                                      # the partition's register is the auth value
            public = tss.TPM2B_PUBLIC.parse("keyedhash", objectAttributes=SEAL_AUTH_ATTRIBUTES)
            auth = tss.TPM2B_AUTH(bound(register))
        key = os.urandom(32)
        private, public, *_ = self._esapi.create(
            self._storage, tss.TPM2B_SENSITIVE_CREATE(tss.TPMS_SENSITIVE_CREATE(
                userAuth=auth, data=tss.TPM2B_SENSITIVE_DATA(key))), public)
        nonce = os.urandom(SEAL_NONCE)
        return cbor2.dumps([public.marshal(), private.marshal(),
                            nonce + ChaCha20Poly1305(key).encrypt(nonce, data, b"")])

    def unseal(self, blob: bytes, register: bytes | None = None) -> bytes:
        tss = self._tss
        try:
            public_bytes, private_bytes, sealed = loads(blob, max_input=len(blob) or 1)
            public, _ = tss.TPM2B_PUBLIC.unmarshal(public_bytes)
            private, _ = tss.TPM2B_PRIVATE.unmarshal(private_bytes)
        except (CBORError, ValueError, TypeError, tss.TSS2_Exception) as error:
            raise SealError(f"sealed blob: {error}") from None
        try:
            handle = self._esapi.load(self._storage, private, public)
        except tss.TSS2_Exception as error:
            raise SealError(f"not sealed by this TPM: {error}") from None
        session = self._policy(tss.TPM2_SE.POLICY) if register is None else tss.ESYS_TR.PASSWORD
        try:
            if register is not None:
                self._esapi.tr_set_auth(handle, bound(register))
            key = bytes(self._esapi.unseal(handle, session1=session))
        except tss.TSS2_Exception as error:
            what = f"PCR {PCR}" if register is None else "the partition's register"
            raise SealError(f"does not unseal: {what} changed since it was sealed "
                            f"({error})") from None
        finally:
            if register is None:
                self._esapi.flush_context(session)
            self._esapi.flush_context(handle)
        try:
            return ChaCha20Poly1305(key).decrypt(sealed[:SEAL_NONCE], sealed[SEAL_NONCE:], b"")
        except (InvalidTag, ValueError):
            raise SealError("sealed data damaged") from None


class Swtpm:
    """``swtpm`` (a TPM 2.0 simulator) on loopback, its state in a temporary directory,
    until ``close``; ``tcti`` is what ``TpmRoot`` reaches it with."""

    def __init__(self, timeout: float = 10.0):
        require("swtpm")
        self._dir = tempfile.mkdtemp(prefix="pipsim-swtpm-")
        self._process = None
        try:
            self._start(timeout)
        except BaseException:
            self.close()
            raise

    def _start(self, timeout: float) -> None:
        port = _free_port_pair()                       # the TCTI's control port is port + 1
        ctrl = port + 1
        self.tcti = f"swtpm:host=127.0.0.1,port={port}"
        self._process = subprocess.Popen(
            ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={self._dir}",
             "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
             "--ctrl", f"type=tcp,port={ctrl},bindaddr=127.0.0.1",
             "--flags", "not-need-init,startup-clear",
             "--pid", f"file={self._dir}/pid"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout          # ready: its pid file and its port
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"swtpm exited: {self._process.stderr.read().decode()}")
            if os.path.exists(f"{self._dir}/pid"):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    return
                except OSError:
                    pass
            time.sleep(0.02)
        raise RuntimeError(f"swtpm not ready within {timeout} s")

    def close(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process.stderr.close()
            self._process = None
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Swtpm:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _free_port_pair(tries: int = 20) -> int:
    """A loopback port free now, whose next is free too."""
    for _ in range(tries):
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no two consecutive free loopback ports")
