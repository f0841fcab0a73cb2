"""The canonical encoding of a stored event as a leaf of the transparency log.

    leaf = b"CRv1" || position (8 bytes, big-endian) || originator id (16 bytes)
           || originator version (8 bytes, big-endian) || topic length (2 bytes, big-endian)
           || topic (UTF-8) || SHA-256 of the stored state bytes (32 bytes)

The stored state holds the payload and the recorded time, so the leaf covers position,
topic, aggregate, version, payload and recorded time; an export line (`registry.io`)
carries everything needed to recompute it."""

from __future__ import annotations

import hashlib
import struct
from uuid import UUID

from registry.ledger.merkle import Hash, leaf_hash

MAGIC = b"CRv1"


def leaf_data(position: int, originator_id: UUID, version: int, topic: str,
              state: bytes) -> bytes:
    encoded_topic = topic.encode("utf-8")
    return b"".join((MAGIC, struct.pack(">Q", position), originator_id.bytes,
                     struct.pack(">Q", version), struct.pack(">H", len(encoded_topic)),
                     encoded_topic, hashlib.sha256(state).digest()))


def event_leaf_hash(position: int, originator_id: UUID, version: int, topic: str,
                    state: bytes) -> Hash:
    return leaf_hash(leaf_data(position, originator_id, version, topic, state))
