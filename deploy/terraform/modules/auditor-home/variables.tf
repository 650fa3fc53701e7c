variable "region" {
  description = "Region of the reports bucket (for the KMS ViaService condition)."
  type        = string
}

variable "principal_role_name" {
  description = "Name of the role auditor runs as."
  type        = string
  default     = "auditor-principal"
}

variable "oidc_provider_arn" {
  description = "EKS cluster OIDC provider ARN for IRSA. Empty: trust EKS Pod Identity (or EC2, see use_ec2_instance_profile)."
  type        = string
  default     = ""
}

variable "namespace" {
  description = "Kubernetes namespace of the auditor ServiceAccount (IRSA subject)."
  type        = string
  default     = "auditor"
}

variable "use_ec2_instance_profile" {
  description = "Run on a VM (docker compose): trust EC2 and create an instance profile."
  type        = bool
  default     = false
}

variable "reports_bucket" {
  description = "Name of the reports bucket to create (Object Lock enabled)."
  type        = string
}

variable "reports_prefix" {
  description = "Key prefix of report bundles (reports.s3.prefix), e.g. \"reports/\"."
  type        = string
  default     = "reports/"
}

variable "object_lock_days" {
  description = "COMPLIANCE-mode retention of every bundle (reports.s3.object_lock_days)."
  type        = number
  default     = 2555
}

variable "access_log_bucket" {
  description = "Existing bucket receiving S3 server access logs of the reports bucket."
  type        = string
}

variable "terraform_state_bucket" {
  description = "Bucket of the Terraform states compared by iac.* rules; empty: none."
  type        = string
  default     = ""
}

variable "terraform_state_prefix" {
  description = "Key prefix of those states."
  type        = string
  default     = ""
}

variable "event_queue_arn" {
  description = "ARN of the events queue (see events.tf); empty: no event feed."
  type        = string
  default     = ""
}

variable "allow_remediation" {
  description = "Attach the remediation policy (only with remediation.mode: enforce)."
  type        = bool
  default     = false
}
