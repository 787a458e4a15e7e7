# Two generated values that the tasks receive from Secrets Manager at start
# (container "secrets" in ecs.tf), readable by the execution role only.
resource "random_password" "database" {
  length = 32
  # RDS refuses /, @, " and spaces in a master password.
  override_special = "!#%^*()-_=+[]{}:,.?~"
}

resource "random_password" "secret_key" {
  length  = 64
  special = false
}

resource "aws_secretsmanager_secret" "database" {
  #checkov:skip=CKV2_AWS_57:Tasks read the password when they start; rotating it needs the services redeployed with it, which no rotation function here does. Rotate with `terraform apply -replace=random_password.database`.
  name_prefix             = "${var.name}-database-"
  description             = "${var.name}: the PostgreSQL master user (RDS secret format)"
  kms_key_id              = local.kms_key_arn
  recovery_window_in_days = 0
}

resource "aws_secretsmanager_secret_version" "database" {
  secret_id = aws_secretsmanager_secret.database.id
  secret_string = jsonencode({
    engine   = "postgres"
    host     = aws_db_instance.main.address
    port     = aws_db_instance.main.port
    dbname   = aws_db_instance.main.db_name
    username = aws_db_instance.main.username
    password = random_password.database.result
  })
}

resource "aws_secretsmanager_secret" "django" {
  #checkov:skip=CKV2_AWS_57:Django's SECRET_KEY signs sessions; a new one logs everyone out, so it changes by `terraform apply -replace=random_password.secret_key`, not on a timer.
  name_prefix             = "${var.name}-django-"
  description             = "${var.name}: Django's SECRET_KEY"
  kms_key_id              = local.kms_key_arn
  recovery_window_in_days = 0
}

resource "aws_secretsmanager_secret_version" "django" {
  secret_id     = aws_secretsmanager_secret.django.id
  secret_string = jsonencode({ secret_key = random_password.secret_key.result })
}
