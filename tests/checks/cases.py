"""Pass, fail and unknown cases for every built-in rule, built from hand-made resources."""

from __future__ import annotations

from dataclasses import dataclass, replace

from auditor.model import CollectionGap, History, Kind, Resource, Severity
from tests.checks.resources import (
    ACCOUNT,
    DIGEST,
    REGION,
    REPO_URI,
    ago,
    asg,
    change,
    container,
    ecr_image,
    ecr_repository,
    ecs_service,
    ecs_task,
    eks_cluster,
    gap,
    image,
    instance,
    launch_template,
    lt_version,
    nodegroup,
    permission,
    secret_text,
    security_group,
    task_definition,
)


@dataclass(frozen=True)
class Case:
    rule: str
    name: str
    expect: str  # "pass", "fail" or "unknown" for the subject
    subject: Resource
    related: tuple[Resource, ...] = ()
    gaps: tuple[CollectionGap, ...] = ()
    severity: Severity | None = None  # expected finding severity when it differs from the rule's
    history: History | None = None  # baselines and previous cycle, for drift rules

    @property
    def id(self) -> str:
        return f"{self.rule}-{self.expect}-{self.name}"


def _pass(rule: str, name: str, subject: Resource, *related: Resource) -> Case:
    return Case(rule, name, "pass", subject, related)


def _fail(
    rule: str, name: str, subject: Resource, *related: Resource, severity: Severity | None = None
) -> Case:
    return Case(rule, name, "fail", subject, related, severity=severity)


def _unknown(
    rule: str,
    name: str,
    subject: Resource,
    *related: Resource,
    gaps: tuple[CollectionGap, ...] = (),
) -> Case:
    return Case(rule, name, "unknown", subject, related, gaps)


NEW_AMI = image("ami-0new", 10)
OLD_AMI = image("ami-0new", 200)
WORLD_SSH = permission(cidr="0.0.0.0/0")
STOPPED = {"Name": "stopped"}
OPEN_IMDS = {"HttpTokens": "optional", "HttpEndpoint": "enabled"}

CASES: tuple[Case, ...] = (
    # ec2.ssh_keypair_attached
    _pass("ec2.ssh_keypair_attached", "no key", instance()),
    _fail("ec2.ssh_keypair_attached", "running with key", instance(KeyName="ops")),
    _fail("ec2.ssh_keypair_attached", "stopped with key", instance(KeyName="ops", State=STOPPED)),
    _pass(
        "ec2.ssh_keypair_attached", "stopping", instance(KeyName="ops", State={"Name": "stopping"})
    ),
    _unknown(
        "ec2.ssh_keypair_attached",
        "KeyName unreadable",
        replace(instance(), unavailable=("KeyName",)),
    ),
    # lt.ssh_keypair
    _pass("lt.ssh_keypair", "no key", launch_template()),
    _pass(
        "lt.ssh_keypair",
        "key only on unused version",
        launch_template(lt_version("2", KeyName="ops"), lt_version("3")),
    ),
    _fail(
        "lt.ssh_keypair", "key on version in use", launch_template(lt_version("3", KeyName="ops"))
    ),
    _unknown("lt.ssh_keypair", "version in use not collected", launch_template(in_use=("3", "4"))),
    # sg.ssh_open_world
    _pass(
        "sg.ssh_open_world", "ssh from private range", security_group(WORLD_SSH | {"IpRanges": []})
    ),
    _pass(
        "sg.ssh_open_world",
        "https from world",
        security_group(permission(low=443, high=443, cidr="0.0.0.0/0")),
    ),
    _pass("sg.ssh_open_world", "not attached", security_group(WORLD_SSH, attached=False)),
    _fail("sg.ssh_open_world", "ssh from world", security_group(WORLD_SSH)),
    _fail(
        "sg.ssh_open_world",
        "rdp from ipv6 world",
        security_group(permission(low=3389, high=3389, cidr=None, cidr6="::/0")),
    ),
    _fail(
        "sg.ssh_open_world",
        "all traffic from world",
        security_group(permission(protocol="-1", low=None, high=None, cidr="0.0.0.0/0")),
    ),
    _fail(
        "sg.ssh_open_world",
        "port range",
        security_group(permission(low=0, high=1024, cidr="0.0.0.0/0")),
    ),
    _unknown(
        "sg.ssh_open_world",
        "rules unreadable",
        replace(security_group(WORLD_SSH), unavailable=("IpPermissions",)),
    ),
    _unknown(
        "sg.ssh_open_world",
        "groups not listed",
        security_group(),
        gaps=(gap(Kind.EC2_SECURITY_GROUP),),
    ),
    # asg.launch_template_version_mutable
    _pass("asg.launch_template_version_mutable", "pinned", asg()),
    _fail(
        "asg.launch_template_version_mutable",
        "latest",
        asg(LaunchTemplate={"LaunchTemplateId": "lt-0web", "Version": "$Latest"}),
    ),
    _fail(
        "asg.launch_template_version_mutable",
        "default",
        asg(LaunchTemplate={"LaunchTemplateId": "lt-0web", "Version": "$Default"}),
    ),
    _unknown(
        "asg.launch_template_version_mutable",
        "LaunchTemplate unreadable",
        replace(asg(), unavailable=("LaunchTemplate",)),
    ),
    # asg.uses_launch_configuration
    _pass("asg.uses_launch_configuration", "launch template", asg()),
    _fail(
        "asg.uses_launch_configuration",
        "launch configuration",
        change(asg(LaunchConfigurationName="web-lc"), drop=("LaunchTemplate",)),
    ),
    _unknown(
        "asg.uses_launch_configuration",
        "unreadable",
        replace(asg(), unavailable=("LaunchConfigurationName",)),
    ),
    # ec2.userdata_secrets
    _pass("ec2.userdata_secrets", "clean", instance()),
    _pass(
        "ec2.userdata_secrets",
        "no user data",
        instance(UserData={"present": False, "sha256": None, "size": 0, "secrets": []}),
    ),
    _fail("ec2.userdata_secrets", "aws key", instance(UserData=secret_text())),
    _unknown(
        "ec2.userdata_secrets", "attribute denied", replace(instance(), unavailable=("UserData",))
    ),
    _unknown("ec2.userdata_secrets", "not collected", change(instance(), drop=("UserData",))),
    # lt.userdata_secrets
    _pass("lt.userdata_secrets", "clean", launch_template()),
    _fail(
        "lt.userdata_secrets",
        "secret in version in use",
        launch_template(lt_version("3", UserData=secret_text())),
    ),
    _unknown("lt.userdata_secrets", "version not collected", launch_template(in_use=("3", "9"))),
    # ec2.ami_age
    _pass("ec2.ami_age", "new ami", instance(), NEW_AMI),
    _fail("ec2.ami_age", "old ami", instance(), OLD_AMI),
    _unknown("ec2.ami_age", "ami not visible", instance()),
    _unknown("ec2.ami_age", "images not readable", instance(), gaps=(gap(Kind.EC2_IMAGE),)),
    # asg.ami_age
    _pass("asg.ami_age", "new ami", asg(), launch_template(), NEW_AMI),
    _fail("asg.ami_age", "old ami", asg(), launch_template(), OLD_AMI),
    _unknown("asg.ami_age", "launch template not collected", asg(), NEW_AMI),
    _unknown(
        "asg.ami_age",
        "launch configuration",
        change(asg(LaunchConfigurationName="web-lc"), drop=("LaunchTemplate",)),
    ),
    _unknown(
        "asg.ami_age",
        "image gap",
        asg(),
        launch_template(),
        gaps=(gap(Kind.EC2_IMAGE, region="*"),),
    ),
    # ec2.ami_deprecated_or_gone
    _pass("ec2.ami_deprecated_or_gone", "available", instance(), NEW_AMI),
    _pass(
        "ec2.ami_deprecated_or_gone",
        "deprecation in the future",
        instance(),
        image(DeprecationTime=ago(-30)),
    ),
    _fail("ec2.ami_deprecated_or_gone", "deprecated", instance(), image(DeprecationTime=ago(1))),
    _fail("ec2.ami_deprecated_or_gone", "gone", instance()),
    _fail("ec2.ami_deprecated_or_gone", "deregistered", instance(), image(State="deregistered")),
    _unknown(
        "ec2.ami_deprecated_or_gone", "images not readable", instance(), gaps=(gap(Kind.EC2_IMAGE),)
    ),
    # ec2.max_age
    _pass("ec2.max_age", "young", instance()),
    _pass("ec2.max_age", "old but stopped", instance(LaunchTime=ago(100), State=STOPPED)),
    _fail("ec2.max_age", "old", instance(LaunchTime=ago(31))),
    _fail(
        "ec2.max_age", "old, non-canonical date", instance(LaunchTime="2026-01-01T00:00:00.000Z")
    ),
    _unknown("ec2.max_age", "unreadable launch time", instance(LaunchTime="yesterday")),
    # asg.max_instance_lifetime
    _pass("asg.max_instance_lifetime", "14 days", asg()),
    _fail("asg.max_instance_lifetime", "unset", change(asg(), drop=("MaxInstanceLifetime",))),
    _fail("asg.max_instance_lifetime", "90 days", asg(MaxInstanceLifetime=90 * 86400)),
    _unknown(
        "asg.max_instance_lifetime",
        "groups not listed",
        asg(),
        gaps=(gap(Kind.ASG),),
    ),
    # ec2.stopped_too_long
    _pass("ec2.stopped_too_long", "running", instance()),
    _pass(
        "ec2.stopped_too_long",
        "stopped recently",
        instance(State=STOPPED, StateTransitionReason="User initiated (2026-11-20 10:00:00 GMT)"),
    ),
    _fail(
        "ec2.stopped_too_long",
        "stopped long ago",
        instance(State=STOPPED, StateTransitionReason="User initiated (2026-01-20 10:00:00 GMT)"),
    ),
    _fail(
        "ec2.stopped_too_long",
        "stopped, unknown date",
        instance(State=STOPPED, StateTransitionReason=""),
    ),
    _unknown(
        "ec2.stopped_too_long", "instances not listed", instance(), gaps=(gap(Kind.EC2_INSTANCE),)
    ),
    # ec2.unmanaged_pet
    _pass("ec2.unmanaged_pet", "in asg", instance()),
    _pass(
        "ec2.unmanaged_pet",
        "eks node",
        change(instance(EksClusterName="prod"), drop=("AutoScalingGroupName",)),
    ),
    _fail("ec2.unmanaged_pet", "hand made", change(instance(), drop=("AutoScalingGroupName",))),
    _unknown(
        "ec2.unmanaged_pet",
        "tags unreadable",
        replace(
            change(instance(), drop=("AutoScalingGroupName",)),
            unavailable=("AutoScalingGroupName",),
        ),
    ),
    # ec2.imdsv2_required
    _pass("ec2.imdsv2_required", "required", instance()),
    _pass(
        "ec2.imdsv2_required",
        "endpoint disabled",
        instance(MetadataOptions={"HttpTokens": "optional", "HttpEndpoint": "disabled"}),
    ),
    _fail("ec2.imdsv2_required", "optional", instance(MetadataOptions=OPEN_IMDS)),
    _fail("ec2.imdsv2_required", "no options", change(instance(), drop=("MetadataOptions",))),
    _unknown(
        "ec2.imdsv2_required", "unreadable", replace(instance(), unavailable=("MetadataOptions",))
    ),
    # lt.imdsv2_required
    _pass("lt.imdsv2_required", "required", launch_template()),
    _fail(
        "lt.imdsv2_required",
        "optional",
        launch_template(lt_version("3", MetadataOptions=OPEN_IMDS)),
    ),
    _fail("lt.imdsv2_required", "unset", launch_template(lt_version("3", MetadataOptions=None))),
    _unknown("lt.imdsv2_required", "version not collected", launch_template(in_use=("5",))),
    # ecs.exec_enabled
    _pass("ecs.exec_enabled", "off", ecs_service()),
    _fail("ecs.exec_enabled", "on", ecs_service(enableExecuteCommand=True)),
    _unknown(
        "ecs.exec_enabled",
        "unreadable",
        replace(ecs_service(), unavailable=("enableExecuteCommand",)),
    ),
    # ecs.image_not_pinned
    _pass("ecs.image_not_pinned", "digest", task_definition()),
    _fail(
        "ecs.image_not_pinned",
        "version tag",
        task_definition(container(image=f"{REPO_URI}:v42")),
    ),
    _fail(
        "ecs.image_not_pinned",
        "latest",
        task_definition(container(image="nginx:latest")),
        severity=Severity.HIGH,
    ),
    _fail(
        "ecs.image_not_pinned",
        "no tag",
        task_definition(container(image="registry:5000/team/nginx")),
        severity=Severity.HIGH,
    ),
    _unknown(
        "ecs.image_not_pinned",
        "task definitions not readable",
        task_definition(),
        gaps=(gap(Kind.ECS_TASK_DEFINITION),),
    ),
    # ecs.env_secrets
    _pass("ecs.env_secrets", "secrets via valueFrom", task_definition()),
    _fail(
        "ecs.env_secrets",
        "password in env",
        task_definition(
            container(
                environment=[{"name": "DB_PASSWORD", "value": secret_text("env DB_PASSWORD")}]
            )
        ),
    ),
    _unknown(
        "ecs.env_secrets",
        "no container definitions",
        change(task_definition(), drop=("containerDefinitions",)),
    ),
    # ecs.rootfs_writable
    _pass("ecs.rootfs_writable", "read only", task_definition()),
    _fail("ecs.rootfs_writable", "unset", task_definition(container(readonlyRootFilesystem=None))),
    _fail(
        "ecs.rootfs_writable",
        "one of two writable",
        task_definition(container(), container(name="sidecar", readonlyRootFilesystem=False)),
    ),
    _unknown(
        "ecs.rootfs_writable",
        "unreadable",
        replace(task_definition(), unavailable=("containerDefinitions",)),
    ),
    # ecs.privileged
    _pass("ecs.privileged", "not privileged", task_definition(container(privileged=False))),
    _fail("ecs.privileged", "privileged", task_definition(container(privileged=True))),
    _unknown(
        "ecs.privileged",
        "unreadable",
        replace(task_definition(), unavailable=("containerDefinitions",)),
    ),
    # ecs.root_user
    _pass("ecs.root_user", "uid 1000", task_definition()),
    _fail("ecs.root_user", "no user", task_definition(container(user=None))),
    _fail("ecs.root_user", "root:root", task_definition(container(user="root:root"))),
    _fail("ecs.root_user", "uid 0", task_definition(container(user="0"))),
    _unknown(
        "ecs.root_user",
        "task definitions not readable",
        task_definition(),
        gaps=(gap(Kind.ECS_TASK_DEFINITION, region="*"),),
    ),
    # ecs.host_namespace
    _pass("ecs.host_namespace", "awsvpc", task_definition()),
    _fail("ecs.host_namespace", "host network", task_definition(networkMode="host")),
    _fail("ecs.host_namespace", "host pid", task_definition(pidMode="host")),
    _unknown(
        "ecs.host_namespace",
        "unreadable",
        replace(task_definition(), unavailable=("networkMode",)),
    ),
    # ecs.task_max_age
    _pass("ecs.task_max_age", "young", ecs_task()),
    _fail("ecs.task_max_age", "old", ecs_task(startedAt=ago(45))),
    _fail(
        "ecs.task_max_age",
        "old, not started",
        change(ecs_task(createdAt=ago(45)), drop=("startedAt",)),
    ),
    _unknown(
        "ecs.task_max_age",
        "no dates",
        change(ecs_task(), drop=("startedAt", "createdAt")),
    ),
    # ecr.tag_mutable
    _pass("ecr.tag_mutable", "immutable", ecr_repository()),
    _fail("ecr.tag_mutable", "mutable", ecr_repository(imageTagMutability="MUTABLE")),
    _fail(
        "ecr.tag_mutable",
        "mutable with exclusion",
        ecr_repository(imageTagMutability="MUTABLE_WITH_EXCLUSION"),
    ),
    _unknown(
        "ecr.tag_mutable",
        "unreadable",
        replace(ecr_repository(), unavailable=("imageTagMutability",)),
    ),
    # ecr.running_image_age
    _pass("ecr.running_image_age", "fresh image", ecs_task(), ecr_image(10)),
    _pass(
        "ecr.running_image_age",
        "not an ECR image",
        ecs_task(containers=[{"name": "web", "image": "nginx:1.27", "lastStatus": "RUNNING"}]),
    ),
    _fail("ecr.running_image_age", "old image", ecs_task(), ecr_image(200)),
    _unknown("ecr.running_image_age", "image not found", ecs_task()),
    _unknown(
        "ecr.running_image_age", "images not readable", ecs_task(), gaps=(gap(Kind.ECR_IMAGE),)
    ),
    _unknown(
        "ecr.running_image_age",
        "no digest",
        ecs_task(containers=[{"name": "web", "image": f"{REPO_URI}:v42", "lastStatus": "RUNNING"}]),
    ),
    # eks.nodegroup_remote_access
    _pass("eks.nodegroup_remote_access", "no remote access", nodegroup()),
    _fail(
        "eks.nodegroup_remote_access",
        "key with source groups",
        nodegroup(remoteAccess={"ec2SshKey": "ops", "sourceSecurityGroups": ["sg-0bastion"]}),
    ),
    _fail(
        "eks.nodegroup_remote_access",
        "key open to world",
        nodegroup(remoteAccess={"ec2SshKey": "ops"}),
        severity=Severity.CRITICAL,
    ),
    _unknown(
        "eks.nodegroup_remote_access",
        "node groups not listed",
        nodegroup(),
        gaps=(gap(Kind.EKS_NODEGROUP),),
    ),
    # eks.nodegroup_ami_stale
    _pass("eks.nodegroup_ami_stale", "recent release", nodegroup()),
    _pass(
        "eks.nodegroup_ami_stale", "custom ami, new", nodegroup(releaseVersion="ami-0new"), NEW_AMI
    ),
    _fail("eks.nodegroup_ami_stale", "old release", nodegroup(releaseVersion="1.29.3-20260101")),
    _fail(
        "eks.nodegroup_ami_stale", "custom ami, old", nodegroup(releaseVersion="ami-0new"), OLD_AMI
    ),
    _unknown(
        "eks.nodegroup_ami_stale",
        "bottlerocket release",
        nodegroup(releaseVersion="1.20.3-5d9ac849"),
    ),
    _unknown(
        "eks.nodegroup_ami_stale", "no release", change(nodegroup(), drop=("releaseVersion",))
    ),
    # eks.version_unsupported
    _pass("eks.version_unsupported", "1.31", eks_cluster()),
    _pass("eks.version_unsupported", "1.30", eks_cluster(version="1.30")),
    _fail("eks.version_unsupported", "1.29", eks_cluster(version="1.29")),
    _fail("eks.version_unsupported", "1.9", eks_cluster(version="1.9")),
    _unknown("eks.version_unsupported", "no version", change(eks_cluster(), drop=("version",))),
    # eks.endpoint_public
    _pass("eks.endpoint_public", "private", eks_cluster()),
    _fail(
        "eks.endpoint_public",
        "public restricted",
        eks_cluster(
            resourcesVpcConfig={
                "endpointPublicAccess": True,
                "publicAccessCidrs": ["203.0.113.0/24"],
            }
        ),
    ),
    _fail(
        "eks.endpoint_public",
        "public world",
        eks_cluster(
            resourcesVpcConfig={"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}
        ),
        severity=Severity.CRITICAL,
    ),
    _unknown(
        "eks.endpoint_public", "config missing", change(eks_cluster(), drop=("resourcesVpcConfig",))
    ),
)

SCOPE_ACCOUNT, SCOPE_REGION = ACCOUNT, REGION
UNUSED = DIGEST  # keep the import list honest for readers: DIGEST is what ecr_image uses
