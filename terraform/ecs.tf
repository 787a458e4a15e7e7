# Two services from the one image (ECR, var.image_tag): `web` behind the load
# balancer and `worker`, which scales out on the ical queue's backlog.
locals {
  image = "${aws_ecr_repository.app.repository_url}:${var.image_tag}"
  # SQS keeps a taken message from other workers for longer than a job may run.
  ical_visibility_timeout = var.ical_time_limit + 60

  # What both services read (README.md, "Configuration"). The two secrets are
  # not here: they come from Secrets Manager (local.secrets).
  app_environment = {
    DEBUG                   = "false"
    ACCOUNTS                = "required"
    ALLOWED_HOSTS           = join(",", concat([aws_lb.web.dns_name], var.allowed_hosts))
    TRUST_X_FORWARDED_PROTO = "true"
    DATABASE_URL            = "postgres://${aws_db_instance.main.username}@${aws_db_instance.main.address}:${aws_db_instance.main.port}/${aws_db_instance.main.db_name}?sslmode=require"
    DATABASE_WAIT_TIMEOUT   = "60"
    CELERY_BROKER_URL       = "sqs://"
    CELERY_DEFAULT_QUEUE    = aws_sqs_queue.ical.name
    SQS_QUEUE_URL           = aws_sqs_queue.ical.url
    CELERY_RESULT_BACKEND   = "django-db"
    AWS_DEFAULT_REGION      = var.region
    CALENDAR_BUCKET         = aws_s3_bucket.calendars.bucket
    ICAL_TIME_LIMIT         = tostring(var.ical_time_limit)
    LOG_LEVEL               = "INFO"
    # The root filesystem is read-only, and Fargate mounts an empty task volume
    # as a root-owned 0755 folder that the image's user cannot write; /dev/shm
    # is writable by every user on Fargate (memory of the task's own). Celery's
    # pool and the calendar writer need a temporary directory at start.
    TMPDIR = "/dev/shm"
    # Throttle counts shared by every process and task: Django's database
    # cache, its table made by the migrate task.
    CACHE_URL = "dbcache://taskoverflow_cache"
  }
  web_environment = {
    WEB_BIND        = "0.0.0.0:6400"
    WEB_CONCURRENCY = tostring(var.web_concurrency)
    # Behind the load balancer: a client is the address it names in
    # X-Forwarded-For (for the per-client limits), and kept-alive connections
    # outlive its 60 s idle timeout, so that it never sends on one being closed.
    NUM_PROXIES   = "1"
    WEB_KEEPALIVE = "65"
    # A line per request in CloudWatch: the service's access log (alb.tf).
    WEB_ACCESS_LOG = "-"
  }
  secrets = [
    { name = "SECRET_KEY", valueFrom = "${aws_secretsmanager_secret.django.arn}:secret_key::" },
    { name = "DATABASE_PASSWORD", valueFrom = "${aws_secretsmanager_secret.database.arn}:password::" },
  ]

  web_container = {
    name      = "web"
    image     = local.image
    essential = true
    command   = ["gunicorn", "-c", "python:taskoverflow.gunicorn_conf", "taskoverflow.wsgi"]
    environment = [
      for name, value in merge(local.app_environment, local.web_environment) :
      { name = name, value = value }
    ]
    secrets      = local.secrets
    portMappings = [{ containerPort = 6400, protocol = "tcp" }]
    # gunicorn stops taking requests and finishes those it has.
    stopTimeout = 30
    # Nothing writes to the image (gunicorn's heartbeats go to /dev/shm).
    readonlyRootFilesystem = true
    # The image's HEALTHCHECK, which ECS runs only when named here.
    healthCheck = {
      command     = ["CMD", "python", "-m", "taskoverflow.healthcheck"]
      interval    = 30
      timeout     = 10
      retries     = 3
      startPeriod = 60
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.web.name
        awslogs-region        = var.region
        awslogs-stream-prefix = "web"
      }
    }
  }

  worker_container = {
    name      = "worker"
    image     = local.image
    essential = true
    command   = ["celery", "-A", "taskoverflow", "worker", "-l", "INFO"]
    environment = [
      for name, value in local.app_environment : { name = name, value = value }
    ]
    secrets = local.secrets
    # On SIGTERM (scale-in, deploy) Celery finishes the job it runs, which takes
    # at most ICAL_TIME_LIMIT seconds; 120 is the most Fargate waits.
    stopTimeout            = 120
    readonlyRootFilesystem = true
    # The worker's own event loop touches its sign of life (worker_alive.py).
    healthCheck = {
      command     = ["CMD", "python", "-m", "taskoverflow.healthcheck", "worker"]
      interval    = 30
      timeout     = 10
      retries     = 3
      startPeriod = 60
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.worker.name
        awslogs-region        = var.region
        awslogs-stream-prefix = "worker"
      }
    }
  }

  # One-off, before the services serve or work (terraform/run-migrate-task.sh):
  # applies the migrations and makes the cache table, then exits.
  migrate_container = {
    name      = "migrate"
    image     = local.image
    essential = true
    command   = ["migrate"]
    environment = [
      for name, value in local.app_environment : { name = name, value = value }
    ]
    secrets                = local.secrets
    readonlyRootFilesystem = true
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.web.name
        awslogs-region        = var.region
        awslogs-stream-prefix = "migrate"
      }
    }
  }
}

resource "aws_cloudwatch_log_group" "web" {
  name              = "/ecs/${var.name}/web"
  retention_in_days = var.log_retention_days
  kms_key_id        = local.kms_key_arn
}

resource "aws_cloudwatch_log_group" "worker" {
  name              = "/ecs/${var.name}/worker"
  retention_in_days = var.log_retention_days
  kms_key_id        = local.kms_key_arn
}

resource "aws_ecs_cluster" "main" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_task_definition" "web" {
  family                   = "${var.name}-web"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 512
  memory                   = 1024
  execution_role_arn       = local.execution_role_arn
  task_role_arn            = local.web_role_arn
  container_definitions    = jsonencode([local.web_container])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
}

resource "aws_ecs_task_definition" "worker" {
  family                   = "${var.name}-worker"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 512
  memory                   = 1024
  execution_role_arn       = local.execution_role_arn
  task_role_arn            = local.worker_role_arn
  container_definitions    = jsonencode([local.worker_container])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
}

# Run by terraform/run-migrate-task.sh; it reaches only the database (no task role).
resource "aws_ecs_task_definition" "migrate" {
  family                   = "${var.name}-migrate"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = local.execution_role_arn
  container_definitions    = jsonencode([local.migrate_container])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
}

resource "aws_ecs_service" "web" {
  #checkov:skip=CKV_AWS_333:The default VPC has no NAT gateway (it would cost more than the rest): tasks need public addresses to reach ECR, SQS, S3 and Secrets Manager. Their security group admits only the load balancer.
  name             = "web"
  cluster          = aws_ecs_cluster.main.id
  task_definition  = aws_ecs_task_definition.web.arn
  desired_count    = var.web_count
  launch_type      = "FARGATE"
  platform_version = "LATEST"
  # The first task migrates the database before it answers.
  health_check_grace_period_seconds = 120
  propagate_tags                    = "SERVICE"

  network_configuration {
    subnets          = data.aws_subnets.default.ids
    security_groups  = [aws_security_group.web.id]
    assign_public_ip = true
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.web.arn
    container_name   = "web"
    container_port   = 6400
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  depends_on = [aws_lb_listener.https]
}

resource "aws_ecs_service" "worker" {
  #checkov:skip=CKV_AWS_333:The default VPC has no NAT gateway (it would cost more than the rest): tasks need public addresses to reach ECR, SQS, S3 and Secrets Manager. Their security group admits nothing inbound.
  name             = "worker"
  cluster          = aws_ecs_cluster.main.id
  task_definition  = aws_ecs_task_definition.worker.arn
  desired_count    = 1
  launch_type      = "FARGATE"
  platform_version = "LATEST"
  propagate_tags   = "SERVICE"

  network_configuration {
    subnets          = data.aws_subnets.default.ids
    security_groups  = [aws_security_group.worker.id]
    assign_public_ip = true
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  # The number of workers is the autoscaler's (below), not this file's.
  lifecycle {
    ignore_changes = [desired_count]
  }
}

# --- The worker scales on the ical queue ---------------------------------------------
resource "aws_appautoscaling_target" "worker" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.worker.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = 1
  max_capacity       = var.worker_max_count
}

# Keeps the jobs waiting per worker (ApproximateNumberOfMessagesVisible divided by
# the running workers) near var.worker_backlog_per_task.
resource "aws_appautoscaling_policy" "worker_backlog" {
  name               = "${var.name}-worker-backlog"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.worker.service_namespace
  resource_id        = aws_appautoscaling_target.worker.resource_id
  scalable_dimension = aws_appautoscaling_target.worker.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.worker_backlog_per_task
    scale_out_cooldown = 60
    scale_in_cooldown  = 300

    customized_metric_specification {
      metrics {
        id          = "waiting"
        label       = "Jobs waiting in the ical queue"
        return_data = false
        metric_stat {
          stat = "Average"
          metric {
            namespace   = "AWS/SQS"
            metric_name = "ApproximateNumberOfMessagesVisible"
            dimensions {
              name  = "QueueName"
              value = aws_sqs_queue.ical.name
            }
          }
        }
      }
      metrics {
        id          = "workers"
        label       = "Running worker tasks"
        return_data = false
        metric_stat {
          stat = "Average"
          metric {
            namespace   = "ECS/ContainerInsights"
            metric_name = "RunningTaskCount"
            dimensions {
              name  = "ClusterName"
              value = aws_ecs_cluster.main.name
            }
            dimensions {
              name  = "ServiceName"
              value = aws_ecs_service.worker.name
            }
          }
        }
      }
      metrics {
        id          = "backlog_per_worker"
        label       = "Jobs waiting per worker"
        expression  = "waiting / workers"
        return_data = true
      }
    }
  }
}
