# auditor over an AWS Organization: apply in the account auditor runs in (a delegated
# administrator for CloudFormation StackSets, or the management account). It creates the
# principal, the reports bucket and signing key there, and a service-managed StackSet that
# puts the read-only `auditor` role (trusting only that principal) into every member account,
# including accounts that join later. Set `organization: {role_name: auditor}` in auditor.yaml.
terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.0" }
  }
}

variable "region" {
  type    = string
  default = "us-east-1"
}
variable "reports_bucket" { type = string }
variable "access_log_bucket" { type = string }
variable "oidc_provider_arn" {
  type    = string
  default = ""
}
variable "organizational_unit_ids" {
  description = "OUs (or the root id r-xxxx) whose accounts get the audit role."
  type        = list(string)
}
variable "member_role_name" {
  type    = string
  default = "auditor"
}

provider "aws" {
  region = var.region
}

module "auditor" {
  source            = "../modules/auditor-home"
  region            = var.region
  reports_bucket    = var.reports_bucket
  access_log_bucket = var.access_log_bucket
  oidc_provider_arn = var.oidc_provider_arn
}

resource "aws_cloudformation_stack_set" "audit_role" {
  name             = "auditor-audit-role"
  permission_model = "SERVICE_MANAGED"
  capabilities     = ["CAPABILITY_NAMED_IAM"]
  auto_deployment {
    enabled                          = true
    retain_stacks_on_account_removal = false
  }
  template_body = jsonencode({
    AWSTemplateFormatVersion = "2010-09-09"
    Description              = "auditor: read-only audit role"
    Resources = {
      AuditRole = {
        Type = "AWS::IAM::Role"
        Properties = {
          RoleName           = var.member_role_name
          MaxSessionDuration = 3600
          AssumeRolePolicyDocument = {
            Version = "2012-10-17"
            Statement = [{
              Effect    = "Allow"
              Principal = { AWS = module.auditor.principal_role_arn }
              Action    = "sts:AssumeRole"
            }]
          }
          Policies = [{
            PolicyName     = "auditor-audit-readonly"
            PolicyDocument = jsondecode(file("${path.module}/../../iam/audit-readonly.json"))
          }]
        }
      }
    }
  })
}

resource "aws_cloudformation_stack_set_instance" "members" {
  stack_set_name = aws_cloudformation_stack_set.audit_role.name
  deployment_targets {
    organizational_unit_ids = var.organizational_unit_ids
  }
  region = var.region
}

output "principal_role_arn" { value = module.auditor.principal_role_arn }
output "signing_key_arn" { value = module.auditor.signing_key_arn }
