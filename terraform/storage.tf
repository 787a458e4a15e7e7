# Generated calendars: the worker writes them, the web service reads them and
# serves them through the API (django-storages, CALENDAR_BUCKET). Private: no
# public access, no object ACLs, HTTPS only, encrypted with the deploy's key.
resource "aws_s3_bucket" "calendars" {
  #checkov:skip=CKV_AWS_18:Calendars are only ever read through the API, whose requests the load balancer and the web service log; S3 access logs would need a second bucket and add nothing.
  #checkov:skip=CKV_AWS_144:A calendar can be built again from the database at any time; copies in a second region add cost and nothing else.
  #checkov:skip=CKV2_AWS_62:Nothing acts on new calendars: the worker records each one in the database as it writes it.
  bucket_prefix = "${var.name}-calendars-"
  # `terraform destroy` removes the bucket with the calendars in it.
  force_destroy = true
}

resource "aws_s3_bucket_public_access_block" "calendars" {
  bucket                  = aws_s3_bucket.calendars.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "calendars" {
  bucket = aws_s3_bucket.calendars.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "calendars" {
  bucket = aws_s3_bucket.calendars.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = local.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "calendars" {
  bucket = aws_s3_bucket.calendars.id
  versioning_configuration {
    status = "Enabled"
  }
}

# A job built again replaces its calendar; the replaced versions, and uploads
# that never finished, go after a week.
resource "aws_s3_bucket_lifecycle_configuration" "calendars" {
  bucket     = aws_s3_bucket.calendars.id
  depends_on = [aws_s3_bucket_versioning.calendars]

  rule {
    id     = "replaced-calendars"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_policy" "calendars" {
  bucket     = aws_s3_bucket.calendars.id
  depends_on = [aws_s3_bucket_public_access_block.calendars]

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "HttpsOnly"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.calendars.arn, "${aws_s3_bucket.calendars.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
}
