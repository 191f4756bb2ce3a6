"""CBOR Web Tokens (RFC 8392) over COSE (RFC 9052) for ODSI management commands.

    vault = KeyVault(); vault.generate("owner")
    token = Issuer(vault, kid="owner", issuer="owner").issue(audience="dom1", scope="26261/0/7:w")
    claims = Validator(vault, audience="dom1", issuers={"owner"}).validate(
        token, operation="write", resource="26261/0/7")

See tokens/README.md for formats and behaviour.
"""
from .cwt import Claims
from .errors import REASONS, TokenError, VaultError
from .issuer import Issuer
from .keys import EDDSA, ES256, HMAC_256_64, HMAC_256_256, CoseKey
from .replay import ReplayCache
from .scope import Scope, ScopeError
from .validator import Validator
from .vault import KeyStorage, KeyVault, MemoryStorage

__all__ = ["Claims", "CoseKey", "EDDSA", "ES256", "HMAC_256_64", "HMAC_256_256", "Issuer", "KeyStorage",
           "KeyVault", "MemoryStorage", "REASONS", "ReplayCache", "Scope", "ScopeError", "TokenError",
           "Validator", "VaultError"]
