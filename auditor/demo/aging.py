"""The only code that reaches into moto's in-process backends.

moto stamps every resource with the wall clock and ignores a few request fields, so a
freshly seeded fleet would look brand new and miss some violations. This module rewrites
those fields on the moto model objects directly; moto's serializer then reports them
through the public API exactly as AWS would. It works only because the demo server is a
ThreadedMotoServer running in this process.

Each function names the moto attribute it sets; `tests/demo/test_aging.py` checks each
one through the matching describe_* call. Nothing outside `auditor.demo` may import this.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any


def _naive_utc(when: datetime) -> datetime:
    """moto keeps naive UTC datetimes (its own `utcnow()`); so do we, to serialize alike."""
    if when.tzinfo is None:
        raise ValueError("naive datetime: pass tz-aware UTC datetimes")
    return when.astimezone(UTC).replace(tzinfo=None)


def _ec2(account: str, region: str) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account][region]


def _ecs(account: str, region: str) -> Any:
    from moto.ecs.models import ecs_backends

    return ecs_backends[account][region]


def _eks(account: str, region: str) -> Any:
    from moto.eks.models import eks_backends

    return eks_backends[account][region]


def _ecr(account: str, region: str) -> Any:
    from moto.ecr.models import ecr_backends

    return ecr_backends[account][region]


def _autoscaling(account: str, region: str) -> Any:
    from moto.autoscaling.models import autoscaling_backends

    return autoscaling_backends[account][region]


# --- EC2 -------------------------------------------------------------------------------


def drop_public_images(account: str, region: str) -> int:
    """Delete moto's ~1,300 built-in public AMIs from one backend (`EC2Backend.amis`).

    moto scans all of them with a filter for every instance it launches, which makes
    seeding thousands of instances slow; the demo fleet only runs its own AMIs."""
    images = _ec2(account, region).amis
    public = [image_id for image_id, image in images.items() if image.owner_id != account]
    for image_id in public:
        del images[image_id]
    return len(public)


def _instances(account: str, region: str, ids: Iterable[str]) -> list[Any]:
    """The moto Instance objects for `ids`, in one pass (`get_instance` is a linear scan)."""
    wanted = set(ids)
    found = [
        instance
        for reservation in _ec2(account, region).reservations.values()
        for instance in reservation.instances
        if instance.id in wanted
    ]
    if len(found) != len(wanted):
        missing = wanted - {instance.id for instance in found}
        raise KeyError(f"instances not found: {sorted(missing)[:5]}")
    return found


def set_instance_launch_times(account: str, region: str, launched: Mapping[str, datetime]) -> None:
    """`Instance.launch_time` (DescribeInstances LaunchTime) and the root volume's
    `BlockDeviceType.attach_time` (BlockDeviceMappings[].Ebs.AttachTime)."""
    for instance in _instances(account, region, launched):
        when = launched[instance.id]
        instance.launch_time = _naive_utc(when)
        for device in instance.block_device_mapping.values():
            device.attach_time = _naive_utc(when)


def set_instance_stopped_since(account: str, region: str, instance_id: str, when: datetime) -> None:
    """`Instance._reason` (StateTransitionReason), in AWS's own wording for a user stop:
    `User initiated (2026-01-02 03:04:05 GMT)`. The instance must already be stopped."""
    instance = _ec2(account, region).get_instance(instance_id)
    stamp = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    instance._reason = f"User initiated ({stamp} GMT)"


def set_instance_metadata_options(
    account: str, region: str, instance_ids: Iterable[str], options: Mapping[str, Any]
) -> None:
    """`Instance.metadata_options` (MetadataOptions). moto does not apply a launch
    template's MetadataOptions to the instances launched from it (AWS does)."""
    from moto.ec2.models.instances import MetadataOptions

    for instance in _instances(account, region, instance_ids):
        instance.metadata_options = MetadataOptions(dict(options))


def set_image_dates(
    account: str,
    region: str,
    image_id: str,
    *,
    created: datetime,
    deprecated: datetime | None = None,
) -> None:
    """`Ami.creation_date` (DescribeImages CreationDate) and `Ami.deprecation_time`
    (DeprecationTime, which moto has no API to set: it lacks EnableImageDeprecation)."""
    image = _ec2(account, region).amis[image_id]
    image.creation_date = _naive_utc(created)
    if deprecated is not None:
        image.deprecation_time = deprecated.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def repair_launch_template_user_data(account: str, region: str, template_id: str) -> None:
    """`LaunchTemplateVersion.data["UserData"]`: moto's CreateLaunchTemplateVersion stores
    the base64 text as a plain str (CreateLaunchTemplate parses it), and launching from such
    a version then fails inside moto. Parse it the way CreateLaunchTemplate does."""
    from moto.ec2.utils import parse_user_data

    template = _ec2(account, region).get_launch_template(template_id)
    for version in template.versions:
        user_data = version.data.get("UserData")
        if isinstance(user_data, str):
            version.data["UserData"] = parse_user_data(user_data)


# --- Auto Scaling ----------------------------------------------------------------------


def set_asg_created_time(account: str, region: str, name: str, when: datetime) -> None:
    """`FakeAutoScalingGroup.created_time` (DescribeAutoScalingGroups CreatedTime)."""
    _autoscaling(account, region).autoscaling_groups[name].created_time = _naive_utc(when)


def set_asg_max_instance_lifetime(account: str, region: str, name: str, seconds: int) -> None:
    """`FakeAutoScalingGroup.max_instance_lifetime` (MaxInstanceLifetime): moto ignores
    the CreateAutoScalingGroup parameter and has no such attribute."""
    _autoscaling(account, region).autoscaling_groups[name].max_instance_lifetime = seconds


# --- ECS -------------------------------------------------------------------------------


def set_task_times(
    account: str,
    region: str,
    cluster: str,
    started: Mapping[str, datetime],
    image_digests: Mapping[str, str] | None = None,
) -> None:
    """`Task.started_at` / `Task.created_at` (DescribeTasks startedAt, createdAt; moto has
    neither) and, per task ARN, `Container.image_digest` (containers[].imageDigest, which
    ECS reports for the image it resolved at launch)."""
    tasks = _ecs(account, region).tasks[cluster]
    for task_arn, when in started.items():
        task = tasks[task_arn]
        task.created_at = _naive_utc(when)
        task.started_at = _naive_utc(when)
        task.pull_started_at = _naive_utc(when)
        digest = (image_digests or {}).get(task_arn)
        for container in task.containers:
            container.last_status = "RUNNING"
            if digest is not None:
                container.image_digest = digest


def set_service_state(
    account: str,
    region: str,
    cluster: str,
    service: str,
    *,
    created: datetime,
    exec_enabled: bool,
    running_count: int | None = None,
) -> None:
    """`Service.enable_execute_command` (DescribeServices enableExecuteCommand: moto ignores
    the CreateService parameter), `Service.created_at` and the primary deployment's
    `createdAt` / `updatedAt`, and (optionally) `running_count`."""
    svc = _ecs(account, region).services[f"{cluster}:{service}"]
    svc.enable_execute_command = exec_enabled
    svc.created_at = _naive_utc(created)
    for deployment in svc.deployments:
        deployment["createdAt"] = _naive_utc(created)
        deployment["updatedAt"] = _naive_utc(created)
        if running_count is not None:
            deployment["runningCount"] = running_count
            deployment["pendingCount"] = 0
            deployment["rolloutState"] = "COMPLETED"
    if running_count is not None:
        svc.running_count = running_count
        svc.pending_count = 0


# --- ECR -------------------------------------------------------------------------------


def set_image_pushed_at(
    account: str, region: str, repository: str, digest: str, when: datetime
) -> None:
    """`Image.image_pushed_at` (ECR DescribeImages imagePushedAt; moto keeps epoch seconds)."""
    repo = _ecr(account, region).repositories[repository]
    found = [image for image in repo.images if image.get_image_digest() == digest]
    if not found:
        raise KeyError(f"{repository}@{digest}")
    for image in found:
        image.image_pushed_at = int(when.timestamp())


def set_image_scan_findings(
    account: str,
    region: str,
    repository: str,
    digest: str,
    counts: dict[str, int],
    completed: datetime,
) -> None:
    """What DescribeImageScanFindings returns for one (scanned) image: findings with the
    given counts by severity (moto's ECR custom scan results)."""
    findings = [
        {"name": f"CVE-2026-{1000 + i}", "severity": severity}
        for severity, n in sorted(counts.items())
        for i in range(n)
    ]
    _ecr(account, region).scan_finding_results.append(
        {
            "registryId": account,
            "repositoryName": repository,
            "imageId": {"imageDigest": digest},
            "imageScanStatus": {"status": "COMPLETE"},
            "imageScanFindings": {
                "imageScanCompletedAt": completed.isoformat(),
                "findings": findings,
                "findingSeverityCounts": counts,
            },
        }
    )


# --- EKS -------------------------------------------------------------------------------


def set_eks_cluster_created(account: str, region: str, name: str, when: datetime) -> None:
    """`Cluster.created_at` (DescribeCluster createdAt)."""
    _eks(account, region).clusters[name].created_at = _naive_utc(when)


def set_nodegroup_state(
    account: str,
    region: str,
    cluster: str,
    nodegroup: str,
    *,
    created: datetime,
    remote_access: Mapping[str, Any] | None,
    remote_access_sg: str | None,
    asg_name: str | None = None,
) -> None:
    """`Nodegroup.remote_access`, `.resources`, `.created_at` / `.modified_at`.

    moto gives every node group without remoteAccess a default `{"ec2SshKey": "eksKeypair"}`
    and invents a remote-access security group and ASG name that do not exist; this sets
    them to what AWS would report for the fleet we actually seeded.
    """
    group = _eks(account, region).clusters[cluster].nodegroups[nodegroup]
    group.created_at = _naive_utc(created)
    group.modified_at = _naive_utc(created)
    group.remote_access = dict(remote_access) if remote_access is not None else None
    resources: dict[str, Any] = {
        "autoScalingGroups": [{"name": asg_name}]
        if asg_name
        else group.resources["autoScalingGroups"]
    }
    if remote_access_sg is not None:
        resources["remoteAccessSecurityGroup"] = remote_access_sg
    group.resources = resources
