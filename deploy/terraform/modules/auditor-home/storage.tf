# Report bundles under S3 Object Lock (COMPLIANCE: nobody, root included, can alter or delete a
# bundle before its retention ends), encrypted with a customer-managed key, and the asymmetric
# key that signs every manifest (the private key never leaves KMS).

resource "aws_kms_key" "reports" {
  description             = "auditor: encryption of report bundles"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.reports_key.json
}

data "aws_iam_policy_document" "reports_key" {
  # checkov:skip=CKV_AWS_109:A key policy's Resource "*" is this key only; account-root administration is AWS's default key policy (without it the key becomes unmanageable)
  # checkov:skip=CKV_AWS_111:Same: key policy statements apply to this key alone
  # checkov:skip=CKV_AWS_356:Same: "*" in a key policy cannot name any other resource
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account}:root"]
    }
  }
  statement {
    sid       = "AuditorEncryptsThroughS3"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.principal.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "signing" {
  # checkov:skip=CKV_AWS_7:AWS KMS cannot rotate asymmetric keys; rotate by creating a new key and publishing its public key (docs/reports.md)
  description              = "auditor: signs report manifests (ECDSA P-256)"
  key_usage                = "SIGN_VERIFY"
  customer_master_key_spec = "ECC_NIST_P256"
  deletion_window_in_days  = 30
  policy                   = data.aws_iam_policy_document.signing_key.json
}

data "aws_iam_policy_document" "signing_key" {
  # checkov:skip=CKV_AWS_109:A key policy's Resource "*" is this key only; account-root administration is AWS's default key policy (without it the key becomes unmanageable)
  # checkov:skip=CKV_AWS_111:Same: key policy statements apply to this key alone
  # checkov:skip=CKV_AWS_356:Same: "*" in a key policy cannot name any other resource
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account}:root"]
    }
  }
  statement {
    sid       = "AuditorSigns"
    actions   = ["kms:Sign", "kms:GetPublicKey"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.principal.arn]
    }
  }
}

resource "aws_s3_bucket" "reports" {
  # checkov:skip=CKV_AWS_144:Object Lock in COMPLIANCE mode is the tamper-evidence; replicating to a second region is an organisational choice that needs a bucket there
  # checkov:skip=CKV2_AWS_62:Nothing consumes bucket events; the report chain is read with `auditor verify`
  bucket              = var.reports_bucket
  object_lock_enabled = true
}

resource "aws_s3_bucket_versioning" "reports" {
  bucket = aws_s3_bucket.reports.id
  versioning_configuration { status = "Enabled" }
}

resource "aws_s3_bucket_object_lock_configuration" "reports" {
  bucket = aws_s3_bucket.reports.id
  rule {
    default_retention {
      mode = "COMPLIANCE"
      days = var.object_lock_days
    }
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "reports" {
  bucket = aws_s3_bucket.reports.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.reports.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "reports" {
  bucket                  = aws_s3_bucket.reports.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_logging" "reports" {
  bucket        = aws_s3_bucket.reports.id
  target_bucket = var.access_log_bucket
  target_prefix = "s3/${var.reports_bucket}/"
}

resource "aws_s3_bucket_lifecycle_configuration" "reports" {
  bucket = aws_s3_bucket.reports.id
  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload { days_after_initiation = 7 }
  }
  rule {
    id     = "expire-after-retention"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration { noncurrent_days = var.object_lock_days + 1 }
  }
}
