"""Signed images: sign / verify round trips, and every refusal, each with its own reason and
nothing changed (docs/trust.md)."""
import cbor2
import pytest

from pipsim.kernel.wire import loads
from pipsim.tokens import cose
from pipsim.trust import ImageRefused, PolicyError, image, policy
from pipsim.trust.image import signature_path

from trust_helpers import copy_image, flip_rodata, write_policy


def sign(path, keys, perms=("ipc",), version=3, arch=None, authority=False):
    image.sign(path, keys["developer"], "developer", name="app", version=version,
               arch=arch or path.parent.name, permissions=perms)
    if authority:
        image.sign(path, keys["authority"], "authority")


def refused(path, trust, reason, **kw):
    """verify refuses with ``reason``, and reads only: image and signature unchanged."""
    before = (path.read_bytes() if path.is_file() else None, signature_path(path).read_bytes())
    with pytest.raises(ImageRefused) as error:
        image.verify(path, trust, **{"arch": "arm", **kw})
    assert error.value.reason == reason
    assert (path.read_bytes() if path.is_file() else None,
            signature_path(path).read_bytes()) == before
    return error.value.detail


@pytest.fixture
def package(tmp_path, keys):
    """A domain package: its manifest, an ELF, its configuration."""
    folder = tmp_path / "arm" / "store.pkg"
    folder.mkdir(parents=True)
    (folder / "manifest.toml").write_text('name = "store"\n')
    copy_image(tmp_path, "arm").rename(folder / "store_app.elf")
    (folder / "config").mkdir()
    (folder / "config" / "store.toml").write_text("resource = \"32769/0/1\"\n")
    return folder


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_elf_round_trip(tmp_path, keys, trust, arch):
    path = copy_image(tmp_path, arch)
    sign(path, keys)
    verified = image.verify(path, trust, arch=arch, minimum_version=3, name="app")
    assert verified.metadata.arch == arch and verified.metadata.version == 3
    assert verified.metadata.kind == "elf" and verified.metadata.permissions == ("ipc",)
    assert verified.signers == {"developer": b"dev"}


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_privileged_elf_round_trip_with_the_authority(tmp_path, keys, trust, arch):
    path = copy_image(tmp_path, arch, "temp_driver")
    sign(path, keys, ("ipc", "device:temperature"), authority=True)
    verified = image.verify(path, trust, arch=arch)
    assert verified.signers == {"developer": b"dev", "authority": b"auth"}


def test_package_round_trip(package, keys, trust):
    sign(package, keys, ("ipc", "partitions"), authority=True)
    verified = image.verify(package, trust, arch="arm")
    assert verified.metadata.kind == "package"
    assert verified.metadata.permissions == ("ipc", "partitions")


def test_a_changed_package_file_or_an_added_one_is_a_digest_mismatch(package, keys, trust):
    sign(package, keys)
    (package / "config" / "store.toml").write_text('resource = "32769/0/2"\n')
    assert "not the image that was signed" in refused(package, trust, "digest_mismatch")
    sign(package, keys)
    (package / "extra.elf").write_bytes(b"")
    refused(package, trust, "digest_mismatch")


def test_a_package_with_a_link_is_refused(package, keys, trust):
    sign(package, keys)
    (package / "link").symlink_to("/etc/passwd")
    assert "only regular files" in refused(package, trust, "malformed")


def test_a_package_elf_for_the_other_arch(tmp_path, package, keys, trust):
    """Signing checks every ELF of a package against the arch; so does verifying, for a
    signer who signed one anyway."""
    copy_image(tmp_path, "x86").rename(package / "other.elf")
    for arch in ("arm", "x86"):
        with pytest.raises(ValueError, match=f"not {arch}"):
            sign(package, keys, arch=arch)
    payload = image.Metadata("store", 1, "x86", "package", image.digest_of(package), (),
                             b"dev").encode()
    signature_path(package).write_bytes(cbor2.dumps({"developer": cose.encode(
        keys["developer"], payload, external_aad=b"pipsim image signature: developer")}))
    assert "store_app.elf is built for arm, not x86" in refused(package, trust, "wrong_arch",
                                                                 arch="x86")


def test_one_rodata_byte_flipped_is_a_digest_mismatch(tmp_path, keys, trust):
    path = copy_image(tmp_path, "arm")
    sign(path, keys)
    flip_rodata(path)
    refused(path, trust, "digest_mismatch")


def _signatures(path):
    return {role: cose.decode(data) for role, data in loads(signature_path(path).read_bytes(),
                                                             max_input=8192).items()}


def _rewrite(path, role, tag):
    """Put ``tag`` as the ``role`` signature's bytes."""
    found = loads(signature_path(path).read_bytes(), max_input=8192)
    message = cose.decode(found[role])
    found = dict(found)
    found[role] = cbor2.dumps(cbor2.CBORTag(18, [message.protected_raw, dict(message.unprotected),
                                                  message.payload, tag]))
    signature_path(path).write_bytes(cbor2.dumps(found))


@pytest.mark.parametrize("role", ["developer", "authority"])
def test_a_corrupted_signature(tmp_path, keys, trust, role):
    path = copy_image(tmp_path, "arm", "temp_driver")
    sign(path, keys, ("device:temperature",), authority=True)
    tag = bytearray(_signatures(path)[role].tag)
    tag[5] ^= 0x80
    _rewrite(path, role, bytes(tag))
    assert f"{role} signature" in refused(path, trust, "bad_signature")


def test_a_truncated_signature(tmp_path, keys, trust):
    path = copy_image(tmp_path, "arm")
    sign(path, keys)
    _rewrite(path, "developer", _signatures(path)["developer"].tag[:40])
    assert "40 bytes, a EdDSA signature has 64" in refused(path, trust, "bad_signature")


@pytest.mark.parametrize("cut", [1, 20, 100])
def test_a_truncated_signature_file_is_malformed(tmp_path, keys, trust, cut):
    path = copy_image(tmp_path, "arm")
    sign(path, keys)
    sig = signature_path(path)
    sig.write_bytes(sig.read_bytes()[:-cut])
    assert "not acceptable CBOR" in refused(path, trust, "malformed")


@pytest.mark.parametrize("content, what", [
    (b"\xff\x00garbage", "not acceptable CBOR"),
    (cbor2.dumps({"authority": b""}), '"developer"'),
    (cbor2.dumps({"developer": b"\x01"}), "developer signature"),
    (cbor2.dumps([1, 2]), '"developer"'),
])
def test_malformed_signature_files(tmp_path, keys, trust, content, what):
    path = copy_image(tmp_path, "arm")
    signature_path(path).write_bytes(content)
    assert what in refused(path, trust, "malformed")


@pytest.mark.parametrize("payload, what", [
    (b"\xa1", "payload is not acceptable CBOR"),
    (cbor2.dumps({"name": "x"}), "payload is a map of exactly"),
    (cbor2.dumps({"name": "x", "version": -1, "arch": "arm", "kind": "elf", "digest": bytes(32),
                  "permissions": [], "signer": b"dev"}), "version is a whole number"),
    (cbor2.dumps({"name": "x", "version": 1, "arch": "arm", "kind": "elf", "digest": bytes(32),
                  "permissions": ["root"], "signer": b"dev"}), "unknown permission 'root'"),
])
def test_a_signed_but_malformed_payload(tmp_path, keys, trust, payload, what):
    """Even correctly signed, a payload that is not the metadata is refused."""
    path = copy_image(tmp_path, "arm")
    signature_path(path).write_bytes(cbor2.dumps({"developer": cose.encode(
        keys["developer"], payload, external_aad=b"pipsim image signature: developer")}))
    assert what in refused(path, trust, "malformed")


def test_an_unknown_signer(tmp_path, keys, trust):
    path = copy_image(tmp_path, "arm")
    image.sign(path, keys["stranger"], "developer", name="app", version=1, arch="arm")
    assert "b'stranger' is not a developer" in refused(path, trust, "unknown_signer")


def test_a_developer_key_cannot_sign_as_the_authority(tmp_path, keys, trust):
    path = copy_image(tmp_path, "arm", "temp_driver")
    sign(path, keys, ("device:temperature",))
    image.sign(path, keys["developer"], "authority")
    assert "not a authority" in refused(path, trust, "unknown_signer")


def test_a_signature_made_for_the_other_role_does_not_verify(tmp_path, keys, trust):
    """The role is in the signed bytes (external AAD): the authority's key signing the
    payload as a developer would does not make an authority's signature."""
    path = copy_image(tmp_path, "arm", "temp_driver")
    sign(path, keys, ("device:temperature",), authority=True)
    found = dict(loads(signature_path(path).read_bytes(), max_input=8192))
    payload = cose.decode(found["developer"]).payload
    found["authority"] = cose.encode(keys["authority"], payload,
                                     external_aad=b"pipsim image signature: developer")
    signature_path(path).write_bytes(cbor2.dumps(found))
    refused(path, trust, "bad_signature")


def test_the_other_architecture(tmp_path, keys, trust):
    path = copy_image(tmp_path, "arm")
    sign(path, keys)
    assert "signed for arm, the machine is x86" in refused(path, trust, "wrong_arch", arch="x86")


def test_an_elf_cannot_be_signed_for_the_other_architecture(tmp_path, keys):
    path = copy_image(tmp_path, "arm")
    with pytest.raises(ValueError, match="built for arm, not x86"):
        sign(path, keys, arch="x86")
    assert not signature_path(path).exists()


def test_a_privileged_permission_without_the_authority(tmp_path, keys, trust):
    path = copy_image(tmp_path, "arm", "temp_driver")
    sign(path, keys, ("ipc", "device:temperature"))
    assert "needs an authority's signature" in refused(path, trust, "not_granted")


def test_a_permission_the_authority_may_not_grant(tmp_path, keys, trust):
    path = copy_image(tmp_path, "arm")
    sign(path, keys, ("network",), authority=True)
    assert "'network': the authority 'auth' may not grant it" in refused(path, trust, "not_granted")


def test_a_public_permission_the_developer_may_not_grant(tmp_path, keys):
    folder = tmp_path / "narrow"
    folder.mkdir()
    narrow = policy.load(write_policy(folder, [(keys["developer"], "developer", ["ipc"])]))
    path = copy_image(tmp_path, "arm")
    sign(path, keys, ("console",))
    refused(path, narrow, "not_granted")


def test_an_older_version_than_the_minimum(tmp_path, keys, trust):
    path = copy_image(tmp_path, "arm")
    sign(path, keys, version=4)
    assert image.verify(path, trust, arch="arm", minimum_version=4).metadata.version == 4
    assert "version 4 is older than the installed 5" in refused(path, trust, "rollback",
                                                                 minimum_version=5)


def test_the_wrong_name(tmp_path, keys, trust):
    path = copy_image(tmp_path, "arm")
    sign(path, keys)
    refused(path, trust, "wrong_name", name="lamp")


def test_unsigned_and_missing_images(tmp_path, trust):
    path = copy_image(tmp_path, "arm")
    with pytest.raises(ImageRefused, match="unsigned: no signature file"):
        image.verify(path, trust, arch="arm")
    with pytest.raises(ImageRefused, match="unreadable: no image"):
        image.verify(tmp_path / "none.elf", trust, arch="arm")


def test_an_authority_countersigns_only_what_the_developer_signed(tmp_path, keys):
    path = copy_image(tmp_path, "arm", "temp_driver")
    sign(path, keys, ("device:temperature",))
    flip_rodata(path)
    with pytest.raises(ImageRefused, match="digest_mismatch"):
        image.sign(path, keys["authority"], "authority")
    with pytest.raises(ImageRefused, match="unsigned"):
        image.sign(copy_image(tmp_path, "x86"), keys["authority"], "authority")


def test_a_mac_key_cannot_sign(tmp_path):
    from pipsim.tokens.keys import CoseKey
    with pytest.raises(ValueError, match="EdDSA or ES256"):
        image.sign(copy_image(tmp_path, "arm"), CoseKey.generate("HMAC256/64", b"m"),
                   "developer", name="a", version=1, arch="arm")


@pytest.mark.parametrize("table, what", [
    ({"signer": []}, "non-empty array"),
    ({"signer": [{"kid": "dev", "role": "root", "key": "dev.pub.cose"}]}, "not one of"),
    ({"signer": [{"kid": "dev", "role": "developer", "key": "dev.pub.cose",
                  "grants": ["device:*"]}]}, "privileged: only an authority"),
    ({"signer": [{"kid": "other", "role": "developer", "key": "dev.pub.cose"}]}, "its kid is"),
    ({"signer": [{"kid": "auth", "role": "authority", "key": "auth.pub.cose",
                  "grants": []}]}, "no developer signer"),
    ({"signer": [{"kid": "dev", "role": "developer", "key": "none.cose"}]}, "key"),
    ({"signer": [{"kid": "dev", "role": "developer", "key": "dev.pub.cose"}] * 2}, "twice"),
])
def test_bad_policies(policy_file, table, what):
    with pytest.raises(PolicyError, match=what):
        policy.parse(table, policy_file.parent)


def test_a_policy_key_is_used_verify_only(tmp_path, keys):
    keys["developer"].save(tmp_path / "dev.cose")           # the private key given by mistake
    loaded = policy.parse({"signer": [{"kid": "dev", "role": "developer", "key": "dev.cose"}]},
                          tmp_path)
    assert loaded.signers[b"dev"].key.uses == {"verify"}
    assert loaded.signer(b"dev", "authority") is None


def test_every_change_to_a_signature_file_is_refused(tmp_path, keys, trust):
    """Each byte of a developer + authority signature file, changed, and each cut: refused
    with one of the reasons (never accepted, never another exception)."""
    path = copy_image(tmp_path, "arm", "temp_driver")
    sign(path, keys, ("device:temperature",), authority=True)
    sig = signature_path(path)
    good = sig.read_bytes()
    variants = [good[:i] + bytes([good[i] ^ 0x41]) + good[i + 1:] for i in range(len(good))]
    variants += [good[:i] for i in range(0, len(good), 7)]
    reasons = set()
    for variant in variants:
        sig.write_bytes(variant)
        with pytest.raises(ImageRefused) as error:
            image.verify(path, trust, arch="arm")
        reasons.add(error.value.reason)
    assert reasons <= set(image.REASONS) and {"malformed", "bad_signature"} <= reasons
