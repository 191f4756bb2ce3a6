"""The sealed Key Vault (issue 15 point 5; docs/trust.md "The sealed key vault"): a domain's
records are ciphertext in its pages, under a key sealed to its measurements; only the same
code with the same configuration on the same device opens them again (a reboot is
simulated by booting the image again on the same root of trust and putting the vault's
page back, as flash would keep it).  What the parent still sees while the key is in use is
tested too: it is the documented limit of Pip's vertical sharing."""
import dataclasses
import os

import cbor2
import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from pipsim.domains.gateway import APP_CONFIG, CREATE, DELETE, IMAGE, Gateway
from pipsim.domains.keyvault import KEY_SIZE, NONCE_SIZE, SealedPageKeyStorage, VaultLocked
from pipsim.domains.runtime import Runtime
from pipsim.domains.store import StoreError
from pipsim.partitions import boot, load
from pipsim.kernel.abi import PAGE_SIZE
from pipsim.tokens import KeyVault
from pipsim.tokens.keys import EDDSA, CoseKey
from pipsim.trust import SoftwareRoot, measured

KID = "provider-a-server"


def device(root, manifest=None) -> Runtime:
    """The gateway image booted measured into ``root`` (a device), its runtime."""
    manifest = manifest or load(IMAGE)
    return Runtime(boot(manifest, measured(manifest.name, root)))


def a_device():
    """A device's root of trust, as it is at every boot: its secret and key persist."""
    secret, key = os.urandom(32), CoseKey.generate(EDDSA, b"gateway/attestation")
    return lambda: SoftwareRoot(secret, key)


def secret_of(cose_key: bytes) -> bytes:
    return cbor2.loads(cose_key)[-1]            # a symmetric COSE_Key's k (RFC 9053 §6.1)


def as_root(rt, name: str, va: int, size: int) -> bytes:
    """``size`` bytes at ``name``'s VA ``va``, read by the root through its own mapping of the
    same page (Pip's vertical sharing: a parent sees its descendants' pages)."""
    kernel = rt.kernel
    pa = kernel.mappings(rt.topology.node(name).partition)[va].pa
    root_va = next(v for v, m in kernel.mappings(kernel.root).items() if m.pa == pa)
    return kernel.as_partition(kernel.root).read(root_va, size)


def storage_of(rt, name="provider-a") -> SealedPageKeyStorage:
    return rt.components[name].vault_storage


def reopen(rt, name="provider-a"):
    """``name`` opens the vault its store holds again, as it would after a reboot."""
    def action(component):
        storage = component.vault_storage
        return KeyVault(SealedPageKeyStorage.open(storage.store, storage.key_va, component.host))
    return rt.run_as(name, action)


def restore(rt, page: bytes, name="provider-a") -> None:
    """Put a vault page kept from an earlier boot back (flash, in this simulation)."""
    rt.run_as(name, lambda c: c.api.write(c.vault_storage.store.va, page))


def vault_page(rt, name="provider-a") -> bytes:
    return rt.run_as(name, lambda c: c.api.read(c.vault_storage.store.va, PAGE_SIZE))


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_records_at_rest_are_ciphertext_but_the_parent_reads_the_key_in_use(arch):
    rt = device(a_device()(), load(IMAGE, arch))
    key = rt.enrol("provider-a", KID)                     # the record: this COSE_Key
    storage = storage_of(rt)
    at_rest = as_root(rt, "provider-a", storage.store.va, PAGE_SIZE)
    assert secret_of(key) not in at_rest and key not in at_rest
    record = storage.store.load()["records"][KID.encode()]
    assert record in at_rest                               # what the root found: ciphertext
    # the documented limit: the key in use is in the domain's memory, which its parent reads
    vault_key = as_root(rt, "provider-a", storage.key_va, KEY_SIZE)
    opened = ChaCha20Poly1305(vault_key).decrypt(record[:NONCE_SIZE], record[NONCE_SIZE:],
                                                 KID.encode())
    assert opened == key


def test_the_same_code_on_the_same_device_reopens_its_vault_after_a_reboot():
    root = a_device()
    first = device(root())
    key, page = first.enrol("provider-a", KID), vault_page(first)
    second = device(root())
    assert second.enrol("provider-a", KID) != key          # a fresh vault at each boot
    restore(second, page)
    assert reopen(second).export(KID, private=True) == key


def _reboot_with(manifest, root=None):
    """Boot a first time, keep provider-a's vault page; boot ``manifest`` on the same device
    (or on ``root``), put the page back; what reopening it gives."""
    device_root = a_device()
    first = device(device_root())
    page = vault_page(first)
    second = device((root or device_root)(), manifest)
    restore(second, page)
    return reopen(second)


def _provider_a(manifest, **changes):
    parts = tuple(dataclasses.replace(p, **changes) if p.name == "provider-a" else p
                  for p in manifest.partitions)
    return dataclasses.replace(manifest, partitions=parts)


def test_a_changed_configuration_cannot_unseal_the_vault():
    manifest = load(IMAGE)
    spec = next(p for p in manifest.partitions if p.name == "provider-a")
    changed = _provider_a(manifest, config={**spec.config, "resources": {APP_CONFIG: "other"}})
    failure = _reboot_with(changed)
    assert isinstance(failure, VaultLocked) and "does not unseal" in str(failure)


def test_changed_code_cannot_unseal_the_vault(tmp_path, monkeypatch):
    (tmp_path / "patched_manager.py").write_text(
        "from pipsim.domains.domain import DomainManager as Original\n\n\n"
        "class DomainManager(Original):\n    \"\"\"The same manager, changed code.\"\"\"\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    manifest = load(IMAGE)
    spec = next(p for p in manifest.partitions if p.name == "provider-a")
    changed = _provider_a(manifest, runs=dataclasses.replace(
        spec.runs, target="patched_manager:DomainManager"))
    failure = _reboot_with(changed)
    assert isinstance(failure, VaultLocked) and "does not unseal" in str(failure)


def test_another_device_cannot_unseal_the_vault():
    failure = _reboot_with(None, root=a_device())
    assert isinstance(failure, VaultLocked) and "another device" in str(failure)


def test_without_measurements_records_are_still_ciphertext_but_the_vault_cannot_reopen():
    rt = Runtime(boot(load(IMAGE)))                         # booted unmeasured
    key = rt.enrol("provider-a", KID)
    storage = storage_of(rt)
    assert storage.store.load()["sealed"] is None
    assert secret_of(key) not in as_root(rt, "provider-a", storage.store.va, PAGE_SIZE)
    failure = reopen(rt)
    assert isinstance(failure, VaultLocked) and "never sealed" in str(failure)


def test_a_record_changed_or_moved_in_the_pages_does_not_open():
    rt = device(a_device()())
    storage = storage_of(rt)
    rt.run_as("provider-a", lambda c: c.vault.generate("spare"))
    vault = storage.store.load()
    records = vault["records"]
    records[b"spare"], records[KID.encode()] = records[KID.encode()], records[b"spare"]
    storage.store.save(vault)                              # the parent swaps two records
    fresh = KeyVault(storage)                              # no cached copies
    for kid in (KID, "spare"):
        with pytest.raises(StoreError, match="does not decrypt"):
            fresh.get(kid)
    record = bytearray(records[b"spare"])
    record[-1] ^= 1
    records[b"spare"] = bytes(record)
    storage.store.save(vault)
    with pytest.raises(StoreError, match="does not decrypt"):
        fresh.get("spare")
    storage.store.save({"sealed": 3, "records": []})      # no vault at all
    with pytest.raises(StoreError, match="no key vault"):
        fresh.get("spare")


@pytest.mark.parametrize("arch", ["arm", "x86"])
def test_a_deleted_domains_pages_are_scrubbed_before_a_sibling_gets_them(arch):
    """Pip gives a deleted partition's pages back to its parent as they are, the vault's key
    in use with them: the owner's manager clears them before it gives them to the next
    domain, provider-d, which here gets exactly the same pages."""
    gw = Gateway(arch=arch)

    def owner(code, resource, value):
        token = gw.token("owner", "owner", f"{resource}:{code[0]}")
        (response,) = gw.submit("owner", gw.command("owner", code, resource, value, token=token))
        return response

    rt, kernel = gw.runtime, gw.runtime.kernel
    assert owner("write", CREATE, {"name": "provider-c", "pages": 24,
                                   "key": gw.new_server("provider-c")}).status == 201
    child = rt.topology.node("provider-c").partition
    had = {m.pa for m in kernel.mappings(child).values()}
    key_pa = kernel.mappings(child)[storage_of(rt, "provider-c").key_va].pa
    assert owner("write", DELETE, "provider-c").status == 202
    root = kernel.as_partition(kernel.root)
    back = {m.pa: va for va, m in kernel.mappings(kernel.root).items() if m.pa in had}
    assert key_pa in back and set(back) == had
    assert all(root.read(va, PAGE_SIZE) == bytes(PAGE_SIZE) for va in back.values())
    assert owner("write", CREATE, {"name": "provider-d", "pages": 24,
                                   "key": gw.new_server("provider-d")}).status == 201
    assert had == {m.pa for m in kernel.mappings(rt.topology.node("provider-d").partition)
                   .values()}


def test_a_tpm_sealed_vault_reopens_on_the_same_tpm_with_the_same_code_only(swtpm):
    from pipsim.trust.rot_tpm import TpmRoot
    manifest = load(IMAGE)
    spec = next(p for p in manifest.partitions if p.name == "provider-a")
    changed = _provider_a(manifest, config={**spec.config, "resources": {APP_CONFIG: "other"}})
    roots = []

    def boot_on_tpm(manifest=None):
        for root in roots:                          # a reboot: the last connection closes
            root.close()
        roots[:] = [TpmRoot(swtpm.tcti)]
        return device(roots[0], manifest)
    try:
        first = boot_on_tpm()
        key, page = first.enrol("provider-a", KID), vault_page(first)
        again = boot_on_tpm()
        restore(again, page)
        assert reopen(again).export(KID, private=True) == key
        other = boot_on_tpm(changed)
        restore(other, page)
        failure = reopen(other)
        assert isinstance(failure, VaultLocked) and "register changed" in str(failure)
    finally:
        for root in roots:
            root.close()
