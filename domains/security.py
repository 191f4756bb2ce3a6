"""Token & Security Validator: the domain's token check plus its security policy.

The policy maps LwM2M path prefixes to what a command needs (paper §V.B.6):
``"domain"`` — token A from the domain's server, checked here (Fig. 8);
``"device"`` — token A checked here *and* a token B from the owner, which this domain
cannot check and forwards to the owner domain (Fig. 9).  The longest prefix wins;
a path no entry covers needs token A.
"""
from __future__ import annotations

from pipsim.tokens import TokenError, Validator

from .commands import Command, Refused

RULES = ("domain", "device")


class SecurityValidator:
    def __init__(self, validator: Validator, policy: dict[str, str] | None = None):
        for prefix, rule in (policy or {}).items():
            if rule not in RULES:
                raise ValueError(f"policy {prefix!r}: rule must be one of {RULES}, not {rule!r}")
        self.validator = validator
        self.policy = {tuple(int(p) for p in k.split("/")): v for k, v in (policy or {}).items()}

    def rule(self, path: tuple[int, ...]) -> str:
        for n in range(len(path), 0, -1):
            if path[:n] in self.policy:
                return self.policy[path[:n]]
        return "domain"

    def check(self, command: Command) -> str:
        """Validate token A for the command (and that a device command brings token B);
        the rule that applied.  Raises Refused with the token's reason."""
        try:
            self.validator.validate(command.token, operation=command.code,
                                    resource=command.resource, command=command.digest())
        except TokenError as error:
            raise Refused(error.reason, error.detail, 401) from None
        rule = self.rule(command.path)
        if rule == "device" and command.token_b is None:
            raise Refused("missing_token_b", f"{command.resource} is a device resource: "
                          "it needs a token B from the owner", 401)
        return rule
