"""Conformance: published examples of RFC 8392 Appendix A, RFC 9052 Appendix C and cose-wg/Examples."""
import cbor2
import pytest

from pipsim.tokens import ES256, HMAC_256_64, HMAC_256_256, CoseKey, KeyVault, TokenError, Validator, VaultError, cose, cwt
from pipsim.tokens.cwt import Claims

from token_vectors import (RFC8392_A1_CLAIMS, RFC8392_A2_2_KEY, RFC8392_A2_3_KEY, RFC8392_A3_SIGNED, RFC8392_A4_MACED,
                      rfc8392_hmac_key_bytes)

A1 = Claims(iss="coap://as.example.com", sub="erikw", aud="coap://light.example.com", exp=1444064944,
            nbf=1443944944, iat=1443944944, cti=bytes.fromhex("0b71"))

# RFC 9052 Appendix C.2.1 (single ECDSA signature, COSE_Sign1) and the C.7.1 key "11".
RFC9052_C21 = bytes.fromhex(
    "d28443a10126a10442313154546869732069732074686520636f6e74656e742e58408eb33e4ca31d1c465ab05aac"
    "34cc6b23d58fef5c083106c4d25a91aef0b0117e2af9a291aa32e14ab834dc56ed2a223444547e01f11d3b0916e5"
    "a4c345cacb36")
KEY_11 = {1: 2, 2: b"11", 3: -7, -1: 1,
          -2: bytes.fromhex("bac5b11cad8f99f9c72b05cf4b9e26d244dc189f745228255a219a86d6a09eff"),
          -3: bytes.fromhex("20138bf82dc1b6d562be0fa54ab7804a3a64b6d72ccfed6b6fb6ed28bbfc117e")}
# cose-wg/Examples mac0-tests/HMac-01 (HMAC 256/256, key "our-secret").
HMAC01 = bytes.fromhex(
    "d18443a10105a054546869732069732074686520636f6e74656e742e5820a1a848d3471f9d61ee49018d244c8247"
    "72f223ad4f935293f1789fc3a08d8c58")
HMAC01_TO_BE_MACED = bytes.fromhex("84644d41433043a101054054546869732069732074686520636f6e74656e742e")
OUR_SECRET = bytes.fromhex("849b57219dae48de646d07dbb533566e976686457c1491be3a76dcea6c427188")


def test_a1_claims_set_decodes_and_reencodes():
    assert cwt.decode(RFC8392_A1_CLAIMS) == A1
    assert A1.encode() == RFC8392_A1_CLAIMS


def test_a2_2_published_hex_names_aes_ccm_which_is_unsupported():
    with pytest.raises(VaultError, match="unsupported algorithm 10"):
        CoseKey.from_bytes(RFC8392_A2_2_KEY)


def test_a2_3_key_imports_and_exports_identically():
    key = CoseKey.from_bytes(RFC8392_A2_3_KEY)
    assert (key.kid, key.alg) == (b"AsymmetricECDSA256", ES256)
    exported = cbor2.loads(key.to_bytes())
    assert {k: v for k, v in exported.items() if k != 4} == cbor2.loads(RFC8392_A2_3_KEY)


def test_a3_signed_cwt_verifies_with_a2_3_key():
    message = cose.decode(RFC8392_A3_SIGNED)
    assert (message.alg, message.kid, message.cose_tagged, message.cwt_tagged) == (
        ES256, b"AsymmetricECDSA256", True, False)
    message.verify(CoseKey.from_bytes(RFC8392_A2_3_KEY))
    assert cwt.decode(message.payload) == A1


def test_a3_public_half_verifies_too():
    message = cose.decode(RFC8392_A3_SIGNED)
    message.verify(CoseKey.from_bytes(RFC8392_A2_3_KEY).public_key())


def test_a4_maced_cwt_verifies_and_is_reproduced_byte_exactly():
    key = CoseKey.from_bytes(rfc8392_hmac_key_bytes())
    message = cose.decode(RFC8392_A4_MACED)
    assert (message.alg, message.kid, message.cwt_tagged) == (HMAC_256_64, b"Symmetric256", True)
    message.verify(key)
    assert cose.encode(key, RFC8392_A1_CLAIMS, cwt_tag=True) == RFC8392_A4_MACED


@pytest.mark.parametrize("token, key", [(RFC8392_A3_SIGNED, RFC8392_A2_3_KEY),
                                        (RFC8392_A4_MACED, rfc8392_hmac_key_bytes())])
def test_rfc8392_tokens_pass_the_validator_except_for_missing_scope(token, key):
    vault = KeyVault()
    vault.add_cose_key(key)
    validator = Validator(vault, audience="coap://light.example.com", issuers={"coap://as.example.com"},
                          boot_time=None)
    with pytest.raises(TokenError) as err:
        validator.validate(token, now=1443944944 + 60)
    assert err.value.reason == "missing_claim" and "scope" in err.value.detail


@pytest.mark.parametrize("index", [0, 5, 60, -1])  # not 10-22: kid is unprotected
def test_a4_any_flipped_bit_is_rejected(index):
    key = CoseKey.from_bytes(rfc8392_hmac_key_bytes())
    token = bytearray(RFC8392_A4_MACED)
    token[index] ^= 0x01
    with pytest.raises(TokenError):
        cose.decode(bytes(token)).verify(key)


def test_rfc9052_c21_sign1_verifies_with_key_11():
    message = cose.decode(RFC9052_C21)
    assert message.payload == b"This is the content."
    message.verify(CoseKey.from_map(KEY_11))
    assert message.to_be_authenticated().hex().startswith("846a5369676e61747572653143a10126")


def test_cose_wg_hmac01_reproduced_byte_exactly():
    key = CoseKey.from_map({1: 4, 2: b"our-secret", 3: 5, -1: OUR_SECRET})
    message = cose.decode(HMAC01)
    assert message.alg is HMAC_256_256 and message.kid is None
    assert message.to_be_authenticated() == HMAC01_TO_BE_MACED
    message.verify(key)
    protected = cbor2.dumps({1: 5})
    tag = key.authenticate(cose.to_be_authenticated(HMAC_256_256, protected, b"This is the content."))
    assert cbor2.dumps(cbor2.CBORTag(17, [protected, {}, b"This is the content.", tag])) == HMAC01
