# In each member account (organisation mode): forward the events auditor needs to the audit
# account's default bus (../event-feed output event_bus_arn). CloudTrail must record management
# events in the member account (an organisation trail does).

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.0" }
  }
}

variable "central_bus_arn" {
  description = "The audit account's default event bus (output event_bus_arn of ../event-feed)."
  type        = string
}

variable "event_patterns" {
  description = "output event_patterns of ../event-feed: the same patterns, one home."
  type        = map(any)
}

variable "name" {
  type    = string
  default = "auditor-events"
}

locals {
  tags = { "managed-by" = "terraform", "auditor:purpose" = "events" }
}

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "forward" {
  name               = "${var.name}-forward"
  assume_role_policy = data.aws_iam_policy_document.trust.json
  tags               = local.tags
}

data "aws_iam_policy_document" "forward" {
  statement {
    actions   = ["events:PutEvents"]
    resources = [var.central_bus_arn]
  }
}

resource "aws_iam_role_policy" "forward" {
  name   = "put-events-to-audit-account"
  role   = aws_iam_role.forward.id
  policy = data.aws_iam_policy_document.forward.json
}

resource "aws_cloudwatch_event_rule" "forward" {
  for_each      = var.event_patterns
  name          = "${var.name}-${each.key}"
  description   = "Forward to the auditor event feed in the audit account"
  event_pattern = jsonencode(each.value)
  tags          = local.tags
}

resource "aws_cloudwatch_event_target" "forward" {
  for_each = var.event_patterns
  rule     = aws_cloudwatch_event_rule.forward[each.key].name
  arn      = var.central_bus_arn
  role_arn = aws_iam_role.forward.arn
}
