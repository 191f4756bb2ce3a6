"""Remote attestation over the device's management interface (issue 15 point 3): ``pipsim
attest --device`` asks a running ``pipsim serve`` for evidence as its owner (26263/0/0, a
token bound to the nonce), over CoAP + DTLS-PSK, and verifies it with the attestation key
``--export-keys`` enrolled."""
import subprocess
import sys

import cbor2

from pipsim.domains.attestation import ATTEST
from pipsim.tokens.keys import CoseKey
from pipsim.trust import Verifier

from coapnet import DEVICE, PSK, libcoap, pipsim_against, token_for


def attest(device, *argv, key=None):
    return pipsim_against(device, "attest", *argv, **({"key": key} if key else {}))


def test_a_verifier_attests_a_running_device_and_sees_what_changed(device, tmp_path):
    reference = tmp_path / "reference.json"
    status, out, _ = attest(device, "--record", str(reference))
    assert status == 0 and "quote verified (software root of trust" in out
    status, out, _ = attest(device, "--expect", str(reference), "--log")
    assert status == 0 and "matches the reference values" in out and " code   root " in out
    key = tmp_path / "tenant.cose"
    assert subprocess.run([sys.executable, "-m", "pipsim.kernel.cli", "token", "keygen", "--kid",
                           "tenant-server", "--out", str(key)], capture_output=True).returncode == 0
    assert pipsim_against(device, "opmux", "create", "tenant", "tenant-server", str(key))[:2] == (
        0, "created: tenant")
    status, _, err = attest(device, "--expect", str(reference))
    assert status == 1 and "tenant" in err
    assert pipsim_against(device, "opmux", "delete", "tenant", "x")[:2] == (0, "deleted: tenant")


def test_bad_attest_arguments_are_refused_with_a_reason(device, tmp_path):
    status, _, err = attest(device, "--root", "tpm")
    assert status == 2 and "--root and --tcti are for booting an image here" in err
    run = subprocess.run([sys.executable, "-m", "pipsim.kernel.cli", "attest", "--device", device.uri,
                          "--psk", "lc1:123456", "--keys", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "cannot read" in run.stderr and "attestation.pub" in run.stderr
    status, _, err = attest(device, key="wrong-key")
    assert status == 2 and "no answer" in err


def test_libcoaps_client_gets_evidence_a_verifier_accepts(device, tmp_path):
    """A client nobody here wrote: coap-client POSTs the owner's attest command (CBOR form,
    the nonce as bytes, a token bound to it); the answer, fetched block-wise, is evidence
    the enrolled key verifies."""
    verifier = Verifier("software", CoseKey.from_bytes(
        (device.keys / "attestation.pub").read_bytes()))
    nonce = verifier.challenge()
    o, i, r = map(int, ATTEST.split("/"))
    command = {"id": 5, "domain": "owner", "device": DEVICE, "value": nonce,
               "token": token_for(device, "owner", "execute", ATTEST, nonce, f"{ATTEST}:x"),
               "operation": {"code": "execute", "objectId": o, "objectInstanceId": i,
                             "resourceId": r}}
    body, answer = tmp_path / "command.cbor", tmp_path / "answer.cbor"
    body.write_bytes(cbor2.dumps(command))
    run = subprocess.run([libcoap("coap-client-openssl"), "-m", "post", "-u", PSK[0], "-k",
                          PSK[1], "-B", "10", "-t", "60", "-A", "60", "-f", str(body), "-o",
                          str(answer), f"{device.uri}/{ATTEST}"], capture_output=True, timeout=30)
    assert run.returncode == 0, run.stderr
    got = cbor2.loads(answer.read_bytes())
    assert (got["id"], got["reason"]) == (5, "content")
    assert "root" in verifier.verify(got["value"], nonce).values.partitions
