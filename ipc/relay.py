"""The relay: each parent moves its children's messages, as itself (paper Fig. 4).

A message from S to D climbs the outboxes of S's ancestors up to the common ancestor,
then descends through the inboxes of the partitions on the way down to D.  Every hop is
one copy by one relaying partition R, between two rings R can reach with its own VAs:
its own mailbox and its children's (vertical sharing).  Each hop checks the message
against the channel policy; a refusal travels back to the sender the same way and ends
in its status ring.  The hop protocol and its crash argument are in docs/ipc.md §4.

A closed endpoint (``Topology.close``) takes nothing: what is sent to it, and what waits in
its inbox, is refused as undeliverable.  A mailbox an access faults on (its partition gave
its pages away) is broken: reported in ``faults``, never touched again, closed; what would
pass through it is refused, the hop the fault cut short is finished (docs/ipc.md §4).
"""
from __future__ import annotations

from collections import Counter

from pipsim.kernel.types import MemoryFault
from pipsim.kernel.wire import CBORError

from .mailbox import (HEADER_SIZE, HEADER_STRUCT, MAX_PAYLOAD, PENDING, RINGS, Header,
                      IpcError, decode, MailboxView, Pending, Reason, Ring, RingKind, State)
from .policy import Policy
from .topology import Node, Topology

_REASONS = set(Reason)
_KINDS = set(RingKind)
_READY, _FREE, _CLAIMED = int(State.READY), int(State.FREE), int(State.CLAIMED)
_OUTBOX, _INBOX, _STATUS = RingKind.OUTBOX, RingKind.INBOX, RingKind.STATUS
_P_OUTBOX, _P_MINE, _P_TRANSIT, _P_STATUS = (int(p) for p in Pending)
_P_MAX = 255
_READY_BYTE = bytes((_READY,))
_NO_COUNTS = bytes(len(Pending))
ACTIVITY = ("delivered", "forwarded", "refused", "dropped", "broken")   # what a pass did


def _pending_index(kind: RingKind, h: Header, owner: int) -> int:
    """Which pending count of owner's mailbox a READY slot h in its ring `kind` counts in."""
    if kind is _INBOX:
        return _P_MINE if h.kind == 0 and h.dst == owner else _P_TRANSIT
    return _P_OUTBOX if kind is _OUTBOX else _P_STATUS


class Relay:
    """Relays every message of a Topology under a Policy.

    ``max_attempts``: a message that finds its destination inbox full that many times
    is refused (INBOX_FULL); None keeps it waiting (pure back-pressure).  A step makes
    up to two attempts per message (the bottom-up and the top-down sweep).

    A pass reads only the rings whose pending count is not 0 (docs/ipc.md §3), and sets
    the counts of the rings it reads to the READY slots left: a count a crash left too high
    costs one read.  The first pass, and then one in every ``rescan`` (None: never), is
    full: it reads every ring, so a count something outside the protocol left too low
    delays a slot until the next full pass, never longer.

    ``faults``: (endpoint, why) for each mailbox this relay found broken and nobody has
    taken yet (``take_faults``), in order; the topology keeps the endpoint broken for later
    relays.
    """

    def __init__(self, topology: Topology, policy: Policy, max_attempts: int | None = 16,
                 rescan: int | None = 64):
        if not isinstance(topology, Topology) or topology.root is None:
            raise ValueError("the relay needs a Topology with a root")
        if not isinstance(policy, Policy):
            raise TypeError(f"policy must be a Policy, not {type(policy).__name__}")
        unknown = policy.endpoints - set(topology.endpoints)
        if unknown:
            raise ValueError(f"the policy names unknown endpoints: {sorted(unknown)}")
        if max_attempts is not None and (type(max_attempts) is not int or max_attempts < 1):
            raise ValueError(f"max_attempts must be a positive int or None, not {max_attempts!r}")
        if rescan is not None and (type(rescan) is not int or rescan < 1):
            raise ValueError(f"rescan must be a positive int or None, not {rescan!r}")
        self.topology, self.policy, self.max_attempts = topology, policy, max_attempts
        self.rescan = rescan
        self.faults: list[tuple[str, str]] = []
        self._recovered = False
        self._passes = 0
        self._order = topology.postorder()
        # views[(relayer, owner)]: owner's mailbox through the relayer's VAs;
        # rings[(relayer, owner, kind)]: one of its rings
        self._views: dict[tuple[Node, Node], MailboxView] = {}
        self._rings: dict[tuple[Node, Node, RingKind], Ring] = {}
        for node in self._order:
            self._views[node, node] = topology.own_view(node)
            if node.parent is not None:
                self._views[node.parent, node] = topology.parent_view(node)
        for (relayer, owner), view in self._views.items():
            for kind in RingKind:
                self._rings[relayer, owner, kind] = view.ring(kind)
        self._plan()
        self._size = max(node.id for node in self._order) + 1
        self._nodes = {node.id: node for node in self._order}
        # toward[relayer][target]: relayer's child whose subtree holds target
        self._toward = {node: {target: child for child in node.children
                               for target in child.subtree} for node in self._order}

    def _plan(self) -> None:
        """What a pass reads, broken mailboxes left out: each relayer's outbox, its inbox, its
        children's outboxes, in this order; (relayer, owner, owner's id, pending count, ring
        kind), by sweep; and the pending counts it reads first, (node, reader)."""
        plan = [[(relayer, owner, owner.id, which, kind) for owner, which, kind in
                 ((relayer, _P_OUTBOX, _OUTBOX), (relayer, _P_TRANSIT, _INBOX),
                  *((child, _P_OUTBOX, _OUTBOX) for child in relayer.children))
                 if not owner.broken]
                for relayer in self._order]
        self._bottom_up = [source for sources in plan for source in sources]
        self._top_down = [source for sources in plan[::-1] for source in sources]
        self._pending = [(node, self._views[node, node].pending) for node in self._order
                         if not node.broken]

    # ---- public ----
    def step(self) -> Counter:
        """One pass over the tree: every partition relays bottom-up (messages climb to their
        common ancestor), then top-down (they descend to their inbox).  A relay's first pass
        starts with recovery: a relay that starts may follow one that crashed mid-hop (a
        running relay completes its hops, so later passes have nothing to recover).

        The pass reads each mailbox's pending counts once, at its start, through its owner's
        VAs (nobody but the relay writes during a pass) and keeps them up to date as it
        writes them; it reads a ring only if its count is not 0, except in a full pass.  A
        closed endpoint's inbox is read when it holds messages for it (they are refused)."""
        stats: Counter[str] = Counter()
        order = self._order
        full = not self._recovered or (self.rescan is not None
                                       and self._passes % self.rescan == 0)
        if not self._recovered:
            for relayer in order:
                self._recover(relayer, stats)
            self._recovered = True
        counts: list = [_NO_COUNTS] * self._size    # by endpoint id
        relayed: bool | int = False                 # any outbox or transit count not 0
        closed = []                                 # closed endpoints with messages waiting
        for node, pending in self._pending:
            try:
                count = counts[node.id] = bytearray(pending())
            except MemoryFault as fault:
                self._break(node, str(fault), counts, stats)
                continue
            relayed = relayed or count[_P_OUTBOX] or count[_P_TRANSIT]
            if node.closed is not None and count[_P_MINE]:
                closed.append(node)
        scan = self._scan
        for node in closed:
            scan(node, node, _INBOX, counts, stats)
        if full:                                    # bottom-up, every ring
            for relayer, owner, _, _, kind in self._bottom_up:
                if not owner.broken:
                    scan(relayer, owner, kind, counts, stats)
        elif not relayed:                           # nothing for a relay: an idle pass
            self._passes += 1
            return stats
        else:                                       # bottom-up, by the counts
            for relayer, owner, endpoint, which, kind in self._bottom_up:
                if counts[endpoint][which]:
                    scan(relayer, owner, kind, counts, stats)
        for relayer, owner, endpoint, which, kind in self._top_down:
            if counts[endpoint][which]:
                scan(relayer, owner, kind, counts, stats)
        if full:
            for node in order:
                if not node.broken:
                    try:
                        ready = sum(1 for _, h, _ in self._rings[node, node, _STATUS].live()
                                    if h.state == _READY)
                        self._settle(node, node, _P_STATUS, ready, counts)
                    except MemoryFault as fault:
                        self._contain(node, node, fault, counts, stats)
        self._passes += 1
        return stats

    def take_faults(self) -> list[tuple[str, str]]:
        """The mailboxes found broken since the last call, (endpoint, why) in order; taken."""
        taken, self.faults = self.faults, []
        return taken

    def run_until_idle(self, max_steps: int = 1000) -> Counter:
        """Step until a pass moves nothing (messages blocked on full rings may remain)."""
        total: Counter[str] = Counter()
        for _ in range(max_steps):
            stats = self.step()
            total += stats
            if not any(stats[what] for what in ACTIVITY):
                return total
        raise IpcError(f"the relay was still moving messages after {max_steps} steps")

    # ---- one relaying partition ----
    def _scan(self, relayer: Node, owner: Node, kind: RingKind, counts: list,
              stats: Counter) -> None:
        """Move the READY slots of one ring that relayer is responsible for (relayer reads
        its own outbox and inbox and its children's outboxes), then set the ring's pending
        count(s) to the READY slots left: it has just read them all.  An access that faults
        is contained (``_contain``)."""
        try:
            ring = self._rings[relayer, owner, kind]
            outbox = kind is _OUTBOX
            left = own = 0
            for slot, h, payload in ring.live():
                if h.state != _READY:
                    continue
                mine = not outbox and h.kind == 0 and h.dst == owner.id
                if mine and owner.closed is None:
                    own += 1                # the owner's: receive() takes it
                    continue
                if (self._handles(relayer, owner, outbox, h) and
                        self._hop(relayer, ring, owner, outbox, slot, h, payload, counts, stats)):
                    continue
                if mine:
                    own += 1
                else:
                    left += 1
            if outbox:
                self._settle(relayer, owner, _P_OUTBOX, left, counts)
            else:
                self._settle(relayer, owner, _P_MINE, own, counts)
                self._settle(relayer, owner, _P_TRANSIT, left, counts)
        except MemoryFault as fault:
            self._contain(relayer, owner, fault, counts, stats)

    def _settle(self, relayer: Node, owner: Node, which: int, value: int, counts: list) -> None:
        """Write an exact pending count, if the page does not hold it already."""
        value = min(value, _P_MAX)
        if counts[owner.id][which] != value:
            self._views[relayer, owner].write(PENDING + which, bytes((value,)))
            counts[owner.id][which] = value

    def _handles(self, relayer: Node, owner: Node, outbox: bool, h: Header) -> bool:
        target = h.dst if h.kind == 0 else h.src
        if not outbox:          # own inbox: transit down, the owner's messages if it is closed
            return h.kind != 0 or h.dst != owner.id or owner.closed is not None
        inside = owner.parent is None or target in owner.subtree
        return inside if owner is relayer else not inside

    def _check(self, owner: Node, outbox: bool, h: Header,
               payload: bytes) -> tuple[Reason, int] | None:
        """(reason, who to tell) for a slot that must be refused, else None.

        Slots in an outbox must come from the owner's subtree (a message) or be bound
        for it (a refusal): anything else is the owner's forgery, refused to the owner."""
        src, dst = self._nodes.get(h.src), self._nodes.get(h.dst)
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
        if dst.closed is not None:
            return Reason.UNDELIVERABLE, h.src
        try:
            decode(payload[:h.length])
        except CBORError:       # not strict CBOR (tags building values, cycles, ...)
            return Reason.MALFORMED, h.src
        return None

    def _hop(self, relayer: Node, ring: Ring, owner: Node, outbox: bool, slot: int, h: Header,
             payload: bytes, counts: list, stats: Counter) -> bool:
        """Move (or refuse) one slot; True if it left its ring."""
        refused = self._check(owner, outbox, h, payload)
        if refused is not None:
            return self._refuse(relayer, ring, owner, slot, h, *refused, counts, stats)
        target = h.dst if h.kind == 0 else h.src
        dest, kind, final = self._next(relayer, target, _INBOX if h.kind == 0 else _STATUS)
        if dest.broken:             # its way goes through a mailbox nobody may touch
            if h.kind == 0:
                return self._refuse(relayer, ring, owner, slot, h, Reason.UNDELIVERABLE, h.src,
                                    counts, stats)
            return self._drop(ring, slot, stats)
        data = payload[:h.length] if h.kind == 0 else b""
        if self._move(relayer, ring, owner, slot, dest, kind, h, data, counts):
            stats["delivered" if final and h.kind == 0 else "forwarded"] += 1
            return True
        stats["blocked"] += 1
        tries = h.tries + 1
        if (final and h.kind == 0 and self.max_attempts is not None
                and tries >= self.max_attempts):
            return self._refuse(relayer, ring, owner, slot, h, Reason.INBOX_FULL, h.src,
                                counts, stats)
        ring.set_tries(slot, tries)
        return False

    def _refuse(self, relayer: Node, ring: Ring, owner: Node, slot: int, h: Header,
                reason: Reason, sender: int, counts: list, stats: Counter) -> bool:
        """Replace the slot's message by its refusal, on its way to the sender's status ring."""
        dest, kind, _ = self._next(relayer, sender, _STATUS)
        if dest.broken:
            return self._drop(ring, slot, stats)
        if self._move(relayer, ring, owner, slot, dest, kind, h._replace(kind=reason, tries=0),
                      b"", counts):
            stats["refused"] += 1
            return True
        stats["blocked"] += 1
        return False

    def _drop(self, ring: Ring, slot: int, stats: Counter) -> bool:
        """Free a refusal whose sender's way goes through a broken mailbox: it left."""
        ring.set_state(slot, _FREE)
        stats["dropped"] += 1
        return True

    def _next(self, relayer: Node, target: int,
              final_kind: RingKind) -> tuple[Node, RingKind, bool]:
        """(owner, kind) of the ring relayer copies into for target, and whether it is
        target's own."""
        if target == relayer.id:
            return relayer, final_kind, True
        child = self._toward[relayer].get(target)
        if child is not None:
            return (child, final_kind, True) if child.id == target else (child, _INBOX, False)
        return relayer, _OUTBOX, False

    def _move(self, relayer: Node, src: Ring, owner: Node, slot: int, dest_owner: Node,
              kind: RingKind, h: Header, data: bytes, counts: list) -> bool:
        """Copy slot to a free slot of dest_owner's ring `kind`: claim + fill, raise the
        destination's pending count, free the source (the commit), then publish.  False
        if the destination is full.  (The source's count is lowered by _scan.)"""
        dest = self._rings[relayer, dest_owner, kind]
        free = dest.free_slot()
        if free is None:
            return False
        view, at = dest.view, dest.spec.offset + free * dest.spec.slot_size
        if data:
            view.write(at + HEADER_SIZE, data)
        view.write(at, HEADER_STRUCT.pack(_CLAIMED, h.kind, h.length, h.src, h.dst, h.seq,
                                          owner.id, src.spec.kind, slot, 0))
        which = _pending_index(kind, h, dest_owner.id)
        count = counts[dest_owner.id]
        if count[which] < _P_MAX:
            count[which] += 1
            self._views[relayer, dest_owner].write(PENDING + which, bytes((count[which],)))
        src.set_state(slot, _FREE)
        view.write(at, _READY_BYTE)
        return True

    def _recover(self, relayer: Node, stats: Counter) -> None:
        """Finish or undo the hops a crash or a fault interrupted, in the rings relayer
        writes to.

        A CLAIMED slot whose origin still holds the same message (same source,
        destination and sequence number) was not committed: it is freed and the hop
        will be redone.  Otherwise the origin was freed (the commit), or its mailbox is
        broken (nobody reads it again): it is published, its pending count raised first."""
        try:
            nodes = {relayer.id: relayer, **{c.id: c for c in relayer.children}}
            targets = [(relayer, kind) for kind in RingKind]
            targets += [(c, kind) for c in relayer.children for kind in (_INBOX, _STATUS)]
            for owner, kind in targets:
                if owner.broken:
                    continue
                ring = self._rings[relayer, owner, kind]
                for slot, h, _ in ring.live():
                    origin = nodes.get(h.origin_owner)
                    if (h.state != _CLAIMED or origin is None or h.origin_ring not in _KINDS
                            or h.origin_slot >= RINGS[RingKind(h.origin_ring)].count):
                        continue
                    committed = origin.broken is not None
                    if not committed:
                        a = self._rings[relayer, origin, RingKind(h.origin_ring)].header(
                            h.origin_slot)
                        committed = not (a.state == _READY and a.identity == h.identity)
                    if committed:
                        self._views[relayer, owner].raise_pending(
                            Pending(_pending_index(kind, h, owner.id)))
                    ring.set_state(slot, _READY if committed else _FREE)
                    stats["recovered"] += 1
        except MemoryFault as fault:
            self._contain(relayer, relayer, fault, None, stats)

    # ---- faults ----
    def _contain(self, relayer: Node, suspect: Node, fault: MemoryFault, counts: list | None,
                 stats: Counter) -> None:
        """An access by relayer faulted: each mailbox it reaches (its own, its children's)
        with a page now out of its reach is broken (else the suspect's); then the hops the
        fault cut short are finished (``_recover``) and the cached counts read again."""
        reach = [node for node in (relayer, *relayer.children) if not node.broken]
        found = [node for node in reach
                 if any(self._views[relayer, node].api.translate(va, "w") is None
                        for va in self._views[relayer, node].pages)]
        if not found and suspect.broken is None:
            found = [suspect]
        if not found:
            return
        for node in found:
            self._break(node, str(fault), counts, stats)
        self._recover(relayer, stats)
        if counts is not None:
            for node in reach:
                if not node.broken:
                    counts[node.id] = bytearray(self._views[relayer, node].pending())

    def _break(self, node: Node, why: str, counts: list | None, stats: Counter) -> None:
        """node's mailbox cannot be used: it is reported, closed and left alone."""
        self.topology.mark_broken(node.name, why)
        self.faults.append((node.name, why))
        stats["broken"] += 1
        if counts is not None:
            counts[node.id] = _NO_COUNTS
        self._plan()
