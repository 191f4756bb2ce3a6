"""User-level IPC on top of Pip (which has none): mailbox pages, parent relay, channel policy.

    topo = setup_topology(k, {"root": {"a": {}, "b": {}}})
    policy = Policy([("a", "b")])
    topo.mailbox("a").send("b", {"hello": 1})
    Relay(topo, policy).run_until_idle()
    topo.mailbox("b").receive()      # [Message(src=2, seq=1, payload={'hello': 1}, ...)]

Layout and protocol: docs/ipc.md.
"""
from .mailbox import (MAX_PAYLOAD, IpcError, Mailbox, MailboxView, Message, OutboxFull, Reason,
                      Refusal)
from .policy import Policy
from .relay import Relay
from .topology import Node, Topology, setup_topology

__all__ = ["MAX_PAYLOAD", "IpcError", "Mailbox", "MailboxView", "Message", "Node", "OutboxFull",
           "Policy", "Reason", "Refusal", "Relay", "Topology", "setup_topology"]
