# One key for what this deploy stores: the calendars bucket, the image
# repository, the database, its secrets and the logs. Only with roles made here:
# the key's use is granted through their policies (iam.tf), and an existing role
# (var.existing_role_name, the Learner Lab's LabRole) has policies that are not
# ours to extend, so then everything uses AWS's managed keys instead.
locals {
  kms_key_arn = one(aws_kms_key.main[*].arn) # null: AWS's managed keys
}

resource "aws_kms_key" "main" {
  count                   = local.make_roles ? 1 : 0
  description             = "${var.name}: calendars, images, database, secrets and logs"
  enable_key_rotation     = true
  deletion_window_in_days = 7

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # The account administers the key and grants its use through IAM
        # policies (the task roles in iam.tf).
        Sid       = "Account"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsOfThisDeploy"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action = [
          "kms:Encrypt",
          "kms:Decrypt",
          "kms:ReEncrypt*",
          "kms:GenerateDataKey*",
          "kms:Describe*",
        ]
        Resource = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:aws:logs:${var.region}:${data.aws_caller_identity.current.account_id}:log-group:/ecs/${var.name}/*"
          }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "main" {
  count         = local.make_roles ? 1 : 0
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.main[0].key_id
}
