"""Has a step changed an artifact it inherited? Answered at memory speed, not pickle speed.

A spin must report an artifact the step mutated in place (`self.df["v"] *= 2`,
`self.items.append(x)`, through an alias too) as changed, and one it only read as unchanged.
Re-pickling and hashing the whole value to find out cost a spin about 1 s per GB.

A fingerprint splits the value's pickle (protocol 5) into its head (the object graph:
small for frames, arrays and tensors) and its out-of-band data buffers. The worker takes it
once, when it loads the parent, and every spin reuses it. After the step, the child re-pickles
the head only (the buffers stay zero-copy views) and compares hashes; for each buffer still at
the same address it asks the kernel whether any of its pages was written since the fork
(`pages.untouched`), and hashes the buffer only when one was. A pure read of a 1.6 GB frame
thus costs a few milliseconds, and every kind of write is caught: a changed head, a buffer
moved or resized, or a written page whose bytes now hash differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowspin.spin import pages

# Immutable values whose identity with the parent's object proves they are unchanged.
IMMUTABLE = (str, int, float, bool, bytes, complex, type(None))


@dataclass(frozen=True)
class Fingerprint:
    head: bytes  # hash of the pickle head
    buffers: tuple[tuple[int, int, bytes], ...]  # (address, length, hash) per data buffer


def _hash(data: bytes | memoryview) -> bytes:
    import xxhash

    return xxhash.xxh3_128_digest(data)


def _address(view: memoryview) -> int:
    if view.nbytes == 0:
        return 0
    try:
        return pages.buffer_address(view)
    except (BufferError, TypeError, ValueError):
        return -1


def take(value: Any) -> Fingerprint | None:
    """The value's fingerprint, or None when it cannot be pickled (then any read of it counts
    as a change, and storing it reports the pickling error)."""
    if isinstance(value, IMMUTABLE):
        return None
    from flowspin.store.store import pickle_value

    try:
        # Twice: pickling caches things on classes (`__slotnames__`) that a by-value class
        # (one defined in the flow file) then carries, so only the second pickle is what
        # every later one will be.
        pickle_value(value)
        pickled = pickle_value(value)
    except Exception:
        return None
    return Fingerprint(
        _hash(pickled.head),
        tuple((_address(b), b.nbytes, _hash(b)) for b in pickled.buffers),
    )


def compare(value: Any, parent: Any, fingerprint: Fingerprint | None) -> tuple[bool, Any]:
    """(unchanged?, the value pickled if that was needed to tell, for storing it).

    `value` is what the step's flow object holds now, `parent` what the parent held.
    """
    if value is not parent:
        same = (
            isinstance(value, IMMUTABLE)
            and isinstance(parent, IMMUTABLE)
            and type(value) is type(parent)
            and value == parent
        )
        return same, None
    if isinstance(value, IMMUTABLE):
        return True, None
    if fingerprint is None:
        return False, None
    from flowspin.store.store import pickle_value

    try:
        pickled = pickle_value(value)
    except Exception:
        return False, None
    if _hash(pickled.head) != fingerprint.head or len(pickled.buffers) != len(
        fingerprint.buffers
    ):
        return False, pickled
    ranges = []
    suspects = []
    for i, (buf, (addr, length, _digest)) in enumerate(
        zip(pickled.buffers, fingerprint.buffers, strict=True)
    ):
        if buf.nbytes != length:
            return False, pickled
        if addr > 0 and _address(buf) == addr:
            ranges.append((addr, length))
            suspects.append(i)
        elif length:
            suspects.append(-1 - i)  # moved: only its bytes can tell
    clean = iter(pages.untouched(ranges))
    for code in suspects:
        i = code if code >= 0 else -1 - code
        if code >= 0 and next(clean):
            continue
        if _hash(pickled.buffers[i]) != fingerprint.buffers[i][2]:
            return False, pickled
    return True, None
