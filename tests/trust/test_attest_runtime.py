"""Partitions made at run time are measured: a created domain and its application, its
deletion, a driver's restart; the gateway's runtime answers a verifier (Runtime.attest)."""
import pytest

from pipsim.domains.attestation import ATTEST
from pipsim.domains.gateway import APP_CONFIG, CREATE, DELETE, LAMP, RESTART, Gateway
from pipsim.tokens.scope import OPERATIONS
from pipsim.trust import AttestationError, Verifier


def owner(gw, code, resource, value=None):
    token = gw.token("owner", "owner", f"{resource}:{OPERATIONS[code]}")
    (response,) = gw.submit("owner", gw.command("owner", code, resource, value, token=token))
    return response


def verify(gw):
    root = gw.image.measurements.root
    verifier = Verifier(root.kind, root.public_key())
    nonce = verifier.challenge()
    return verifier.verify(gw.runtime.attest(nonce), nonce)


def create_provider(pages: int):
    """A gateway, and the owner's create of provider-c running the store application in
    `pages` pages: (the gateway, the response, the events the boot had logged)."""
    gw = Gateway()
    booted = len(gw.image.measurements.events)
    response = owner(gw, "write", CREATE, {"name": "provider-c", "pages": pages,
                                          "key": gw.new_server("provider-c"),
                                          "code": {"image": "store", "resource": APP_CONFIG}})
    return gw, response, booted


def test_a_created_domain_and_its_application_are_measured_and_their_deletion_too():
    gw, created, booted = create_provider(48)
    events = gw.image.measurements.events
    assert created.status == 201
    new = [(e.kind, e.partition, e.parent, e.detail) for e in events[booted:]]
    assert new == [("code", "provider-c", "root", "python pipsim.domains.domain:DomainManager"),
                   ("config", "provider-c", "root", "config"),
                   ("code", "provider-c-app", "provider-c", "firmware store_app.elf"),
                   ("config", "provider-c-app", "provider-c", "config")]
    assert verify(gw).values.partitions["provider-c-app"].parent == "provider-c"
    assert owner(gw, "write", DELETE, "provider-c").status == 202
    assert (events[-1].kind, events[-1].partition) == ("delete", "provider-c")
    partitions = verify(gw).values.partitions
    assert "provider-c" not in partitions and "provider-c-app" not in partitions


def test_a_create_that_cannot_run_is_measured_as_deleted():
    """Too few pages for its application: adopt measured the domain, then undid it; the log
    says so, and the device still attests."""
    gw, refused, booted = create_provider(30)
    events = gw.image.measurements.events
    assert (refused.reason, refused.status) == ("failed", 500)
    kinds = [(e.kind, e.partition) for e in events[booted:]]
    assert kinds[:2] == [("code", "provider-c"), ("config", "provider-c")]
    assert kinds[-1] == ("delete", "provider-c")       # its application (if measured) with it
    assert "provider-c" not in gw.image.measurements and verify(gw).ok


def test_a_restarted_driver_is_measured_again():
    gw = Gateway()
    measurements = gw.image.measurements
    register = measurements.state.registers["lamp-driver"]
    manager = gw.image.partitions["actuator-manager"]
    driver = gw.image.partitions["lamp-driver"]
    assert manager.api.remove_vaddr(driver.desc, driver.devices["lamp"])
    token = gw.token("provider-a", "provider-a", f"{LAMP}:w")
    gw.submit("provider-a", gw.command("provider-a", "write", LAMP, 1, token=token))
    assert gw.runtime.firmware["lamp-driver"].halted
    token = gw.token("owner", "owner", f"{RESTART}:x")
    [restarted] = gw.submit("owner", gw.command("owner", "execute", RESTART, "lamp-driver",
                                                token=token))
    assert restarted.status == 204
    assert [(e.kind, e.partition) for e in measurements.events[-3:]] == [
        ("delete", "lamp-driver"), ("code", "lamp-driver"), ("config", "lamp-driver")]
    assert measurements.state.registers["lamp-driver"] == register      # the same image
    assert verify(gw).ok


def test_an_unmeasured_image_cannot_attest():
    from pipsim import partitions
    from pipsim.domains.gateway import IMAGE
    from pipsim.domains.runtime import Runtime
    runtime = Runtime(partitions.boot(IMAGE))
    with pytest.raises(ValueError, match="not booted measured"):
        runtime.attest(bytes(32))


def test_the_runtime_refuses_a_nonce_it_answered():
    gw = Gateway()
    gw.runtime.attest(bytes(32))
    with pytest.raises(AttestationError, match="nonce_reused"):
        gw.runtime.attest(bytes(32))


def test_the_gateway_transcript_attests_after_its_session():
    import io

    from pipsim.domains.gateway import run_default
    out = io.StringIO()
    assert run_default(out) == 0, out.getvalue()
    [line] = [line for line in out.getvalue().splitlines() if line.startswith("attestation")]
    assert "the quote verified (software root of trust" in line
    # the session updates the temperature driver (Fig. 9): its code, and only its code, differs
    since_boot = line.split("since boot: ")[1].split("; against")[0]
    assert since_boot.startswith("temp-driver: code differs (firmware temp_driver v2 ")
    assert ";" not in since_boot
    assert line.endswith("(the SHA-256 of the package verified): no partition differs")


# ---- over the management interface: the owner's manager executes 26263/0/0 --------------
def test_the_owner_gets_evidence_for_a_nonce_through_its_manager_and_each_nonce_once():
    gw = Gateway()
    root = gw.image.measurements.root
    verifier = Verifier(root.kind, root.public_key())
    nonce = verifier.challenge()
    answered = owner(gw, "execute", ATTEST, nonce)
    assert (answered.status, answered.reason) == (205, "content")
    assert verifier.verify(answered.value, nonce).values.partitions.keys() == set(
        gw.image.partitions)
    again = owner(gw, "execute", ATTEST, nonce)
    assert (again.status, again.reason) == (405, "not_allowed") and "nonce_reused" in again.value


@pytest.mark.parametrize("nonce", [b"short", "a text, not bytes", None, bytes(65)])
def test_what_is_no_nonce_is_refused_malformed(nonce):
    answered = owner(Gateway(), "execute", ATTEST, nonce)
    assert (answered.status, answered.reason) == (400, "malformed")
    assert "nonce_invalid" in answered.value


def test_only_the_owner_with_a_token_for_it_gets_evidence():
    gw = Gateway()
    nonce = bytes(32)
    (other,) = gw.submit("provider-a", gw.command(
        "provider-a", "execute", ATTEST, nonce,
        token=gw.token("provider-a", "provider-a", f"{ATTEST}:x")))
    assert other.status >= 400 and other.reason != "content"     # no route in its domain
    (scoped,) = gw.submit("owner", gw.command(
        "owner", "execute", ATTEST, nonce, token=gw.token("owner", "owner", f"{LAMP}:w")))
    assert scoped.reason == "out_of_scope"


def test_an_image_booted_without_measurements_says_so():
    gw = Gateway()
    gw.runtime.attester = None          # what a runtime on an unmeasured boot has
    answered = owner(gw, "execute", ATTEST, bytes(32))
    assert (answered.status, answered.reason) == (500, "failed")
    assert "not booted measured" in answered.value
