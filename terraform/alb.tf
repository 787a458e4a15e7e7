# The web service behind an application load balancer: HTTPS on 443, HTTP on 80
# redirected to it, forwarded to the web tasks' port 6400 over HTTP with
# X-Forwarded-Proto (TRUST_X_FORWARDED_PROTO=true in ecs.tf).
resource "aws_lb" "web" {
  #checkov:skip=CKV2_AWS_28:A web application firewall costs more a month than this course deploy; the API has its own limits (body size, validation) and no secrets to scrape.
  #checkov:skip=CKV_AWS_91:Access logs would need a log bucket writable by the ELB service; gunicorn's access log in CloudWatch records every request that reaches the service.
  #checkov:skip=CKV_AWS_150:`terraform destroy` must remove the whole deploy in one step.
  name                       = "${var.name}-web"
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = data.aws_subnets.default.ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
}

resource "aws_lb_target_group" "web" {
  name                 = "${var.name}-web"
  port                 = 6400
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = data.aws_vpc.default.id
  deregistration_delay = 30

  health_check {
    path                = "/api/v1/health"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

# Without a certificate of yours (var.certificate_arn), one made here for the
# load balancer's own DNS name: the traffic is encrypted, but browsers warn.
resource "tls_private_key" "web" {
  count     = var.certificate_arn == null ? 1 : 0
  algorithm = "RSA"
  rsa_bits  = 2048
}

resource "tls_self_signed_cert" "web" {
  count           = var.certificate_arn == null ? 1 : 0
  private_key_pem = tls_private_key.web[0].private_key_pem
  dns_names       = [aws_lb.web.dns_name]
  # The name is in dns_names: a load balancer's name can exceed the 64
  # characters a common name may have.
  subject {
    common_name  = var.name
    organization = "TaskOverflow (self-signed)"
  }
  validity_period_hours = 24 * 365
  allowed_uses          = ["key_encipherment", "digital_signature", "server_auth"]
}

resource "aws_acm_certificate" "web" {
  count            = var.certificate_arn == null ? 1 : 0
  private_key      = tls_private_key.web[0].private_key_pem
  certificate_body = tls_self_signed_cert.web[0].cert_pem
}

locals {
  certificate_arn = var.certificate_arn != null ? var.certificate_arn : aws_acm_certificate.web[0].arn
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.web.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = local.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.web.arn
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.web.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}
