# Everything auditor needs in the account it runs in: the principal role its pods or VM run as,
# the reports bucket (Object Lock, COMPLIANCE mode), the KMS signing key, and the least-privilege
# policies of deploy/iam/ scoped to exactly these resources.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.0" }
  }
}

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition = data.aws_partition.current.partition
  account   = data.aws_caller_identity.current.account_id
  irsa      = var.oidc_provider_arn != ""
}

# --- the principal: IRSA (EKS OIDC), EKS Pod Identity, or an EC2 instance profile (compose VM)

data "aws_iam_policy_document" "trust" {
  dynamic "statement" {
    for_each = local.irsa ? [1] : []
    content {
      actions = ["sts:AssumeRoleWithWebIdentity"]
      principals {
        type        = "Federated"
        identifiers = [var.oidc_provider_arn]
      }
      condition {
        test     = "StringEquals"
        variable = "${replace(var.oidc_provider_arn, "/^.*oidc-provider\\//", "")}:sub"
        values   = ["system:serviceaccount:${var.namespace}:auditor"]
      }
    }
  }
  dynamic "statement" {
    for_each = local.irsa ? [] : [1]
    content {
      actions = ["sts:AssumeRole", "sts:TagSession"]
      principals {
        type        = "Service"
        identifiers = var.use_ec2_instance_profile ? ["ec2.amazonaws.com"] : ["pods.eks.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role" "principal" {
  name                 = var.principal_role_name
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
  tags                 = { "auditor:purpose" = "audit" }
}

resource "aws_iam_instance_profile" "principal" {
  count = var.use_ec2_instance_profile ? 1 : 0
  name  = var.principal_role_name
  role  = aws_iam_role.principal.name
}

resource "aws_iam_role_policy" "audit_readonly" {
  name   = "auditor-audit-readonly"
  role   = aws_iam_role.principal.id
  policy = file("${path.module}/../../../iam/audit-readonly.json")
}

resource "aws_iam_role_policy" "report_writer" {
  name = "auditor-report-writer"
  role = aws_iam_role.principal.id
  policy = templatefile("${path.module}/../../../iam/report-writer.json.tftpl", {
    partition       = local.partition
    reports_bucket  = aws_s3_bucket.reports.bucket
    reports_prefix  = var.reports_prefix
    signing_key_arn = aws_kms_key.signing.arn
  })
}

resource "aws_iam_role_policy" "iac_state_reader" {
  count = var.terraform_state_bucket != "" ? 1 : 0
  name  = "auditor-iac-state-reader"
  role  = aws_iam_role.principal.id
  policy = templatefile("${path.module}/../../../iam/iac-state-reader.json.tftpl", {
    partition    = local.partition
    state_bucket = var.terraform_state_bucket
    state_prefix = var.terraform_state_prefix
  })
}

resource "aws_iam_role_policy" "event_reader" {
  count = var.event_queue_arn != "" ? 1 : 0
  name  = "auditor-event-reader"
  role  = aws_iam_role.principal.id
  policy = templatefile("${path.module}/../../../iam/event-reader.json.tftpl", {
    queue_arn = var.event_queue_arn
  })
}

resource "aws_iam_role_policy" "remediation" {
  count  = var.allow_remediation ? 1 : 0
  name   = "auditor-remediation"
  role   = aws_iam_role.principal.id
  policy = file("${path.module}/../../../iam/remediation.json")
}
