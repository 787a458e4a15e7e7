# The account's default VPC and its subnets (one per availability zone), as the
# Learner Lab provides them. Tasks get public addresses to reach ECR, SQS, S3,
# Secrets Manager and CloudWatch without a NAT gateway; the security groups
# below admit no one to them but the load balancer.
data "aws_vpc" "default" {
  default = true
}

data "aws_subnets" "default" {
  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.default.id]
  }
  filter {
    name   = "default-for-az"
    values = ["true"]
  }
}

# --- Load balancer: HTTPS (and HTTP, redirected) from anywhere ------------------
resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "The web load balancer: HTTP and HTTPS from anywhere"
  vpc_id      = data.aws_vpc.default.id
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from anywhere"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  #checkov:skip=CKV_AWS_260:Port 80 only answers with a redirect to HTTPS (listener "http"), so that people who type the bare name get there.
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from anywhere, redirected to HTTPS"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "alb_to_web" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the web tasks and their health checks"
  ip_protocol                  = "tcp"
  from_port                    = 6400
  to_port                      = 6400
  referenced_security_group_id = aws_security_group.web.id
}

# --- Web tasks: port 6400 from the load balancer only ---------------------------
resource "aws_security_group" "web" {
  name        = "${var.name}-web"
  description = "Web tasks: port 6400 from the load balancer only"
  vpc_id      = data.aws_vpc.default.id
}

resource "aws_vpc_security_group_ingress_rule" "web_from_alb" {
  security_group_id            = aws_security_group.web.id
  description                  = "gunicorn, from the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = 6400
  to_port                      = 6400
  referenced_security_group_id = aws_security_group.alb.id
}

# --- Worker tasks: nothing comes in ---------------------------------------------
resource "aws_security_group" "worker" {
  name        = "${var.name}-worker"
  description = "Worker tasks: no inbound traffic"
  vpc_id      = data.aws_vpc.default.id
}

# Both kinds of task reach AWS's APIs over HTTPS, and PostgreSQL.
resource "aws_vpc_security_group_egress_rule" "tasks_to_aws" {
  for_each = {
    web    = aws_security_group.web.id
    worker = aws_security_group.worker.id
  }
  security_group_id = each.value
  description       = "HTTPS to AWS APIs: ECR, SQS, S3, Secrets Manager, CloudWatch"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_database" {
  for_each = {
    web    = aws_security_group.web.id
    worker = aws_security_group.worker.id
  }
  security_group_id            = each.value
  description                  = "PostgreSQL"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.database.id
}

# --- Database: PostgreSQL from the web and worker tasks only --------------------
resource "aws_security_group" "database" {
  name        = "${var.name}-database"
  description = "PostgreSQL: from the web and worker tasks only"
  vpc_id      = data.aws_vpc.default.id
}

resource "aws_vpc_security_group_ingress_rule" "database_from_tasks" {
  for_each = {
    web    = aws_security_group.web.id
    worker = aws_security_group.worker.id
  }
  security_group_id            = aws_security_group.database.id
  description                  = "PostgreSQL from the ${each.key} tasks"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = each.value
}
