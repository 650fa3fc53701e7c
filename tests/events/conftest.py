"""A moto server with a small fleet, a real SQS queue fed by an EventBridge rule, and one
committed full cycle: the state every feed test starts from."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from auditor.aws import AwsSessions, client_config
from auditor.demo.server import DemoServer, demo_aws_env
from auditor.events.feed import EventFeed, PollResult
from auditor.events.microcycle import MicroCycler
from auditor.model import Status, SystemClock, TrackedFinding
from auditor.notify.capture import CaptureTransport
from auditor.pipeline import CycleOptions, run_cycle
from auditor.settings import Settings
from auditor.store import Store
from tests.events import cloudtrail as ct

pytestmark = pytest.mark.slow

SOURCES = ["aws.ec2", "aws.ecs", "aws.ssm", "aws.ec2-instance-connect", "aws.autoscaling"]


@pytest.fixture(scope="module")
def server() -> Iterator[DemoServer]:
    with DemoServer() as s:
        yield s


@dataclass
class World:
    endpoint: str
    settings: Settings
    store: Store
    feed: EventFeed
    cycler: MicroCycler
    capture: CaptureTransport
    ids: dict[str, str] = field(default_factory=dict)

    def client(self, name: str) -> Any:
        return boto3.client(name, endpoint_url=self.endpoint, region_name=ct.REGION)

    def put(self, detail: dict[str, Any]) -> None:
        """Publish a CloudTrail record on the default bus (the rule routes it to the queue)."""
        response = self.client("events").put_events(
            Entries=[
                {
                    "Source": ct.SOURCES[detail["eventSource"]],
                    "DetailType": "AWS API Call via CloudTrail",
                    "Detail": json.dumps(detail),
                    "Resources": [],
                }
            ]
        )
        assert response["FailedEntryCount"] == 0

    def send(self, body: str) -> None:
        """Put a message on the queue directly (service events, poison)."""
        assert self.settings.events.queue_url
        self.client("sqs").send_message(QueueUrl=self.settings.events.queue_url, MessageBody=body)

    def poll(self) -> PollResult:
        return self.feed.poll_once(lambda batch: self.cycler.run(self.store, batch))

    def open(self, rule: str) -> list[TrackedFinding]:
        return [
            t
            for t in self.store.open_findings().values()
            if t.finding.rule_id == rule and t.finding.status is Status.FAIL
        ]

    def waiting(self, url: str | None = None) -> int:
        attrs = self.client("sqs").get_queue_attributes(
            QueueUrl=url or self.settings.events.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )


def seed(endpoint: str) -> dict[str, str]:
    def client(name: str) -> Any:
        return boto3.client(name, endpoint_url=endpoint, region_name=ct.REGION)

    ec2, asg, ecs = client("ec2"), client("autoscaling"), client("ecs")
    image = ec2.register_image(Name="web-2026-12-01", RootDeviceName="/dev/xvda")["ImageId"]
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    lt = ec2.create_launch_template(
        LaunchTemplateName="web",
        LaunchTemplateData={
            "ImageId": image,
            "InstanceType": "t3.micro",
            "SecurityGroupIds": [sg],
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
        },
    )["LaunchTemplate"]["LaunchTemplateId"]
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web",
        LaunchTemplate={"LaunchTemplateId": lt, "Version": "$Latest"},
        MinSize=1,
        MaxSize=1,
        DesiredCapacity=1,
        VPCZoneIdentifier=subnet,
    )
    pet = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        SubnetId=subnet,
        SecurityGroupIds=[sg],
        MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
    )["Instances"][0]["InstanceId"]
    cluster = ecs.create_cluster(clusterName="prod")["cluster"]["clusterArn"]
    definition = ecs.register_task_definition(
        family="web",
        containerDefinitions=[{"name": "app", "image": "nginx:1.27", "memory": 128}],
    )["taskDefinition"]
    network = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg]}}
    service = ecs.create_service(
        cluster="prod",
        serviceName="web",
        taskDefinition=definition["taskDefinitionArn"],
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration=network,
    )["service"]
    task = ecs.run_task(
        cluster="prod",
        taskDefinition=definition["taskDefinitionArn"],
        count=1,
        launchType="FARGATE",
        networkConfiguration=network,
        group="service:web",
    )["tasks"][0]["taskArn"]
    sqs, events = client("sqs"), client("events")
    dlq = sqs.create_queue(QueueName="auditor-events-dlq")["QueueUrl"]
    queue = sqs.create_queue(QueueName="auditor-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    events.put_rule(
        Name="auditor-cloudtrail",
        EventPattern=json.dumps(
            {"source": SOURCES, "detail-type": ["AWS API Call via CloudTrail"]}
        ),
    )
    events.put_targets(
        Rule="auditor-cloudtrail",
        Targets=[{"Id": "auditor", "Arn": queue_arn["Attributes"]["QueueArn"]}],
    )
    return {
        "image": image,
        "sg": sg,
        "lt": lt,
        "pet": pet,
        "cluster": cluster,
        "service": service["serviceArn"],
        "task": task,
        "queue": queue,
        "dlq": dlq,
    }


@pytest.fixture
def make_world(
    server: DemoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., World]:
    def make(**events: Any) -> World:
        server.reset()
        for key, value in demo_aws_env(server.endpoint_url, ct.REGION).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("AUDITOR_TEST_SLACK", "https://hooks.slack.invalid/T0/B0/x")
        ids = seed(server.endpoint_url)
        settings = Settings(
            store=f"sqlite:///{tmp_path / 'auditor.db'}",
            regions=(ct.REGION,),
            services=("ec2", "ecs"),
            events={
                "queue_url": ids["queue"],
                "dead_letter_url": ids["dlq"],
                "wait_seconds": 0,
                **events,
            },
            slack={"webhook_url_env": "AUDITOR_TEST_SLACK", "min_severity": "high"},
        )
        capture = CaptureTransport(tmp_path / "slack.jsonl")
        options = CycleOptions(write_report=False, transport=capture)
        store = Store.open(settings.store)
        run_cycle(settings, store=store, options=options)
        sessions = AwsSessions(config=client_config(settings.collect.max_attempts))
        sqs = boto3.client("sqs", endpoint_url=server.endpoint_url, region_name=ct.REGION)
        feed = EventFeed(settings.events, sqs, SystemClock())
        cycler = MicroCycler(settings, sessions=sessions, options=options)
        return World(server.endpoint_url, settings, store, feed, cycler, capture, ids)

    return make


@pytest.fixture
def world(make_world: Callable[..., World]) -> Iterator[World]:
    w = make_world()
    yield w
    w.store.close()
