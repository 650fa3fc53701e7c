"""Pass, fail and unknown cases for the drift and stale-member rules (with history)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from auditor.model import (
    Baseline,
    CollectionGap,
    History,
    Kind,
    Resource,
    Scope,
    Service,
    Snapshot,
)
from tests.checks.cases import Case
from tests.checks.resources import (
    ACCOUNT,
    REGION,
    ago,
    asg,
    change,
    ecs_service,
    ecs_task,
    gap,
    image,
    instance,
    launch_template,
    lt_version,
    nodegroup,
    task_definition,
)
from tests.conftest import NOW

BASELINE_SNAPSHOT = "snap-baseline"


def baselines(*resources: Resource, previous: Snapshot | None = None) -> History:
    return History(
        baselines={
            r.arn: Baseline(r, NOW - timedelta(days=10), BASELINE_SNAPSHOT) for r in resources
        },
        previous=previous,
    )


def previous(*resources: Resource, gaps: tuple[CollectionGap, ...] = ()) -> Snapshot:
    at = NOW - timedelta(minutes=15)
    scope = Scope((ACCOUNT,), (REGION,), tuple(Service))
    return Snapshot("snap-previous", at, at, scope, resources, gaps, {})


def case(
    rule: str,
    name: str,
    expect: str,
    subject: Resource,
    *related: Resource,
    history: History | None = None,
    gaps: tuple[CollectionGap, ...] = (),
) -> Case:
    return Case(rule, name, expect, subject, related, gaps, history=history)


BASE_INSTANCE = instance()
NEW_TD_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:8"
DEFAULT_ASG = asg(
    LaunchTemplate={
        "LaunchTemplateId": "lt-0web",
        "LaunchTemplateName": "web",
        "Version": "$Default",
    },
    ResolvedLaunchTemplateVersion="4",
)
LT_V3 = launch_template(lt_version("3"))
LT_V4_DEFAULT = replace(
    launch_template(lt_version("3"), lt_version("4", ImageId="ami-0next"), in_use=("3", "4")),
    attributes={
        **launch_template(
            lt_version("3"), lt_version("4", ImageId="ami-0next"), in_use=("3", "4")
        ).attributes,
        "DefaultVersionNumber": 4,
        "LatestVersionNumber": 4,
    },
)
NODE = instance(
    AutoScalingGroupName="eks-workers",
    EksNodegroupName="workers",
    EksClusterName="prod",
    LaunchTemplate={"LaunchTemplateId": "lt-0web", "Version": "3"},
)
LT_NODEGROUP = nodegroup(launchTemplate={"id": "lt-0web", "name": "web", "version": "3"})
EKS_AMI_NAME = "amazon-eks-node-al2023-x86_64-standard-1.31-v{}"
OTHER_TASK = ecs_task(
    taskDefinitionArn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:6", startedAt=ago(3)
)

DRIFT_CASES: tuple[Case, ...] = (
    # drift.ec2_modified_in_place
    case("drift.ec2_modified_in_place", "first seen", "pass", instance(InstanceType="m5.large")),
    case(
        "drift.ec2_modified_in_place",
        "volatile fields moved",
        "pass",
        instance(State={"Name": "stopped"}, PrivateIpAddress="10.0.0.9", PublicIpAddress="1.2.3.4"),
        history=baselines(BASE_INSTANCE),
    ),
    case(
        "drift.ec2_modified_in_place",
        "security groups reordered",
        "pass",
        instance(SecurityGroups=[{"GroupId": "sg-b"}, {"GroupId": "sg-a"}]),
        history=baselines(instance(SecurityGroups=[{"GroupId": "sg-a"}, {"GroupId": "sg-b"}])),
    ),
    case(
        "drift.ec2_modified_in_place",
        "resized",
        "fail",
        instance(InstanceType="m5.large"),
        history=baselines(BASE_INSTANCE),
    ),
    case(
        "drift.ec2_modified_in_place",
        "user data changed",
        "fail",
        instance(UserData={"present": True, "sha256": "ef" * 32, "size": 9, "secrets": []}),
        history=baselines(BASE_INSTANCE),
    ),
    case(
        "drift.ec2_modified_in_place",
        "user data unreadable",
        "unknown",
        replace(instance(), unavailable=("UserData",)),
        history=baselines(BASE_INSTANCE),
    ),
    # drift.lt_default_changed
    case("drift.lt_default_changed", "no previous cycle", "pass", LT_V4_DEFAULT, DEFAULT_ASG),
    case(
        "drift.lt_default_changed",
        "moved but group pins a number",
        "pass",
        LT_V4_DEFAULT,
        asg(ResolvedLaunchTemplateVersion="3"),
        history=baselines(previous=previous(LT_V3)),
    ),
    case(
        "drift.lt_default_changed",
        "default moved under the group",
        "fail",
        LT_V4_DEFAULT,
        DEFAULT_ASG,
        history=baselines(previous=previous(LT_V3)),
    ),
    case(
        "drift.lt_default_changed",
        "previous cycle blind",
        "unknown",
        LT_V4_DEFAULT,
        DEFAULT_ASG,
        history=baselines(previous=previous(gaps=(gap(Kind.EC2_LAUNCH_TEMPLATE),))),
    ),
    # drift.ecs_service_modified
    case(
        "drift.ecs_service_modified",
        "as deployed",
        "pass",
        ecs_service(),
        ecs_task(),
        history=baselines(ecs_service()),
    ),
    case(
        "drift.ecs_service_modified",
        "stray task during a rollout",
        "pass",
        ecs_service(deployments=[{"status": "PRIMARY", "rolloutState": "IN_PROGRESS"}]),
        OTHER_TASK,
    ),
    case(
        "drift.ecs_service_modified",
        "revision swapped by hand",
        "fail",
        ecs_service(taskDefinition=NEW_TD_ARN),
        history=baselines(ecs_service()),
    ),
    case(
        "drift.ecs_service_modified",
        "task stuck on another revision",
        "fail",
        ecs_service(),
        OTHER_TASK,
    ),
    case(
        "drift.ecs_service_modified",
        "task runs another digest than pinned",
        "fail",
        ecs_service(),
        task_definition(),
        ecs_task(containers=[{"name": "web", "image": "x", "imageDigest": "sha256:" + "b" * 64}]),
    ),
    case(
        "drift.ecs_service_modified",
        "tasks not listed",
        "unknown",
        ecs_service(),
        gaps=(gap(Kind.ECS_TASK),),
    ),
    # drift.eks_nodegroup_modified
    case(
        "drift.eks_nodegroup_modified",
        "version upgrade",
        "pass",
        nodegroup(version="1.32", releaseVersion="1.32.0-20261115"),
        history=baselines(nodegroup()),
    ),
    case(
        "drift.eks_nodegroup_modified",
        "ami type swapped",
        "fail",
        nodegroup(amiType="BOTTLEROCKET_x86_64"),
        history=baselines(nodegroup()),
    ),
    case(
        "drift.eks_nodegroup_modified",
        "release unreadable",
        "unknown",
        replace(nodegroup(), unavailable=("releaseVersion",)),
        history=baselines(nodegroup()),
    ),
    # asg.instance_stale
    case("asg.instance_stale", "matches its template", "pass", instance(), asg(), LT_V3),
    case(
        "asg.instance_stale",
        "template moved to another AMI",
        "fail",
        instance(),
        DEFAULT_ASG,
        LT_V4_DEFAULT,
    ),
    case(
        "asg.instance_stale",
        "resized in place",
        "fail",
        instance(InstanceType="m5.large"),
        asg(),
        LT_V3,
    ),
    case(
        "asg.instance_stale",
        "templates not listed",
        "unknown",
        instance(),
        asg(),
        gaps=(gap(Kind.EC2_LAUNCH_TEMPLATE),),
    ),
    # eks.node_stale
    case("eks.node_stale", "current template", "pass", NODE, LT_NODEGROUP, LT_V3),
    case(
        "eks.node_stale",
        "older template version",
        "fail",
        NODE,
        nodegroup(launchTemplate={"id": "lt-0web", "name": "web", "version": "4"}),
        LT_V4_DEFAULT,
    ),
    case(
        "eks.node_stale",
        "older EKS AMI release",
        "fail",
        change(NODE, drop=("LaunchTemplate",)),
        nodegroup(),
        image("ami-0new", Name=EKS_AMI_NAME.format("20261001")),
    ),
    case(
        "eks.node_stale",
        "current EKS AMI release",
        "pass",
        change(NODE, drop=("LaunchTemplate",)),
        nodegroup(),
        image("ami-0new", Name=EKS_AMI_NAME.format("20261101")),
    ),
    case(
        "eks.node_stale",
        "AMI not visible",
        "unknown",
        change(NODE, drop=("LaunchTemplate",)),
        nodegroup(),
    ),
)
