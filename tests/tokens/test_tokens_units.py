"""CBOR heads and diagnostic notation, COSE keys, the key vault and the scope format
(the strict decoder itself: tests/wire)."""
import cbor2
import pytest
from cbor2 import CBORTag

from pipsim.tokens import EDDSA, ES256, HMAC_256_64, HMAC_256_256, CoseKey, KeyVault, MemoryStorage, ScopeError
from pipsim.tokens import VaultError
from pipsim.kernel.wire import loads
from pipsim.tokens.cbor import bstr_head, diagnostic
from pipsim.tokens.scope import parse
from pipsim.tokens.vault import SERVICE_OK

# -- CBOR -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 23, 24, 255, 256, 65535, 65536])
def test_bstr_head_is_preferred_encoding(n):
    assert bstr_head(n) + b"\x00" * n == cbor2.dumps(b"\x00" * n)
    assert bstr_head(2**32) == b"\x5b" + (2**32).to_bytes(8, "big")


def test_diagnostic_notation():
    value = loads(cbor2.dumps(CBORTag(61, [b"\x01", {1: -7, "k": [True, None, 1.5]}, "q\""])))
    assert diagnostic(value) == '61([h\'01\', {1: -7, "k": [true, null, 1.5]}, "q\\""])'
    assert diagnostic(float("nan")) == "NaN" and diagnostic(float("-inf")) == "-Infinity"
    assert diagnostic(loads(b"\xf0")) == "simple(16)" and diagnostic(loads(b"\xf7")) == "undefined"


# -- COSE keys ------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", [HMAC_256_64, HMAC_256_256, ES256, EDDSA])
def test_key_round_trip_and_crypto(alg):
    key = CoseKey.generate(alg, b"k")
    again = CoseKey.from_bytes(key.to_bytes())
    assert (again.kid, again.alg, again.uses) == (b"k", alg, {"issue", "verify"})
    tag = key.authenticate(b"data")
    assert len(tag) == alg.tag_len
    assert again.check(b"data", tag) and not again.check(b"datb", tag) and not again.check(b"data", tag[:-1])
    if not alg.is_mac:
        public = CoseKey.from_bytes(key.to_bytes(private=False))
        assert public.uses == {"verify"} and public.check(b"data", tag)
        with pytest.raises(VaultError):
            public.authenticate(b"data")
        with pytest.raises(VaultError):
            CoseKey.from_map(public.to_map(), uses={"issue"})
    else:
        with pytest.raises(VaultError, match="symmetric"):
            key.to_bytes(private=False)


def test_key_ops_select_uses():
    key = CoseKey.generate(HMAC_256_64, b"k", uses={"verify"})
    assert cbor2.loads(key.to_bytes())[4] == [10]
    assert CoseKey.from_bytes(key.to_bytes()).uses == {"verify"}
    assert CoseKey.from_bytes(key.to_bytes(), uses={"issue", "verify"}).uses == {"issue", "verify"}


def test_compressed_ec2_point():
    key = CoseKey.generate(ES256, b"k")
    fields = key.to_map(private=False)
    fields[-3] = fields[-3][-1] & 1 == 1
    assert CoseKey.from_map(fields).check(b"m", key.authenticate(b"m"))


def test_alg_supplied_by_caller():
    fields = CoseKey.generate(HMAC_256_64, b"k").to_map()
    del fields[3]
    with pytest.raises(VaultError, match="names no alg"):
        CoseKey.from_map(fields)
    assert CoseKey.from_map(fields, alg="HMAC 256/64").alg is HMAC_256_64
    fields[3] = 4
    with pytest.raises(VaultError, match="not HMAC 256/256"):
        CoseKey.from_map(fields, alg=HMAC_256_256)


@pytest.mark.parametrize("change, words", [
    ({1: 3}, "kty"), ({2: "text"}, "kid"), ({2: b""}, "kid"), ({3: True}, "alg must be"), ({3: -7}, "needs kty 2"),
    ({-1: b"short"}, "at least 32"), ({-1: "text"}, "byte string"), ({4: [3]}, "neither"), ({4: "sign"}, "key_ops"),
])
def test_bad_symmetric_keys(change, words):
    fields = {**CoseKey.generate(HMAC_256_64, b"k").to_map(), **change}
    with pytest.raises(VaultError, match=words):
        CoseKey.from_map(fields)


def test_bad_asymmetric_keys():
    fields = CoseKey.generate(ES256, b"k").to_map()
    with pytest.raises(VaultError, match="crv"):
        CoseKey.from_map({**fields, -1: 6})
    with pytest.raises(VaultError, match="invalid ES256"):
        CoseKey.from_map({**fields, -2: b"\x00" * 32})
    other = CoseKey.generate(ES256, b"o").to_map()
    with pytest.raises(VaultError, match="does not match"):
        CoseKey.from_map({**fields, -4: other[-4]})
    ed = CoseKey.generate(EDDSA, b"e").to_map()
    with pytest.raises(VaultError, match="must be 32 bytes"):
        CoseKey.from_map({**ed, -2: b"\x01"})
    with pytest.raises(VaultError, match="not valid CBOR"):
        CoseKey.from_bytes(b"\xff")
    with pytest.raises(VaultError, match="map"):
        CoseKey.from_bytes(b"\x80")


# -- vault ------------------------------------------------------------------------------------


class RecordingStorage(MemoryStorage):
    """A byte-oriented storage that counts calls, as a partition-backed one would see them."""

    def __init__(self):
        super().__init__()
        self.puts = []

    def put(self, name, record):
        assert type(name) is bytes and type(record) is bytes
        self.puts.append(name)
        super().put(name, record)


def test_keystore_manager_operations():
    storage = RecordingStorage()
    vault = KeyVault(storage)
    assert vault.verify_service() == SERVICE_OK
    assert vault.aliases() == []
    key = vault.generate("orange", ES256)
    vault.generate("nextel")
    vault.add_cose_key(CoseKey.generate(EDDSA, b"\xff\x00").to_bytes())
    assert vault.aliases() == ["nextel", "orange"] and vault.list() == [b"nextel", b"orange", b"\xff\x00"]
    with pytest.raises(VaultError, match="already exists"):
        vault.generate("orange")
    assert vault.get("orange") is key and vault.get("absent") is None
    assert KeyVault(storage).get(b"orange").kid == b"orange"  # reloaded from the stored record
    assert storage.puts == [b"orange", b"nextel", b"\xff\x00"]
    assert vault.delete("nextel") and not vault.delete("nextel")
    assert vault.aliases() == ["orange"]


def test_export_and_rotate():
    vault = KeyVault()
    vault.generate("dom", ES256)
    public = CoseKey.from_bytes(vault.export("dom"))
    assert public.uses == {"verify"}
    new = vault.rotate("dom", "dom-2")
    assert new.alg is ES256 and new.uses == {"issue", "verify"}
    assert vault.get("dom").uses == {"verify"}
    with pytest.raises(VaultError):
        vault.rotate("absent", "x")
    with pytest.raises(VaultError):
        vault.export("absent")
    with pytest.raises(VaultError):
        vault.generate("")


def test_verify_service_reports_broken_storage():
    class Broken(MemoryStorage):
        def list(self):
            raise OSError("pages unmapped")

    with pytest.raises(VaultError, match="unavailable"):
        KeyVault(Broken()).verify_service()


# -- scope ------------------------------------------------------------------------------------


def test_scope_grants_by_prefix():
    scope = parse("26261/0/7:w 3303:rx 1/2:dc")
    assert scope.allows("write", "26261/0/7") and scope.allows("w", (26261, 0, 7))
    assert not scope.allows("read", "26261/0/7") and not scope.allows("write", "26261/0/8")
    assert not scope.allows("write", "26261/0")  # an entry does not grant on its parent
    assert scope.allows("read", "3303/4/5") and scope.allows("execute", "3303")
    assert scope.allows("create", "1/2") and scope.allows("delete", "1/2/3") and not scope.allows("create", "1/3")
    assert str(scope) == "26261/0/7:w 3303:rx 1/2:dc"
    assert str(parse("1:cdxwr")) == "1:rwxdc"


def test_scope_paths_reach_resource_instances():
    """LwM2M's fourth level (a resource instance, as commands may name): granted by an entry
    on its resource or an entry naming it."""
    scope = parse("3303/0/5700:r 3311/0/5850/2:w")
    assert scope.allows("read", "3303/0/5700/0") and scope.allows("read", (3303, 0, 5700, 65535))
    assert scope.allows("write", "3311/0/5850/2") and not scope.allows("write", "3311/0/5850/1")
    assert not scope.allows("write", "3311/0/5850")
    assert str(scope) == "3303/0/5700:r 3311/0/5850/2:w"


@pytest.mark.parametrize("text", ["", " ", "1:", ":r", "1", "1/2/3/4/5:r", "01:r", "-1:r", "1:rr", "1:q", "1:r  2:w",
                                  "70000:r", "1:r 1:w", "\uff11:r", "1/:r", " ".join(["1:r"] * 65)])
def test_bad_scopes(text):
    with pytest.raises(ScopeError):
        parse(text)


def test_bad_requests():
    with pytest.raises(ScopeError):
        parse("1:r").allows("frob", "1")
    with pytest.raises(ScopeError):
        parse("1:r").allows("read", "1/x")
    with pytest.raises(ScopeError):
        parse("1:r").allows("read", "1/2/3/4/5")
    with pytest.raises(ScopeError):
        parse(b"1:r")
    assert parse("1:r").allows("read", "1") and not parse("1:r").allows("write", "1")
