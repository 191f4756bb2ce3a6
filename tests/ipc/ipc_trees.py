"""The tree the IPC tests share, and a check of the mailboxes' pending counts."""

from pipsim.ipc.mailbox import Pending, RingKind, State

TREE = {"root": {"a": {"a1": {"a11": {}}, "a2": {}}, "b": {"b1": {"b11": {}}}}}


def ready_counts(topo, name) -> list[int]:
    """What each pending count of name's mailbox should be: its READY slots, by Pending."""
    node = topo.node(name)
    view = topo.own_view(node)
    counts = [0] * len(Pending)
    for kind in RingKind:
        for _, h, _ in view.ring(kind).live():
            if h.state != State.READY:
                continue
            if kind == RingKind.INBOX:
                counts[Pending.MINE if h.kind == 0 and h.dst == node.id else Pending.TRANSIT] += 1
            else:
                counts[Pending.OUTBOX if kind == RingKind.OUTBOX else Pending.STATUS] += 1
    return counts


def count_errors(topo, exact=True, skip=()) -> dict:
    """Mailboxes (but those in skip) whose pending counts are not their READY slots (exact)
    or are below them."""
    errors = {}
    for name in set(topo.endpoints) - set(skip):
        stored = list(topo.own_view(topo.node(name)).pending())
        ready = ready_counts(topo, name)
        if stored != ready if exact else any(s < r for s, r in zip(stored, ready)):
            errors[name] = {"stored": stored, "ready": ready}
    return errors
