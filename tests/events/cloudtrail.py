"""Real-shaped EventBridge events: CloudTrail "AWS API Call via CloudTrail" records (as
CloudTrail documents them for each call) and service events, for the feed's tests."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
SSO_ROLE = "AWSReservedSSO_AdministratorAccess_0123456789abcdef"
ALICE = f"arn:aws:sts::{ACCOUNT}:assumed-role/{SSO_ROLE}/alice@example.com"
ISSUER = f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/{SSO_ROLE}"
BREAK_GLASS = f"arn:aws:sts::{ACCOUNT}:assumed-role/BreakGlass/bob"
AGENT = "aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64.amzn.2023 command/ec2.modify"

SOURCES = {
    "ec2.amazonaws.com": "aws.ec2",
    "ecs.amazonaws.com": "aws.ecs",
    "ssm.amazonaws.com": "aws.ssm",
    "ec2-instance-connect.amazonaws.com": "aws.ec2-instance-connect",
    "autoscaling.amazonaws.com": "aws.autoscaling",
}


def identity(principal: str = ALICE) -> dict[str, Any]:
    role = principal.split("/")[1]
    issuer = ISSUER if role == SSO_ROLE else f"arn:aws:iam::{ACCOUNT}:role/{role}"
    return {
        "type": "AssumedRole",
        "principalId": f"AROA3EXAMPLE7DQ2UE4TH:{principal.rsplit('/', 1)[-1]}",
        "arn": principal,
        "accountId": ACCOUNT,
        "accessKeyId": "ASIA3EXAMPLEXTVWAGM4",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROA3EXAMPLE7DQ2UE4TH",
                "arn": issuer,
                "accountId": ACCOUNT,
                "userName": role,
            },
            "attributes": {"creationDate": "2026-12-04T08:00:00Z", "mfaAuthenticated": "false"},
        },
    }


def record(
    event_name: str,
    source: str,
    request: dict[str, Any] | None,
    response: dict[str, Any] | None,
    *,
    principal: str = ALICE,
    at: datetime | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """The CloudTrail record (EventBridge's `detail`)."""
    at = at or datetime.now(UTC)
    return {
        "eventVersion": "1.09",
        "userIdentity": identity(principal),
        "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source,
        "eventName": event_name,
        "awsRegion": REGION,
        "sourceIPAddress": "203.0.113.7",
        "userAgent": AGENT,
        "requestParameters": request,
        "responseElements": response,
        "requestID": str(uuid.uuid4()),
        "eventID": event_id or str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "clientProvidedHostHeader": f"{source}"},
    }


def envelope(detail: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge event as SQS receives it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": SOURCES[detail["eventSource"]],
        "account": ACCOUNT,
        "time": detail["eventTime"],
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


def body(detail: dict[str, Any]) -> str:
    return json.dumps(envelope(detail))


def modify_instance_type(instance_id: str, instance_type: str, **kw: Any) -> dict[str, Any]:
    return record(
        "ModifyInstanceAttribute",
        "ec2.amazonaws.com",
        {"instanceId": instance_id, "instanceType": {"value": instance_type}},
        {"requestId": str(uuid.uuid4()), "_return": True},
        **kw,
    )


def register_task_definition(definition: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return record(
        "RegisterTaskDefinition",
        "ecs.amazonaws.com",
        {
            "family": definition["family"],
            "containerDefinitions": [
                {"name": c["name"], "image": c["image"], "memory": c.get("memory")}
                for c in definition["containerDefinitions"]
            ],
        },
        {
            "taskDefinition": {
                "taskDefinitionArn": definition["taskDefinitionArn"],
                "family": definition["family"],
                "revision": definition["revision"],
                "status": "ACTIVE",
                "containerDefinitions": [],
            },
            "tags": [],
        },
        **kw,
    )


def update_service(service: dict[str, Any], cluster: str, **kw: Any) -> dict[str, Any]:
    return record(
        "UpdateService",
        "ecs.amazonaws.com",
        {
            "cluster": cluster,
            "service": service["serviceName"],
            "taskDefinition": service["taskDefinition"],
            "forceNewDeployment": False,
        },
        {
            "service": {
                "serviceArn": service["serviceArn"],
                "serviceName": service["serviceName"],
                "clusterArn": service["clusterArn"],
                "taskDefinition": service["taskDefinition"],
                "desiredCount": service.get("desiredCount", 1),
                "status": "ACTIVE",
            }
        },
        **kw,
    )


def create_launch_template_version(template_id: str, number: int, **kw: Any) -> dict[str, Any]:
    return record(
        "CreateLaunchTemplateVersion",
        "ec2.amazonaws.com",
        {
            "CreateLaunchTemplateVersionRequest": {
                "LaunchTemplateId": template_id,
                "SourceVersion": "1",
                "LaunchTemplateData": {"InstanceType": "m5.large"},
            }
        },
        {
            "CreateLaunchTemplateVersionResponse": {
                "xmlns": "http://ec2.amazonaws.com/doc/2016-11-15/",
                "requestId": str(uuid.uuid4()),
                "launchTemplateVersion": {
                    "launchTemplateId": template_id,
                    "launchTemplateName": "web",
                    "versionNumber": number,
                    "defaultVersion": False,
                    "createdBy": ALICE,
                },
            }
        },
        **kw,
    )


def authorize_ssh(group_id: str, **kw: Any) -> dict[str, Any]:
    return record(
        "AuthorizeSecurityGroupIngress",
        "ec2.amazonaws.com",
        {
            "groupId": group_id,
            "ipPermissions": {
                "items": [
                    {
                        "ipProtocol": "tcp",
                        "fromPort": 22,
                        "toPort": 22,
                        "groups": {},
                        "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]},
                        "ipv6Ranges": {},
                        "prefixListIds": {},
                    }
                ]
            },
        },
        {"requestId": str(uuid.uuid4()), "_return": True},
        **kw,
    )


def start_session(instance_id: str, **kw: Any) -> dict[str, Any]:
    return record(
        "StartSession",
        "ssm.amazonaws.com",
        {"target": instance_id},
        {
            "sessionId": "alice@example.com-0a1b2c3d4e5f67890",
            "tokenValue": "Value hidden due to security reasons.",
            "streamUrl": "wss://ssmmessages.us-east-1.amazonaws.com/v1/data-channel/alice?role=publish_subscribe",
        },
        **kw,
    )


def send_ssh_public_key(instance_id: str, **kw: Any) -> dict[str, Any]:
    return record(
        "SendSSHPublicKey",
        "ec2-instance-connect.amazonaws.com",
        {
            "instanceId": instance_id,
            "instanceOSUser": "ec2-user",
            "sSHPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample alice",
        },
        {"requestId": "7f3e0c1a-0b1d-4c5e-9f21-3d2a1b0c9e8f", "success": True},
        **kw,
    )


def execute_command(task_arn: str, cluster_arn: str, **kw: Any) -> dict[str, Any]:
    return record(
        "ExecuteCommand",
        "ecs.amazonaws.com",
        {
            "cluster": cluster_arn.rsplit("/", 1)[-1],
            "container": "app",
            "command": "/bin/sh",
            "interactive": True,
            "task": task_arn.rsplit("/", 1)[-1],
        },
        {
            "clusterArn": cluster_arn,
            "containerArn": f"{cluster_arn.replace(':cluster/', ':container/')}/0abc/app",
            "containerName": "app",
            "interactive": True,
            "session": {
                "sessionId": "ecs-execute-command-0a1b2c3d4e5f6",
                "streamUrl": "wss://ssmmessages.us-east-1.amazonaws.com/v1/data-channel/ecs",
                "tokenValue": "HIDDEN_DUE_TO_SECURITY_REASONS",
            },
            "taskArn": task_arn,
        },
        **kw,
    )


def instance_state_change(instance_id: str, state: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance_id}"],
        "detail": {"instance-id": instance_id, "state": state},
    }
