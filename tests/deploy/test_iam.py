"""deploy/iam/ is least privilege for real: every AWS action the code calls is granted, by one
policy for one purpose, and the audit policy cannot change anything."""

from __future__ import annotations

from auditor.collect.runner import collector_specs
from tests.deploy.iam import (
    SERVICES,
    allowed_actions,
    called_methods,
    client_service_literals,
    collect_modules,
    methods_called_in,
    operations_by_method,
    rendered_policies,
)

# Method names that match an AWS operation but are not AWS calls in our code.
NOT_AWS_CALLS = {
    "verify": "cryptography's public-key verify; signatures are checked offline, never kms:Verify",
}

# Calls that need no permission at all.
NO_PERMISSION = {"sts:GetCallerIdentity"}

# Permissions a call needs beyond its own action (not visible from the method name).
IMPLIED = {
    "s3:PutObjectRetention": "put_object with ObjectLockMode/RetainUntilDate (report/storage.py)",
    "ecs:ListTagsForResource": "ecs describe_* with include=['TAGS'] (collect/ecs.py)",
}

# Actions two policies grant on purpose, each on its own resources.
SHARED = {
    "s3:GetObject": {"report-writer", "iac-state-reader"},  # reports bucket / state bucket
    "s3:ListBucket": {"report-writer", "iac-state-reader"},
}

# sts:AssumeRole changes nothing in the audited account; it is how the audit role is entered.
READ_PREFIXES = ("Describe", "List", "Get", "BatchGet", "Lookup")
READ_EXCEPTIONS = {"sts:AssumeRole"}


def granted_by() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for name, policy in rendered_policies().items():
        for action in allowed_actions(policy):
            out.setdefault(action, set()).add(name)
    return out


def test_the_five_policies_exist() -> None:
    """One policy per job: audit (read-only), report writing, events, IaC state, remediation."""
    expected = [
        "audit-readonly",
        "event-reader",
        "iac-state-reader",
        "remediation",
        "report-writer",
    ]
    assert expected == sorted(rendered_policies())


def test_every_client_service_is_known() -> None:
    """A client built for a service this test does not scan would escape the checks below."""
    assert set() == client_service_literals() - set(SERVICES)


def test_every_called_action_is_granted_by_exactly_one_policy() -> None:
    """Each AWS call the product makes has its permission, in one policy (or two for SHARED)."""
    grants = granted_by()
    ops = operations_by_method()
    problems = []
    for method, places in sorted(called_methods().items()):
        if method in NOT_AWS_CALLS:
            continue
        candidates = ops[method]
        granted = [a for a in candidates if a in grants]
        if not granted and not candidates <= NO_PERMISSION:
            problems.append(
                f"{method} ({', '.join(sorted(candidates))}) at {places[0]}: not granted"
            )
            continue
        for action in granted:
            owners = grants[action]
            if len(owners) > 1 and owners != SHARED.get(action):
                problems.append(f"{action}: granted by {sorted(owners)}")
    assert [] == problems


def test_no_policy_grants_an_action_the_code_never_calls() -> None:
    """A stray permission is a finding waiting to happen: every granted action is used."""
    used = {
        a for m in called_methods() if m not in NOT_AWS_CALLS for a in operations_by_method()[m]
    }
    used |= set(IMPLIED)
    stray = {
        action
        for policy in rendered_policies().values()
        for action in allowed_actions(policy)
        if action not in used
    }
    assert set() == stray


def test_audit_policy_is_read_only() -> None:
    """The policy attached in every audited account has no mutating action and no wildcard."""
    actions = allowed_actions(rendered_policies()["audit-readonly"])
    mutating = {
        a
        for a in actions
        if a not in READ_EXCEPTIONS and not a.split(":")[1].startswith(READ_PREFIXES)
    }
    assert set() == mutating
    assert [] == [a for a in actions if "*" in a]


def test_scoped_policies_name_their_one_resource() -> None:
    """Report writing, events and IaC reading are scoped to the bucket, key or queue they use."""
    for name in ("report-writer", "event-reader", "iac-state-reader"):
        for statement in rendered_policies()[name]["Statement"]:
            resources = statement["Resource"]
            resources = [resources] if isinstance(resources, str) else resources
            if statement["Action"] == ["cloudtrail:LookupEvents"]:
                assert ["*"] == resources  # LookupEvents has no resource-level permissions
                continue
            assert all("*" not in r.rstrip("*") for r in resources), (name, resources)


def test_each_collector_declares_the_read_actions_it_calls_and_the_audit_policy_grants_them() -> (
    None
):
    """A collector's `iam_actions` are exactly the actions its modules call (plus the ones a
    call implies), and the audit policy grants every one of them."""
    granted = allowed_actions(rendered_policies()["audit-readonly"])
    ops = operations_by_method()
    problems = []
    for service, spec in collector_specs().items():
        files = collect_modules(spec.collect.__module__)
        prefixes = {service.value, *(a.split(":")[0] for a in spec.iam_actions)}
        called = {
            action
            for method in methods_called_in(files)
            for action in ops[method]
            if action.split(":")[0] in prefixes
        }
        implied = {a for a in IMPLIED if a.split(":")[0] in prefixes}
        if undeclared := called - spec.iam_actions:
            problems.append(f"{service}: calls {sorted(undeclared)} but does not declare them")
        if unused := spec.iam_actions - called - implied:
            problems.append(f"{service}: declares {sorted(unused)} but never calls them")
        if missing := spec.iam_actions - granted:
            problems.append(f"{service}: audit-readonly does not grant {sorted(missing)}")
    assert [] == problems


def test_each_collector_declares_the_kinds_of_its_service() -> None:
    """The kinds a collector says it produces are the model's kinds of its service: a gap
    over the unit hides exactly those."""
    from auditor.collect.units import kinds_of

    assert {s: set(kinds_of(s)) for s in collector_specs()} == {
        s: set(spec.kinds) for s, spec in collector_specs().items()
    }
