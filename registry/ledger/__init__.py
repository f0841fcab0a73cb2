"""The transparency log: an RFC 6962 / RFC 9162 Merkle tree over the event history."""
