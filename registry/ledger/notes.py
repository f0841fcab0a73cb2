"""Signed checkpoints: what the log commits to, in the signed-note format that Go's
transparency logs use (C2SP tlog-checkpoint and signed-note), with Ed25519 keys.

A checkpoint's body is four lines, each ending in a newline:

    <origin>                     the log's name, e.g. coopreg/3f9c2a71
    <size>                       the number of leaves (events), decimal
    <root>                       the RFC 6962 root hash, standard base64
    timestamp <RFC 3339 UTC>     when the log signed it (an extension line)

The note is the body, an empty line, and one signature line per signer:

    — <key name> <base64(key hash (4 bytes) || Ed25519 signature of the body (64 bytes))>

The key hash is the first 4 bytes of SHA-256(<key name> || "\\n" || 0x01 || public key).
The verifier key (`vkey`) is `<key name>+<key hash, 8 hex digits>+<base64(0x01 || public key)>`.
The key name is the log's origin, so a checkpoint names the key that signed it."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519 = b"\x01"  # the signed-note algorithm byte for Ed25519
DASH = "\u2014"  # signature lines start with an em dash
NAME = re.compile(r"^[^\s+]+$")


class CheckpointInvalid(ValueError):
    """A note that does not parse, or whose signature does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    timestamp: datetime

    def body(self) -> bytes:
        stamp = self.timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return (f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"
                f"timestamp {stamp}\n").encode()

    def as_dict(self) -> dict[str, object]:
        return {"origin": self.origin, "size": self.size, "root_hash": self.root.hex(),
                "timestamp": self.timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z")}


def key_hash(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public_key).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    name: str
    public_key: bytes  # 32 raw bytes

    @property
    def key_hash(self) -> bytes:
        return key_hash(self.name, self.public_key)

    def vkey(self) -> str:
        return (f"{self.name}+{self.key_hash.hex()}+"
                f"{base64.b64encode(ED25519 + self.public_key).decode()}")

    def pem(self) -> str:
        key = Ed25519PublicKey.from_public_bytes(self.public_key)
        return key.public_bytes(serialization.Encoding.PEM,
                                serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """A vkey line (`name+hash+key`)."""
        try:
            name, hash_hex, encoded = text.strip().split("+", 2)  # base64 may hold "+"
            raw = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise CheckpointInvalid("not a verifier key (name+hash+base64 key)") from None
        if raw[:1] != ED25519 or len(raw) != 33:
            raise CheckpointInvalid("the verifier key is not an Ed25519 key")
        key = cls(name, raw[1:])
        if key.key_hash.hex() != hash_hex.lower():
            raise CheckpointInvalid("the verifier key's hash does not match its name and key")
        return key


class SigningKey:
    """The log's Ed25519 private key and the name it signs under."""

    def __init__(self, private_key: Ed25519PrivateKey, name: str | None = None) -> None:
        self.private_key = private_key
        raw = private_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                    serialization.PublicFormat.Raw)
        name = name or f"coopreg/{hashlib.sha256(raw).hexdigest()[:8]}"
        if not NAME.match(name):
            raise ValueError(f"a log name has no spaces or '+': {name!r}")
        self.verifier = VerifierKey(name, raw)

    @property
    def name(self) -> str:
        return self.verifier.name

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def create(cls, path: Path) -> SigningKey:
        """A new key written to `path`, readable by its owner only; never overwrites."""
        key = cls.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = key.private_key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption())
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(handle, "wb") as out:
            out.write(pem)
        return key

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        if path.stat().st_mode & 0o077:
            raise PermissionError(f"{path} is readable by others; chmod 600 it")
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 private key")
        return cls(private)

    def sign(self, checkpoint: Checkpoint) -> str:
        """The signed note of `checkpoint` (whose origin must be this key's name)."""
        if checkpoint.origin != self.name:
            raise ValueError(f"checkpoint of {checkpoint.origin} signed by {self.name}")
        body = checkpoint.body()
        signature = self.verifier.key_hash + self.private_key.sign(body)
        return (body.decode() + "\n"
                + f"{DASH} {self.name} {base64.b64encode(signature).decode()}\n")


def open_note(note: str, key: VerifierKey) -> Checkpoint:
    """The checkpoint in `note` if `key` signed it; CheckpointInvalid otherwise."""
    body, separator, signatures = note.partition("\n\n")
    if not separator or not signatures.endswith("\n"):
        raise CheckpointInvalid("a note is a body, an empty line and signature lines")
    body += "\n"
    for line in signatures[:-1].split("\n"):
        dash, _, rest = line.partition(" ")
        name, _, encoded = rest.partition(" ")
        if dash != DASH or name != key.name:
            continue
        try:
            raw = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise CheckpointInvalid("a signature is not base64") from None
        if raw[:4] != key.key_hash or len(raw) != 68:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(raw[4:], body.encode())
        except InvalidSignature:
            raise CheckpointInvalid(f"the signature of {key.name} does not verify") from None
        return parse_body(body, key.name)
    raise CheckpointInvalid(f"the note carries no signature by {key.name}")


def parse_body(body: str, origin: str) -> Checkpoint:
    lines = body.split("\n")
    if len(lines) != 5 or lines[4] != "" or not lines[3].startswith("timestamp "):
        raise CheckpointInvalid("a checkpoint body is origin, size, root and timestamp lines")
    if lines[0] != origin:
        raise CheckpointInvalid(f"the checkpoint is of log {lines[0]!r}, not {origin!r}")
    try:
        size = int(lines[1])
        root = base64.b64decode(lines[2], validate=True)
        stamp = datetime.strptime(lines[3][len("timestamp "):], "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError as error:
        raise CheckpointInvalid(f"a checkpoint line does not parse: {error}") from None
    if size < 0 or len(root) != 32 or lines[1] != str(size):
        raise CheckpointInvalid("the size or root hash is malformed")
    return Checkpoint(origin, size, root, stamp.replace(tzinfo=UTC))
