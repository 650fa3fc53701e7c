output "principal_role_arn" {
  description = "Annotate the auditor ServiceAccount with it (IRSA) or associate it (Pod Identity)."
  value       = aws_iam_role.principal.arn
}

output "reports_bucket" {
  value = aws_s3_bucket.reports.bucket
}

output "signing_key_arn" {
  description = "signing.kms_key_id"
  value       = aws_kms_key.signing.arn
}
