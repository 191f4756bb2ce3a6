"""The relay: each parent moves its children's messages, as itself (paper Fig. 4).

A message from S to D climbs the outboxes of S's ancestors up to the common ancestor,
then descends through the inboxes of the partitions on the way down to D.  Every hop is
one copy by one relaying partition R, between two rings R can reach with its own VAs:
its own mailbox and its children's (vertical sharing).  Each hop checks the message
against the channel policy; a refusal travels back to the sender the same way and ends
in its status ring.  The hop protocol and its crash argument are in docs/ipc.md §4.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import replace

import cbor2

from .mailbox import MAX_PAYLOAD, Header, IpcError, Reason, Ring, RingKind, State
from .policy import Policy
from .topology import Node, Topology

_REASONS = set(Reason)
_KINDS = set(RingKind)


class Relay:
    """Relays every message of a Topology under a Policy.

    ``max_attempts``: a message that finds its destination inbox full that many times
    is refused (INBOX_FULL); None keeps it waiting (pure back-pressure).  A step makes
    up to two attempts per message (the bottom-up and the top-down sweep).
    """

    def __init__(self, topology: Topology, policy: Policy, max_attempts: int | None = 16):
        if not isinstance(topology, Topology) or topology.root is None:
            raise ValueError("the relay needs a Topology with a root")
        if not isinstance(policy, Policy):
            raise TypeError(f"policy must be a Policy, not {type(policy).__name__}")
        unknown = policy.endpoints - set(topology.endpoints)
        if unknown:
            raise ValueError(f"the policy names unknown endpoints: {sorted(unknown)}")
        if max_attempts is not None and (type(max_attempts) is not int or max_attempts < 1):
            raise ValueError(f"max_attempts must be a positive int or None, not {max_attempts!r}")
        self.topology, self.policy, self.max_attempts = topology, policy, max_attempts
        self._recovered = False
        # rings[(relayer, owner, kind)]: owner's ring through the relayer's VAs
        self._rings: dict[tuple[Node, Node, RingKind], Ring] = {}
        for node in topology.preorder():
            for kind in RingKind:
                self._rings[node, node, kind] = topology.own_view(node).ring(kind)
                if node.parent is not None:
                    view = topology.parent_view(node)
                    self._rings[node.parent, node, kind] = view.ring(kind)

    # ---- public ----
    def step(self) -> Counter:
        """One pass over the tree: every partition relays bottom-up (messages climb to their
        common ancestor), then top-down (they descend to their inbox).  A relay's first pass
        starts with recovery: a relay that starts may follow one that crashed mid-hop (a
        running relay completes its hops, so later passes have nothing to recover)."""
        stats = Counter()
        order = self.topology.postorder()
        if not self._recovered:
            for relayer in order:
                self._recover(relayer, stats)
            self._recovered = True
        for relayer in order + order[::-1]:
            self._relay(relayer, stats)
        return stats

    def run_until_idle(self, max_steps: int = 1000) -> Counter:
        """Step until a pass moves nothing (messages blocked on full rings may remain)."""
        total = Counter()
        for _ in range(max_steps):
            stats = self.step()
            total += stats
            if not (stats["delivered"] or stats["forwarded"] or stats["refused"]):
                return total
        raise IpcError(f"the relay was still moving messages after {max_steps} steps")

    # ---- one relaying partition ----
    def _sources(self, relayer: Node):
        """The rings relayer reads and the predicate of the slots it is responsible for."""
        yield self._rings[relayer, relayer, RingKind.OUTBOX], relayer, True
        yield self._rings[relayer, relayer, RingKind.INBOX], relayer, False
        for child in relayer.children:
            yield self._rings[relayer, child, RingKind.OUTBOX], child, True

    def _handles(self, relayer: Node, owner: Node, outbox: bool, h: Header) -> bool:
        target = h.dst if h.kind == 0 else h.src
        if not outbox:          # own inbox: transit down, never the owner's messages
            return h.kind != 0 or h.dst != owner.id
        inside = owner.parent is None or target in owner.subtree
        return inside if owner is relayer else not inside

    def _relay(self, relayer: Node, stats: Counter) -> None:
        for ring, owner, outbox in self._sources(relayer):
            for slot, h, payload in ring.live():
                if h.state == State.READY and self._handles(relayer, owner, outbox, h):
                    self._hop(relayer, ring, owner, outbox, slot, h, payload, stats)

    def _check(self, owner: Node, outbox: bool, h: Header, payload: bytes):
        """(reason, who to tell) for a slot that must be refused, else None.

        Slots in an outbox must come from the owner's subtree (a message) or be bound
        for it (a refusal): anything else is the owner's forgery, refused to the owner."""
        topo = self.topology
        src, dst = topo.by_id(h.src), topo.by_id(h.dst)
        if h.kind != 0:
            forged = (h.kind not in _REASONS or src is None
                      or (outbox and h.dst not in owner.subtree))
            return (Reason.MALFORMED, owner.id) if forged else None
        if src is None or (outbox and h.src not in owner.subtree):
            return Reason.MALFORMED, owner.id
        if h.length > MAX_PAYLOAD:
            return Reason.MALFORMED, h.src
        if dst is None or dst is src:
            return Reason.UNDELIVERABLE, h.src
        reason = self.policy.check(src.name, dst.name, h.length)
        if reason is not None:
            return reason, h.src
        try:
            cbor2.loads(payload[:h.length])
        except Exception:       # cbor2 raises several exception types on garbage
            return Reason.MALFORMED, h.src
        return None

    def _hop(self, relayer, ring, owner, outbox, slot, h, payload, stats) -> None:
        refused = self._check(owner, outbox, h, payload)
        if refused is not None:
            self._refuse(relayer, ring, owner, slot, h, *refused, stats)
            return
        target = h.dst if h.kind == 0 else h.src
        dest, final = self._next(relayer, target, RingKind.INBOX if h.kind == 0
                                 else RingKind.STATUS)
        data = payload[:h.length] if h.kind == 0 else b""
        if self._move(ring, owner, slot, dest, h, data):
            stats["delivered" if final and h.kind == 0 else "forwarded"] += 1
            return
        stats["blocked"] += 1
        tries = h.tries + 1
        if (final and h.kind == 0 and self.max_attempts is not None
                and tries >= self.max_attempts):
            self._refuse(relayer, ring, owner, slot, h, Reason.INBOX_FULL, h.src, stats)
        else:
            ring.set_tries(slot, tries)

    def _refuse(self, relayer, ring, owner, slot, h, reason, sender, stats) -> None:
        """Replace the slot's message by its refusal, on its way to the sender's status ring."""
        dest, _ = self._next(relayer, sender, RingKind.STATUS)
        if self._move(ring, owner, slot, dest, replace(h, kind=reason, tries=0), b""):
            stats["refused"] += 1
        else:
            stats["blocked"] += 1

    def _next(self, relayer: Node, target: int, final_kind: RingKind) -> tuple[Ring, bool]:
        """The ring relayer copies into for target, and whether it is target's own."""
        if target == relayer.id:
            return self._rings[relayer, relayer, final_kind], True
        if target in relayer.subtree:
            child = self.topology.child_toward(relayer, target)
            if child.id == target:
                return self._rings[relayer, child, final_kind], True
            return self._rings[relayer, child, RingKind.INBOX], False
        return self._rings[relayer, relayer, RingKind.OUTBOX], False

    def _move(self, src: Ring, owner: Node, slot: int, dest: Ring, h: Header,
              data: bytes) -> bool:
        """Copy slot to a free slot of dest: claim + fill, free the source (the commit), then
        publish.  False if dest is full."""
        free = dest.free_slot()
        if free is None:
            return False
        dest.put(free, replace(h, state=State.CLAIMED, origin_owner=owner.id,
                               origin_ring=src.spec.kind, origin_slot=slot, tries=0), data)
        src.set_state(slot, State.FREE)
        dest.set_state(free, State.READY)
        return True

    def _recover(self, relayer: Node, stats: Counter) -> None:
        """Finish or undo the hops a crash interrupted, in the rings relayer writes to.

        A CLAIMED slot whose origin still holds the same message (same source,
        destination and sequence number) was not committed: it is freed and the hop
        will be redone.  Otherwise the origin was freed (the commit): it is published."""
        readable = {relayer.id: relayer, **{c.id: c for c in relayer.children}}
        targets = [(relayer, kind) for kind in RingKind]
        targets += [(c, kind) for c in relayer.children for kind in (RingKind.INBOX,
                                                                     RingKind.STATUS)]
        for owner, kind in targets:
            ring = self._rings[relayer, owner, kind]
            for slot, h, _ in ring.live():
                origin = readable.get(h.origin_owner)
                if (h.state != State.CLAIMED or origin is None or h.origin_ring not in _KINDS
                        or h.origin_slot >= self._rings[relayer, origin,
                                                        RingKind(h.origin_ring)].spec.count):
                    continue
                a = self._rings[relayer, origin, RingKind(h.origin_ring)].header(h.origin_slot)
                committed = not (a.state == State.READY and a.identity == h.identity)
                ring.set_state(slot, State.READY if committed else State.FREE)
                stats["recovered"] += 1
