"""What the Terraform states in the snapshot declare (iac.resource), indexed for lookups.

Built once per evaluation (`view.memo`). A declared resource is matched to a live one by
ARN when the state records it, else by (kind, id) in its account and region (`*` when the
state does not say, i.e. no ARN).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from auditor.model import CollectionGap, Kind, Resource, SnapshotView

MEMO_KEY = "iac.declared"


def family_revision(value: object) -> str:
    """`arn:...:task-definition/web:3` or `web:3` -> `web:3`."""
    return str(value).rsplit("/", 1)[-1]


@dataclass(frozen=True)
class DeclaredIndex:
    by_arn: Mapping[str, Resource] = field(default_factory=dict)
    # (target kind, id) -> declared resources with that id (any account/region, or "*")
    by_id: Mapping[tuple[str, str], tuple[Resource, ...]] = field(default_factory=dict)
    # (account, region, family) of declared task definitions; account/region may be "*"
    families: frozenset[tuple[str, str, str]] = frozenset()
    gaps: tuple[CollectionGap, ...] = ()  # states that could not be read

    def lookup(self, resource: Resource) -> Resource | None:
        found = self.by_arn.get(resource.arn)
        if found is not None:
            return found
        return self.lookup_id(resource.kind, resource.account, resource.region, resource.id)

    def lookup_id(self, kind: Kind, account: str, region: str, rid: str) -> Resource | None:
        for declared in self.by_id.get((kind.value, rid), ()):
            if declared.account in (account, "*") and declared.region in (region, "*"):
                return declared
        return None

    def family_declared(self, account: str, region: str, family: str) -> bool:
        return any((a, r, family) in self.families for a in (account, "*") for r in (region, "*"))


def build_index(view: SnapshotView) -> DeclaredIndex:
    by_arn: dict[str, Resource] = {}
    by_id: dict[tuple[str, str], list[Resource]] = {}
    families: set[tuple[str, str, str]] = set()
    for declared in view.of_kind(Kind.IAC_RESOURCE):
        attrs = declared.attributes
        target = str(attrs.get("TargetKind"))
        arn = attrs.get("Arn")
        if isinstance(arn, str):
            by_arn.setdefault(arn, declared)
        by_id.setdefault((target, str(attrs.get("Id"))), []).append(declared)
        if target == Kind.ECS_TASK_DEFINITION.value and attrs.get("Name"):
            families.add((declared.account, declared.region, str(attrs["Name"])))
    gaps = tuple(
        g for g in view.snapshot.gaps if Kind.IAC_RESOURCE in g.kinds and g.resource_arn is None
    )
    return DeclaredIndex(by_arn, {k: tuple(v) for k, v in by_id.items()}, frozenset(families), gaps)


def declared_index(view: SnapshotView) -> DeclaredIndex:
    return view.memo(MEMO_KEY, build_index)
