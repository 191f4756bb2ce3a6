"""CBOR Web Tokens (RFC 8392) over COSE (RFC 9052) for ODSI management commands.

    vault = KeyVault(); vault.generate("owner")
    command = binding.digest("dom1", "gateway", "write", (26261, 0, 7), value)
    token = Issuer(vault, kid="owner", issuer="owner").issue(audience="dom1", scope="26261/0/7:w",
                                                              command=command)
    claims = Validator(vault, audience="dom1", issuers={"owner"}).validate(
        token, operation="write", resource="26261/0/7", command=command)

See tokens/README.md for formats and behaviour.
"""
from . import binding
from .cwt import Claims
from .errors import REASONS, TokenError, VaultError
from .issuer import Issuer
from .keys import EDDSA, ES256, HMAC_256_64, HMAC_256_256, CoseKey
from .replay import ReplayCache
from .scope import Scope, ScopeError
from .validator import Validator
from .vault import KeyStorage, KeyVault, MemoryStorage

__all__ = ["binding", "Claims", "CoseKey", "EDDSA", "ES256", "HMAC_256_64", "HMAC_256_256", "Issuer", "KeyStorage",
           "KeyVault", "MemoryStorage", "REASONS", "ReplayCache", "Scope", "ScopeError", "TokenError",
           "Validator", "VaultError"]
