# Three roles, made unless var.existing_role_name names one to use for all:
#   execution: ECS pulls the image, writes the logs, reads the two secrets;
#   web:       sends jobs to the ical queue, reads calendars from the bucket;
#   worker:    takes jobs from the ical queue (and sends retries), writes calendars.
data "aws_iam_role" "existing" {
  count = var.existing_role_name == null ? 0 : 1
  name  = var.existing_role_name
}

locals {
  make_roles = var.existing_role_name == null
  # Each list holds one role: the one made here, or the existing one.
  execution_role_arn = one(concat(aws_iam_role.execution[*].arn, data.aws_iam_role.existing[*].arn))
  web_role_arn       = one(concat(aws_iam_role.web[*].arn, data.aws_iam_role.existing[*].arn))
  worker_role_arn    = one(concat(aws_iam_role.worker[*].arn, data.aws_iam_role.existing[*].arn))
}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

# --- Execution role ---------------------------------------------------------------
resource "aws_iam_role" "execution" {
  count              = local.make_roles ? 1 : 0
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy_attachment" "execution" {
  count      = local.make_roles ? 1 : 0
  role       = aws_iam_role.execution[0].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "execution_secrets" {
  statement {
    sid       = "ReadTheTwoSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.database.arn, aws_secretsmanager_secret.django.arn]
  }
  statement {
    sid       = "DecryptTheSecretsAndImage"
    actions   = ["kms:Decrypt"]
    resources = aws_kms_key.main[*].arn
  }
}

resource "aws_iam_role_policy" "execution_secrets" {
  count  = local.make_roles ? 1 : 0
  name   = "secrets"
  role   = aws_iam_role.execution[0].id
  policy = data.aws_iam_policy_document.execution_secrets.json
}

# --- Web task role ------------------------------------------------------------------
data "aws_iam_policy_document" "web" {
  statement {
    sid = "SendJobs"
    actions = [
      "sqs:SendMessage",
      "sqs:GetQueueUrl",
      "sqs:GetQueueAttributes",
    ]
    resources = [aws_sqs_queue.ical.arn]
  }
  statement {
    sid     = "ReadCalendars"
    actions = ["s3:GetObject"]
    # Calendar jobs' files, and the calendar feeds the web serves.
    resources = [
      "${aws_s3_bucket.calendars.arn}/calendars/*",
      "${aws_s3_bucket.calendars.arn}/feeds/*",
    ]
  }
  statement {
    # Without it a missing calendar reads as 403 rather than 404.
    sid       = "ListCalendars"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.calendars.arn]
  }
  statement {
    sid       = "DecryptCalendars"
    actions   = ["kms:Decrypt"]
    resources = aws_kms_key.main[*].arn
  }
}

resource "aws_iam_role" "web" {
  count              = local.make_roles ? 1 : 0
  name               = "${var.name}-web"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "web" {
  count  = local.make_roles ? 1 : 0
  name   = "queue-and-calendars"
  role   = aws_iam_role.web[0].id
  policy = data.aws_iam_policy_document.web.json
}

# --- Worker task role ---------------------------------------------------------------
data "aws_iam_policy_document" "worker" {
  statement {
    sid = "TakeJobs"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:SendMessage",
      "sqs:GetQueueUrl",
      "sqs:GetQueueAttributes",
    ]
    resources = [aws_sqs_queue.ical.arn]
  }
  statement {
    sid     = "WriteCalendars"
    actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = [
      "${aws_s3_bucket.calendars.arn}/calendars/*",
      "${aws_s3_bucket.calendars.arn}/feeds/*",
    ]
  }
  statement {
    sid       = "ListCalendars"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.calendars.arn]
  }
  statement {
    sid       = "EncryptCalendars"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = aws_kms_key.main[*].arn
  }
}

resource "aws_iam_role" "worker" {
  count              = local.make_roles ? 1 : 0
  name               = "${var.name}-worker"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "worker" {
  count  = local.make_roles ? 1 : 0
  name   = "queue-and-calendars"
  role   = aws_iam_role.worker[0].id
  policy = data.aws_iam_policy_document.worker.json
}
