# auditor auditing the one account it runs in: the principal role (IRSA by default) carries
# the read-only audit policy itself, so no member role is needed.
#   terraform init && terraform apply -var reports_bucket=acme-auditor-reports \
#     -var access_log_bucket=acme-s3-access-logs -var oidc_provider_arn=arn:aws:iam::...
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
variable "use_ec2_instance_profile" {
  type    = bool
  default = false
}
variable "allow_remediation" {
  type    = bool
  default = false
}

provider "aws" {
  region = var.region
}

module "auditor" {
  source                   = "../modules/auditor-home"
  region                   = var.region
  reports_bucket           = var.reports_bucket
  access_log_bucket        = var.access_log_bucket
  oidc_provider_arn        = var.oidc_provider_arn
  use_ec2_instance_profile = var.use_ec2_instance_profile
  allow_remediation        = var.allow_remediation
}

output "principal_role_arn" { value = module.auditor.principal_role_arn }
output "signing_key_arn" { value = module.auditor.signing_key_arn }
