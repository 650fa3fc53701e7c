"""Parse only the members a collector keeps from a large query-protocol response.

botocore turns every element of a response into Python values: about a hundred per
instance for DescribeInstances (network interfaces, placement, ...), most of a warm
cycle's CPU at 5,000 instances. Inside `projected(client, operation, members)`, that
operation's successful responses are parsed by lxml (in C) and only the named members are
converted, walking botocore's own service model (XML names, types) with botocore's
conversions: a kept member has the value botocore would give it, the others are absent.

Fail-safe: an error response, a body lxml refuses, or a shape the walk does not handle is
left to botocore's parser, which then parses the whole response as usual.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from xml.sax.saxutils import escape

import structlog
from botocore.model import Shape

from auditor.aws import parse_timestamp

log = structlog.get_logger(__name__)

# member name -> the members kept of it (None: a scalar, or a list of scalars)
Members = Mapping[str, "Members | None"]

# (operation name, members) while a projected call is being made in this context
_ACTIVE: contextvars.ContextVar[tuple[str, Members] | None] = contextvars.ContextVar(
    "auditor_xml_projection", default=None
)


class Unsupported(ValueError):
    """The walk met something it does not convert: botocore parses the response instead."""


@contextmanager
def projected(client: Any, operation: str, members: Members) -> Iterator[None]:
    """Calls of `operation` made through `client` in this block return only `members`
    (plus ResponseMetadata). Calls made in other threads or outside the block are parsed in
    full by botocore."""
    service = client.meta.service_model.service_id.hyphenize()
    event = f"before-parse.{service}.{operation}"
    # once per client: register() with the same unique_id is a no-op
    client.meta.events.register(event, _before_parse, unique_id=f"auditor-projection:{event}")
    token = _ACTIVE.set((operation, members))
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def _before_parse(
    operation_model: Any,
    response_dict: dict[str, Any],
    customized_response_dict: dict[str, Any],
    **_: Any,
) -> None:
    active = _ACTIVE.get()
    if active is None or active[0] != operation_model.name:
        return
    body = response_dict.get("body")
    if response_dict.get("status_code") != 200 or not isinstance(body, bytes):
        return
    try:
        parsed, request_id = parse(body, operation_model.output_shape, active[1])
    except Exception as exc:
        log.debug("xml_projection_skipped", operation=active[0], error=type(exc).__name__)
        return
    customized_response_dict.update(parsed)
    response_dict["body"] = _rest(operation_model.output_shape, request_id)


def parse(body: bytes, shape: Shape, members: Members) -> tuple[dict[str, Any], str | None]:
    """(the kept members of a query-protocol response (EC2's or AWS Query's), its request id)."""
    from lxml import etree  # only collections that project pay for the import

    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, remove_comments=True, remove_pis=True
    )
    root = etree.fromstring(body, parser=parser)
    tag = root.tag
    namespace = tag[: tag.index("}") + 1] if isinstance(tag, str) and tag[:1] == "{" else ""
    start = root
    wrapper = shape.serialization.get("resultWrapper")
    if wrapper:  # AWS Query: <XResponse><XResult>...</XResult><ResponseMetadata>
        start = root.find(namespace + wrapper)
        if start is None:
            raise Unsupported(f"no {wrapper} element")
        request_id = root.findtext(f"{namespace}ResponseMetadata/{namespace}RequestId")
    else:  # EC2: <XResponse><requestId/>...
        request_id = root.findtext(f"{namespace}requestId")
    return _Walk(namespace).structure(shape, start, members), request_id


def _rest(shape: Shape, request_id: str | None) -> bytes:
    """What is left for botocore to parse: an empty result that carries the request id."""
    rid = "" if request_id is None else escape(request_id)
    wrapper = shape.serialization.get("resultWrapper")
    if wrapper:
        meta = f"<ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata>"
        return f"<Response><{wrapper}/>{meta if rid else ''}</Response>".encode()
    return f"<Response>{f'<requestId>{rid}</requestId>' if rid else ''}</Response>".encode()


class _Walk:
    def __init__(self, namespace: str) -> None:
        self._ns = namespace
        # (structure shape, members) -> [(member name, XML tag, member shape, its members)]
        self._plans: dict[tuple[str, int], list[tuple[str, str, Shape, Members | None]]] = {}

    def _plan(self, shape: Shape, members: Members) -> list[tuple[str, str, Shape, Members | None]]:
        key = (shape.name, id(members))
        plan = self._plans.get(key)
        if plan is None:
            if shape.type_name != "structure":
                raise Unsupported(f"{shape.name} is a {shape.type_name}, not a structure")
            plan = []
            for name, kept in members.items():
                member = shape.members[name]  # type: ignore[attr-defined]
                serialization = member.serialization
                if (
                    serialization.get("location")
                    or serialization.get("xmlAttribute")
                    or serialization.get("flattened")
                ):
                    raise Unsupported(f"{shape.name}.{name}: {serialization}")
                plan.append((name, self._ns + serialization.get("name", name), member, kept))
            self._plans[key] = plan
        return plan

    def structure(self, shape: Shape, node: Any, members: Members) -> dict[str, Any]:
        plan = self._plan(shape, members)
        children = {child.tag: child for child in node}
        if len(children) != len(node):
            raise Unsupported(f"{shape.name}: a repeated element")  # botocore makes a list
        out: dict[str, Any] = {}
        for name, tag, member, kept in plan:
            child = children.get(tag)
            if child is not None:
                out[name] = self.value(member, child, kept)
        return out

    def value(self, shape: Shape, node: Any, members: Members | None) -> Any:
        kind = shape.type_name
        if kind == "structure":
            if members is None:
                raise Unsupported(f"{shape.name}: name the members to keep")
            return self.structure(shape, node, members)
        if kind == "list":
            # as botocore: every child element is an item, whatever its name
            return [self.value(shape.member, item, members) for item in node]  # type: ignore[attr-defined]
        if members is not None:
            raise Unsupported(f"{shape.name} is a {kind}: it has no members")
        text = node.text or ""  # as botocore: an empty element is ""
        if kind == "string":
            return text
        if kind == "boolean":
            return text == "true"
        if kind in ("integer", "long"):
            return int(text)
        if kind == "timestamp":
            return parse_timestamp(text)
        raise Unsupported(f"{shape.name}: {kind}")
