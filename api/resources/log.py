"""The transparency log for auditors: signed checkpoints, the public key that checks them,
and inclusion and consistency proofs (RFC 9162 §2.1.3 and §2.1.4; see docs/audit.md)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api.context import allow, ctx
from api.errors import NotReady
from api.schemas import QUERY, Out
from registry.bootstrap import Services
from registry.domain import NotFound, invalid
from registry.ledger.notary import NoSigningKey

blp = Blueprint("log", __name__, url_prefix="/v1/log",
                description="The transparency log: checkpoints and proofs")
HEX_HASH = {"description": "SHA-256, lowercase hex"}
SIZE = validate.Range(min=0, max=2**62)


class CheckpointArgs(Schema):
    size = fields.Integer(validate=SIZE, metadata={
        "description": "a tree size up to the current one (default: the current size)"})


class InclusionArgs(Schema):
    position = fields.Integer(required=True, validate=validate.Range(min=1, max=2**62),
                              metadata={"description": "the event's global position"})
    size = fields.Integer(validate=validate.Range(min=1, max=2**62), metadata={
        "description": "the tree size to prove against (default: the current size)"})


class ConsistencyArgs(Schema):
    first = fields.Integer(required=True, validate=validate.Range(min=1, max=2**62))
    second = fields.Integer(required=True, validate=validate.Range(min=1, max=2**62))


class CheckpointSchema(Out):
    origin = fields.String(required=True, metadata={"description": "the log's name"})
    size = fields.Integer(required=True, metadata={"description": "leaves (events) covered"})
    root_hash = fields.String(required=True, metadata=HEX_HASH)
    timestamp = fields.String(required=True, metadata={"description": "when it was signed"})
    note = fields.String(required=True, metadata={
        "description": "the signed note (C2SP signed-note format; verify with the public key)"})


class PublicKeySchema(Out):
    origin = fields.String(required=True)
    algorithm = fields.String(required=True)
    key_hash = fields.String(required=True, metadata={"description": "4 bytes, hex"})
    vkey = fields.String(required=True, metadata={"description": "signed-note verifier key"})
    pem = fields.String(required=True, metadata={"description": "SubjectPublicKeyInfo PEM"})


class InclusionProofSchema(Out):
    position = fields.Integer(required=True)
    leaf_index = fields.Integer(required=True)
    size = fields.Integer(required=True)
    leaf_hash = fields.String(required=True, metadata=HEX_HASH)
    root_hash = fields.String(required=True, metadata=HEX_HASH)
    audit_path = fields.List(fields.String(metadata=HEX_HASH), required=True,
                             metadata={"description": "nearest sibling first"})
    checkpoint = fields.String(allow_none=True, required=True, metadata={
        "description": "the signed note of this size, if one was signed"})


class ConsistencyProofSchema(Out):
    first = fields.Integer(required=True)
    second = fields.Integer(required=True)
    first_root_hash = fields.String(required=True, metadata=HEX_HASH)
    second_root_hash = fields.String(required=True, metadata=HEX_HASH)
    proof = fields.List(fields.String(metadata=HEX_HASH), required=True)


@blp.route("/checkpoint")
class LatestCheckpoint(MethodView):
    @allow("auditor")
    @blp.arguments(CheckpointArgs(), **QUERY)
    @blp.response(200, CheckpointSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """The signed checkpoint of the current tree, or of `size` (signed now if none
        was signed at that size yet)."""
        services = ctx().services
        size = args.get("size")
        _within(services, "size", size)
        try:
            return services.notary.checkpoint(size).as_dict()
        except NoSigningKey as error:
            raise NotReady(str(error)) from None


@blp.route("/public-key")
class PublicKey(MethodView):
    @blp.doc(security=[])
    @blp.response(200, PublicKeySchema)
    def get(self) -> Any:
        """The key that signs checkpoints (no authentication: anyone may check them)."""
        key = ctx().services.notary.key
        if key is None:
            raise NotReady("the log has no signing key: run `coopreg init`")
        verifier = key.verifier
        return {"origin": verifier.name, "algorithm": "Ed25519",
                "key_hash": verifier.key_hash.hex(), "vkey": verifier.vkey(),
                "pem": verifier.pem()}


@blp.route("/proofs/inclusion")
class InclusionProof(MethodView):
    @allow("auditor")
    @blp.arguments(InclusionArgs(), **QUERY)
    @blp.response(200, InclusionProofSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """The audit path of the event at `position` in the tree of `size` leaves."""
        services = ctx().services
        ledger, size = services.ledger, args.get("size") or services.ledger.size()
        _within(services, "size", size)
        leaf = ledger.leaf(args["position"])
        if leaf is None:
            raise NotFound(f"position {args['position']} is not in the log (yet)")
        index, leaf_hash = leaf
        if index >= size:
            raise invalid("size", "log.size-covers-position",
                          f"the tree of {size} leaves does not hold position "
                          f"{args['position']} (leaf {index + 1})")
        stored = services.notary.at_size(size)
        return {"position": args["position"], "leaf_index": index, "size": size,
                "leaf_hash": leaf_hash.hex(), "root_hash": ledger.root(size).hex(),
                "audit_path": [h.hex() for h in ledger.inclusion(index, size)],
                "checkpoint": stored.note if stored else None}


@blp.route("/proofs/consistency")
class ConsistencyProof(MethodView):
    @allow("auditor")
    @blp.arguments(ConsistencyArgs(), **QUERY)
    @blp.response(200, ConsistencyProofSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """The proof that the tree of `first` leaves is a prefix of the tree of `second`."""
        services = ctx().services
        first, second = args["first"], args["second"]
        if first > second:
            raise invalid("first", "log.first-not-after-second",
                          f"first ({first}) must not exceed second ({second})")
        _within(services, "second", second)
        ledger = services.ledger
        return {"first": first, "second": second,
                "first_root_hash": ledger.root(first).hex(),
                "second_root_hash": ledger.root(second).hex(),
                "proof": [h.hex() for h in ledger.consistency(first, second)]}


def _within(services: Services, field: str, size: int | None) -> None:
    head = services.ledger.size()
    if size is not None and size > head:
        raise invalid(field, "log.size-recorded",
                      f"the log holds {head} leaves; {field} {size} is beyond it")

