# The role auditor assumes in each audited account: read-only collection, and (only when
# var.allow_remediation) the separate least-privilege remediation policy. For a whole
# organisation, ../../organization deploys the same role to every account with a StackSet.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.0" }
  }
}

variable "auditor_principal_arn" {
  description = "The IAM role or user auditor runs as (e.g. its IRSA role), allowed to assume this role."
  type        = string
}

variable "role_name" {
  description = "Must match `organization.role_name` or the role_arn in `accounts:`."
  type        = string
  default     = "auditor"
}

variable "allow_remediation" {
  description = "Attach the remediation policy (only needed with remediation.mode: enforce)."
  type        = bool
  default     = false
}

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = [var.auditor_principal_arn]
    }
  }
}

resource "aws_iam_role" "auditor" {
  name                 = var.role_name
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
  tags                 = { "managed-by" = "terraform", "auditor:purpose" = "audit" }
}

resource "aws_iam_role_policy" "readonly" {
  name   = "auditor-readonly"
  role   = aws_iam_role.auditor.id
  policy = file("${path.module}/../../../iam/audit-readonly.json")
}

resource "aws_iam_role_policy" "remediation" {
  count  = var.allow_remediation ? 1 : 0
  name   = "auditor-remediation"
  role   = aws_iam_role.auditor.id
  policy = file("${path.module}/../../../iam/remediation.json")
}

output "role_arn" {
  value = aws_iam_role.auditor.arn
}
