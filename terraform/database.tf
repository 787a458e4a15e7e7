# PostgreSQL for todos, jobs and task results. Reachable only from the web and
# worker tasks (security group "database"); no public address.
resource "aws_db_subnet_group" "main" {
  name       = var.name
  subnet_ids = data.aws_subnets.default.ids
}

resource "aws_db_parameter_group" "main" {
  name   = "${var.name}-postgres16"
  family = "postgres16"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  # Statements slower than a second, and every schema change, in the logs.
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
  parameter {
    name  = "log_statement"
    value = "ddl"
  }
}

resource "aws_db_instance" "main" {
  #checkov:skip=CKV_AWS_157:One instance keeps the cost of a course deploy down; set multi_az = true for a service that must survive an availability zone's outage.
  #checkov:skip=CKV_AWS_293:`terraform destroy` must remove the whole deploy in one step; a service that keeps real data turns deletion protection on.
  #checkov:skip=CKV_AWS_118:Enhanced monitoring needs an IAM role that RDS assumes, which the Learner Lab cannot make; the standard RDS metrics and the exported PostgreSQL log remain.
  #checkov:skip=CKV_AWS_353:Performance Insights is not offered on every small instance class (var.db_instance_class); statements slower than a second are logged instead (parameter group).
  identifier     = "${var.name}-db"
  engine         = "postgres"
  engine_version = "16"
  instance_class = var.db_instance_class

  allocated_storage     = 20
  max_allocated_storage = 100
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = local.kms_key_arn

  db_name  = "taskoverflow"
  username = "taskoverflow"
  # Generated here and kept in Secrets Manager (secrets.tf): never an output,
  # never in a task's plain environment.
  password = random_password.database.result

  db_subnet_group_name   = aws_db_subnet_group.main.name
  vpc_security_group_ids = [aws_security_group.database.id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.main.name

  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true
  backup_retention_period             = 7
  copy_tags_to_snapshot               = true
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  skip_final_snapshot                 = true
  apply_immediately                   = true
}
