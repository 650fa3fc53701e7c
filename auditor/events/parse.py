"""EventBridge event JSON -> the resources it names, who did it, and shells it opened. Pure.

Two families arrive on the queue (docs/events.md):
- "AWS API Call via CloudTrail": `detail` is a CloudTrail record (eventID, eventName,
  userIdentity, requestParameters, responseElements ...);
- service events: "EC2 Instance State-change Notification", "ECS Task State Change",
  "EC2 Instance Launch Successful" / "EC2 Instance Terminate Successful" (Auto Scaling).

A target is named the way the collectors name resources (kind, account, region, id), so a
micro-cycle can re-describe it and find its previous version. Nothing here keeps a token:
StartSession's `tokenValue` and ExecuteCommand's session token are never read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.model import AccessRecord, Attribution, Kind, parse_iso

CLOUDTRAIL = "AWS API Call via CloudTrail"
INSTANCE_STATE = "EC2 Instance State-change Notification"
TASK_STATE = "ECS Task State Change"
ASG_EVENTS = frozenset(
    {
        "EC2 Instance Launch Successful",
        "EC2 Instance Terminate Successful",
        "EC2 Instance Launch Unsuccessful",
        "EC2 Instance Terminate Unsuccessful",
    }
)


class PoisonEvent(ValueError):
    """A message that can never be handled (not JSON, not an event, no id): dead-letter it."""


@dataclass(frozen=True, slots=True)
class EventTarget:
    """A resource an event names, identified as the collectors identify it."""

    kind: Kind
    account: str
    region: str
    id: str  # instance id, group id, template id, ASG name, "cluster/service", ...
    arn: str | None = None  # when the event carries or implies it exactly

    @property
    def key(self) -> tuple[Kind, str, str, str]:
        return (self.kind, self.account, self.region, self.id)


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    """What one queue message means for the auditor."""

    event_id: str
    detail_type: str
    event_name: str
    account: str
    region: str
    targets: tuple[EventTarget, ...]
    attribution: Attribution | None  # None for service events (no caller)
    access: tuple[AccessRecord, ...] = ()
    failed_call: bool = False  # a CloudTrail call that AWS refused (errorCode): nothing changed


def parse_message(body: str) -> ParsedEvent:
    """One SQS message body (an EventBridge event) -> ParsedEvent; PoisonEvent if unusable."""
    try:
        event = json.loads(body)
    except ValueError:
        raise PoisonEvent("message body is not JSON") from None
    if not isinstance(event, Mapping):
        raise PoisonEvent("message body is not a JSON object")
    return parse_event(event)


def parse_event(event: Mapping[str, Any]) -> ParsedEvent:
    detail = event.get("detail")
    detail_type = event.get("detail-type")
    if not isinstance(detail, Mapping) or not isinstance(detail_type, str):
        raise PoisonEvent("not an EventBridge event (no detail-type/detail)")
    account = str(event.get("account") or detail.get("recipientAccountId") or "")
    region = str(event.get("region") or detail.get("awsRegion") or "")
    if not account or not region:
        raise PoisonEvent("event names no account or region")
    if detail_type == CLOUDTRAIL:
        return _cloudtrail(event, detail, account, region)
    event_id = str(event.get("id") or "")
    if not event_id:
        raise PoisonEvent("event has no id")
    targets = tuple(_service_targets(detail_type, detail, account, region))
    return ParsedEvent(event_id, detail_type, detail_type, account, region, targets, None)


# -- CloudTrail -----------------------------------------------------------------------------


def attribution_of(record: Mapping[str, Any]) -> Attribution:
    """Who made the call, from a CloudTrail record (as delivered or as LookupEvents returns)."""
    identity = _map(record.get("userIdentity"))
    context = _map(identity.get("sessionContext"))
    issuer = _map(context.get("sessionIssuer"))
    principal = _str(identity.get("arn"))
    issuer_arn = _str(issuer.get("arn"))
    return Attribution(
        event_id=str(record.get("eventID") or ""),
        event_name=str(record.get("eventName") or ""),
        event_source=str(record.get("eventSource") or ""),
        event_time=parse_iso(str(record.get("eventTime"))),
        principal_arn=principal,
        principal_type=_str(identity.get("type")),
        session_issuer=issuer_arn,
        sso_user=_sso_user(principal, issuer_arn, identity),
        source_ip=_str(record.get("sourceIPAddress")),
        user_agent=_str(record.get("userAgent")),
    )


def _sso_user(principal: str | None, issuer: str | None, identity: Mapping[str, Any]) -> str | None:
    """IAM Identity Center users act through an AWSReservedSSO_* role; the session name is
    the user. An Identity Center user calling directly carries `onBehalfOf`."""
    on_behalf = _map(identity.get("onBehalfOf"))
    if on_behalf.get("userId"):
        return str(on_behalf["userId"])
    if principal and issuer and "/AWSReservedSSO_" in issuer and "assumed-role/" in principal:
        return principal.rsplit("/", 1)[-1]
    return None


def _cloudtrail(
    event: Mapping[str, Any], detail: Mapping[str, Any], account: str, region: str
) -> ParsedEvent:
    event_id = str(detail.get("eventID") or event.get("id") or "")
    name = detail.get("eventName")
    if not event_id or not isinstance(name, str) or not detail.get("eventTime"):
        raise PoisonEvent("CloudTrail event without eventID, eventName or eventTime")
    try:
        who = attribution_of(detail)
    except ValueError:
        raise PoisonEvent("CloudTrail eventTime is not a date") from None
    req = _map(detail.get("requestParameters"))
    resp = _map(detail.get("responseElements"))
    failed = bool(detail.get("errorCode"))
    parser = CALLS.get(name)
    targets = () if parser is None or failed else tuple(parser(req, resp, account, region))
    access: tuple[AccessRecord, ...] = ()
    kind = ACCESS_CALLS.get(name)
    if kind is not None and not failed:
        session = _session_id(name, req, resp, detail)
        access = tuple(
            AccessRecord(kind, t.arn, session, who) for t in targets if t.arn is not None
        )
    return ParsedEvent(
        event_id, CLOUDTRAIL, name, account, region, targets, who, access, failed_call=failed
    )


def _session_id(
    name: str, req: Mapping[str, Any], resp: Mapping[str, Any], detail: Mapping[str, Any]
) -> str | None:
    if name == "StartSession":
        return _str(resp.get("sessionId"))
    if name == "ExecuteCommand":
        return _str(_map(resp.get("session")).get("sessionId"))
    return _str(resp.get("requestId")) or _str(detail.get("requestID"))


Targets = Iterator[EventTarget]
CallParser = Callable[[Mapping[str, Any], Mapping[str, Any], str, str], Targets]


def _instances(
    req: Mapping[str, Any], resp: Mapping[str, Any], account: str, region: str
) -> Targets:
    ids: set[str] = set()
    for source in (req, resp):
        for key in ("instanceId", "InstanceId", "target"):
            value = source.get(key)
            if isinstance(value, str) and value.startswith("i-"):
                ids.add(value)
        for item in _map(source.get("instancesSet")).get("items") or []:
            if isinstance(item, Mapping) and isinstance(item.get("instanceId"), str):
                ids.add(item["instanceId"])
    for instance_id in sorted(ids):
        yield EventTarget(
            Kind.EC2_INSTANCE,
            account,
            region,
            instance_id,
            f"arn:aws:ec2:{region}:{account}:instance/{instance_id}",
        )


def _security_groups(
    req: Mapping[str, Any], resp: Mapping[str, Any], account: str, region: str
) -> Targets:
    group = req.get("groupId") or req.get("GroupId")
    if isinstance(group, str) and group.startswith("sg-"):
        yield EventTarget(
            Kind.EC2_SECURITY_GROUP,
            account,
            region,
            group,
            f"arn:aws:ec2:{region}:{account}:security-group/{group}",
        )


def _launch_templates(
    req: Mapping[str, Any], resp: Mapping[str, Any], account: str, region: str
) -> Targets:
    ids: set[str] = set()
    for wrapper in req.values():  # CreateLaunchTemplateVersionRequest / ModifyLaunchTemplateRequest
        if isinstance(wrapper, Mapping) and isinstance(wrapper.get("LaunchTemplateId"), str):
            ids.add(wrapper["LaunchTemplateId"])
    for wrapper in resp.values():
        if not isinstance(wrapper, Mapping):
            continue
        for key in ("launchTemplateVersion", "launchTemplate"):
            value = _map(wrapper.get(key)).get("launchTemplateId")
            if isinstance(value, str):
                ids.add(value)
    for template_id in sorted(ids):
        yield EventTarget(
            Kind.EC2_LAUNCH_TEMPLATE,
            account,
            region,
            template_id,
            f"arn:aws:ec2:{region}:{account}:launch-template/{template_id}",
        )


def _groups(req: Mapping[str, Any], resp: Mapping[str, Any], account: str, region: str) -> Targets:
    name = req.get("autoScalingGroupName")
    if isinstance(name, str) and name:
        yield EventTarget(Kind.ASG, account, region, name)


def _cluster_name(value: Any) -> str:
    return str(value or "default").rsplit("/", 1)[-1]


def _services(
    req: Mapping[str, Any], resp: Mapping[str, Any], account: str, region: str
) -> Targets:
    service = _map(resp.get("service"))
    arn = _str(service.get("serviceArn"))
    cluster = _cluster_name(service.get("clusterArn") or req.get("cluster"))
    name = (
        _str(service.get("serviceName")) or _str(req.get("service")) or _str(req.get("serviceName"))
    )
    if name is None:
        return
    name = name.rsplit("/", 1)[-1]
    arn = arn or f"arn:aws:ecs:{region}:{account}:service/{cluster}/{name}"
    yield EventTarget(Kind.ECS_SERVICE, account, region, f"{cluster}/{name}", arn)


def _task_definitions(
    req: Mapping[str, Any], resp: Mapping[str, Any], account: str, region: str
) -> Targets:
    definition = _map(resp.get("taskDefinition"))
    arn = _str(definition.get("taskDefinitionArn"))
    if arn is None:
        return
    family_revision = arn.rsplit("/", 1)[-1]
    yield EventTarget(Kind.ECS_TASK_DEFINITION, account, region, family_revision, arn)


def _tasks(req: Mapping[str, Any], resp: Mapping[str, Any], account: str, region: str) -> Targets:
    arn = _str(resp.get("taskArn"))
    cluster = _cluster_name(resp.get("clusterArn") or req.get("cluster"))
    task = arn or _str(req.get("task"))
    if task is None:
        return
    task_id = task.rsplit("/", 1)[-1]
    arn = arn or (
        task
        if task.startswith("arn:")
        else f"arn:aws:ecs:{region}:{account}:task/{cluster}/{task_id}"
    )
    yield EventTarget(Kind.ECS_TASK, account, region, f"{cluster}/{task_id}", arn)


def _nodegroups(
    req: Mapping[str, Any], resp: Mapping[str, Any], account: str, region: str
) -> Targets:
    cluster = _str(req.get("name")) or _str(req.get("clusterName"))
    nodegroup = _str(req.get("nodegroupName"))
    if cluster and nodegroup:
        yield EventTarget(Kind.EKS_NODEGROUP, account, region, f"{cluster}/{nodegroup}")


def _repositories(
    req: Mapping[str, Any], resp: Mapping[str, Any], account: str, region: str
) -> Targets:
    name = _str(req.get("repositoryName"))
    if name:
        yield EventTarget(
            Kind.ECR_REPOSITORY,
            account,
            region,
            name,
            f"arn:aws:ecr:{region}:{account}:repository/{name}",
        )


# eventName -> the targets it names. The calls that change what the auditor judges.
CALLS: Mapping[str, CallParser] = {
    **dict.fromkeys(
        (
            "ModifyInstanceAttribute",
            "ModifyInstanceMetadataOptions",
            "RunInstances",
            "StartInstances",
            "StopInstances",
            "TerminateInstances",
            "AssociateIamInstanceProfile",
            "ReplaceIamInstanceProfileAssociation",
            "AttachVolume",
            "DetachVolume",
            # shells: the target is an instance
            "StartSession",
            "SendSSHPublicKey",
            "SendSerialConsoleSSHPublicKey",
        ),
        _instances,
    ),
    **dict.fromkeys(
        (
            "AuthorizeSecurityGroupIngress",
            "AuthorizeSecurityGroupEgress",
            "RevokeSecurityGroupIngress",
            "RevokeSecurityGroupEgress",
            "ModifySecurityGroupRules",
            "UpdateSecurityGroupRuleDescriptionsIngress",
        ),
        _security_groups,
    ),
    **dict.fromkeys(
        ("CreateLaunchTemplateVersion", "ModifyLaunchTemplate", "DeleteLaunchTemplateVersions"),
        _launch_templates,
    ),
    **dict.fromkeys(
        (
            "CreateAutoScalingGroup",
            "UpdateAutoScalingGroup",
            "DeleteAutoScalingGroup",
            "StartInstanceRefresh",
            "SetDesiredCapacity",
            "AttachInstances",
            "DetachInstances",
        ),
        _groups,
    ),
    **dict.fromkeys(("CreateService", "UpdateService", "DeleteService"), _services),
    **dict.fromkeys(("RegisterTaskDefinition", "DeregisterTaskDefinition"), _task_definitions),
    **dict.fromkeys(("ExecuteCommand", "StopTask"), _tasks),
    **dict.fromkeys(
        ("UpdateNodegroupConfig", "UpdateNodegroupVersion", "CreateNodegroup", "DeleteNodegroup"),
        _nodegroups,
    ),
    **dict.fromkeys(
        ("PutImage", "BatchDeleteImage", "PutImageTagMutability", "SetRepositoryPolicy"),
        _repositories,
    ),
}

# eventName -> the access.* rule family it feeds
ACCESS_CALLS: Mapping[str, str] = {
    "StartSession": "ssm_session",
    "SendSSHPublicKey": "instance_connect",
    "SendSerialConsoleSSHPublicKey": "instance_connect",
    "ExecuteCommand": "ecs_exec",
}


# -- service events -------------------------------------------------------------------------


def _service_targets(
    detail_type: str, detail: Mapping[str, Any], account: str, region: str
) -> Targets:
    if detail_type == INSTANCE_STATE:
        yield from _instances({"instanceId": detail.get("instance-id")}, {}, account, region)
    elif detail_type == TASK_STATE:
        arn = _str(detail.get("taskArn"))
        if arn:
            yield from _tasks(
                {}, {"taskArn": arn, "clusterArn": detail.get("clusterArn")}, account, region
            )
        group = _str(detail.get("group")) or ""
        if group.startswith("service:"):
            cluster = _cluster_name(detail.get("clusterArn"))
            yield from _services(
                {"service": group.removeprefix("service:"), "cluster": cluster}, {}, account, region
            )
    elif detail_type in ASG_EVENTS:
        yield from _groups(
            {"autoScalingGroupName": detail.get("AutoScalingGroupName")}, {}, account, region
        )
        yield from _instances({"instanceId": detail.get("EC2InstanceId")}, {}, account, region)


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
