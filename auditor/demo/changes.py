"""In-place changes the demo makes between its two cycles, as a hurried operator would:
resize a running instance and disable its source/dest check, register a task definition by hand
and point a service at it, and make a new launch template version the default under an ASG
that follows `$Default`/`$Latest`. The second cycle must notice each as drift."""

from __future__ import annotations

from typing import Any

from auditor.demo.fleet import account_session
from auditor.demo.manifest import FleetManifest


def apply_in_place_changes(endpoint_url: str, manifest: FleetManifest) -> list[str]:
    account, region = manifest.accounts[0], manifest.regions[0]
    session = account_session(endpoint_url, account)
    done: list[str] = []
    done += _resize_instance(session.client("ec2", region_name=region))
    done += _hand_deploy_service(session.client("ecs", region_name=region))
    done += _new_default_template(
        session.client("ec2", region_name=region), session.client("autoscaling", region_name=region)
    )
    return done


def _resize_instance(ec2: Any) -> list[str]:
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": ["running"]}]
    )
    for page in pages:
        for reservation in page["Reservations"]:
            for inst in reservation["Instances"]:
                tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
                if "aws:autoscaling:groupName" not in tags:
                    continue
                new_type = "m5.large" if inst["InstanceType"] != "m5.large" else "m5.xlarge"
                ec2.modify_instance_attribute(
                    InstanceId=inst["InstanceId"], InstanceType={"Value": new_type}
                )
                ec2.modify_instance_attribute(
                    InstanceId=inst["InstanceId"], SourceDestCheck={"Value": False}
                )
                return [
                    f"{inst['InstanceId']}: instance type {inst['InstanceType']} -> {new_type}, "
                    "source/dest check disabled (in place)"
                ]
    return []


def _hand_deploy_service(ecs: Any) -> list[str]:
    for cluster in ecs.list_clusters()["clusterArns"]:
        for service_arn in ecs.list_services(cluster=cluster)["serviceArns"]:
            service = ecs.describe_services(cluster=cluster, services=[service_arn])["services"][0]
            current = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])[
                "taskDefinition"
            ]
            keep = (
                "family",
                "containerDefinitions",
                "networkMode",
                "requiresCompatibilities",
                "cpu",
                "memory",
                "executionRoleArn",
                "taskRoleArn",
                "pidMode",
            )
            spec = {k: current[k] for k in keep if k in current}
            for container in spec["containerDefinitions"]:
                container["image"] = container["image"].split("@")[0].rsplit(":", 1)[0] + ":hotfix"
            new = ecs.register_task_definition(**spec)["taskDefinition"]["taskDefinitionArn"]
            ecs.update_service(cluster=cluster, service=service_arn, taskDefinition=new)
            revision = new.rsplit("/", 1)[-1]
            return [f"{service['serviceName']}: task definition swapped by hand to {revision}"]
    return []


def _new_default_template(ec2: Any, autoscaling: Any) -> list[str]:
    for group in autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]:
        lt = group.get("LaunchTemplate")
        if not lt or lt.get("Version") not in ("$Default", "$Latest"):
            continue
        template_id = lt["LaunchTemplateId"]
        latest = ec2.describe_launch_template_versions(
            LaunchTemplateId=template_id, Versions=["$Latest"]
        )["LaunchTemplateVersions"][0]
        data = latest["LaunchTemplateData"]
        images = ec2.describe_images(Owners=["self"])["Images"]
        other = next((i["ImageId"] for i in images if i["ImageId"] != data.get("ImageId")), None)
        new_data = {
            k: v for k, v in data.items() if k in ("ImageId", "InstanceType", "MetadataOptions")
        }
        if other:
            new_data["ImageId"] = other
        version = ec2.create_launch_template_version(
            LaunchTemplateId=template_id,
            SourceVersion=str(latest["VersionNumber"]),
            LaunchTemplateData=new_data,
        )["LaunchTemplateVersion"]["VersionNumber"]
        ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion=str(version))
        return [
            f"{group['AutoScalingGroupName']}: launch template {template_id} now resolves "
            f"{lt['Version']} to version {version} (new AMI), without a deployment"
        ]
    return []
