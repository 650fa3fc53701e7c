# The event feed (docs/events.md): an SQS queue and its dead-letter queue, the EventBridge
# rules that route CloudTrail management events and service events to it, and the queue
# policy. In the account that runs auditor; the daemon's permissions are the event-reader
# policy of ../auditor-home (pass it queue_arn and dead_letter_arn). For an organisation, set
# organization_id: member accounts may then forward their events to this account's default
# bus (../event-forwarder in each of them).

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.0" }
  }
}

variable "name" {
  description = "Name of the queue (and prefix of the rules). events.queue_url points at it."
  type        = string
  default     = "auditor-events"
}

variable "organization_id" {
  description = "AWS Organizations id (o-...): member accounts may put events on this account's default bus. Empty: single account."
  type        = string
  default     = ""
}

variable "max_receive_count" {
  description = "Receives before SQS moves a message to the dead-letter queue (auditor dead-letters poison at once)."
  type        = number
  default     = 5
}

variable "visibility_timeout_seconds" {
  description = "Must be at least events.visibility_timeout_seconds (auditor asks for it per receive)."
  type        = number
  default     = 300
}

locals {
  # The calls auditor re-collects for, or records as a shell (auditor/events/parse.py CALLS).
  # tests/events/test_deploy.py fails when the two lists differ.
  event_names = [
    "AssociateIamInstanceProfile",
    "AttachInstances",
    "AttachVolume",
    "AuthorizeSecurityGroupEgress",
    "AuthorizeSecurityGroupIngress",
    "BatchDeleteImage",
    "CreateAutoScalingGroup",
    "CreateLaunchTemplateVersion",
    "CreateNodegroup",
    "CreateService",
    "DeleteAutoScalingGroup",
    "DeleteLaunchTemplateVersions",
    "DeleteNodegroup",
    "DeleteService",
    "DeregisterTaskDefinition",
    "DetachInstances",
    "DetachVolume",
    "ExecuteCommand",
    "ModifyInstanceAttribute",
    "ModifyInstanceMetadataOptions",
    "ModifyLaunchTemplate",
    "ModifySecurityGroupRules",
    "PutImage",
    "PutImageTagMutability",
    "RegisterTaskDefinition",
    "ReplaceIamInstanceProfileAssociation",
    "RevokeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RunInstances",
    "SendSSHPublicKey",
    "SendSerialConsoleSSHPublicKey",
    "SetDesiredCapacity",
    "SetRepositoryPolicy",
    "StartInstanceRefresh",
    "StartInstances",
    "StartSession",
    "StopInstances",
    "StopTask",
    "TerminateInstances",
    "UpdateAutoScalingGroup",
    "UpdateNodegroupConfig",
    "UpdateNodegroupVersion",
    "UpdateSecurityGroupRuleDescriptionsIngress",
    "UpdateService",
  ]
  cloudtrail_pattern = {
    "detail-type" = ["AWS API Call via CloudTrail"]
    source = [
      "aws.autoscaling",
      "aws.ec2",
      "aws.ec2-instance-connect",
      "aws.ecr",
      "aws.ecs",
      "aws.eks",
      "aws.ssm",
    ]
    detail = { eventName = local.event_names }
  }
  service_pattern = {
    source = ["aws.autoscaling", "aws.ec2", "aws.ecs"]
    "detail-type" = [
      "EC2 Instance State-change Notification",
      "ECS Task State Change",
      "EC2 Instance Launch Successful",
      "EC2 Instance Terminate Successful",
    ]
  }
  tags = { "managed-by" = "terraform", "auditor:purpose" = "events" }
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

resource "aws_sqs_queue" "dead_letter" {
  name                      = "${var.name}-dlq"
  message_retention_seconds = 1209600 # 14 days: time to look at what could not be handled
  sqs_managed_sse_enabled   = true
  tags                      = local.tags
}

resource "aws_sqs_queue" "events" {
  name                       = var.name
  visibility_timeout_seconds = var.visibility_timeout_seconds
  message_retention_seconds  = 345600 # 4 days: the full schedule reconciles anything older
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter.arn
    maxReceiveCount     = var.max_receive_count
  })
  tags = local.tags
}

resource "aws_cloudwatch_event_rule" "cloudtrail" {
  name          = "${var.name}-cloudtrail"
  description   = "CloudTrail management calls that change what auditor judges, and shells opened"
  event_pattern = jsonencode(local.cloudtrail_pattern)
  tags          = local.tags
}

resource "aws_cloudwatch_event_rule" "service" {
  name          = "${var.name}-service"
  description   = "Instance state changes, ECS task state changes, Auto Scaling launches and terminations"
  event_pattern = jsonencode(local.service_pattern)
  tags          = local.tags
}

resource "aws_cloudwatch_event_target" "cloudtrail" {
  rule = aws_cloudwatch_event_rule.cloudtrail.name
  arn  = aws_sqs_queue.events.arn
}

resource "aws_cloudwatch_event_target" "service" {
  rule = aws_cloudwatch_event_rule.service.name
  arn  = aws_sqs_queue.events.arn
}

data "aws_iam_policy_document" "queue" {
  statement {
    sid       = "EventBridgeRules"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.cloudtrail.arn, aws_cloudwatch_event_rule.service.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "events" {
  queue_url = aws_sqs_queue.events.id
  policy    = data.aws_iam_policy_document.queue.json
}

# Organisation-wide: every member account may forward its events to this default bus.
data "aws_iam_policy_document" "bus" {
  count = var.organization_id == "" ? 0 : 1
  statement {
    sid       = "OrganizationPutEvents"
    actions   = ["events:PutEvents"]
    resources = ["arn:aws:events:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:event-bus/default"]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalOrgID"
      values   = [var.organization_id]
    }
  }
}

resource "aws_cloudwatch_event_bus_policy" "organization" {
  count  = var.organization_id == "" ? 0 : 1
  policy = data.aws_iam_policy_document.bus[0].json
}

output "queue_url" {
  description = "events.queue_url"
  value       = aws_sqs_queue.events.id
}

output "dead_letter_url" {
  description = "events.dead_letter_url"
  value       = aws_sqs_queue.dead_letter.id
}

output "queue_arn" {
  description = "../auditor-home event_queue_arn"
  value       = aws_sqs_queue.events.arn
}

output "dead_letter_arn" {
  description = "../auditor-home event_dead_letter_arn"
  value       = aws_sqs_queue.dead_letter.arn
}

output "event_bus_arn" {
  description = "The bus member accounts forward to (../event-forwarder central_bus_arn)."
  value       = "arn:aws:events:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:event-bus/default"
}

output "event_patterns" {
  description = "The patterns, for ../event-forwarder."
  value       = { cloudtrail = local.cloudtrail_pattern, service = local.service_pattern }
}
