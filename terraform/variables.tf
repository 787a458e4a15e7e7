variable "region" {
  description = "AWS region for everything."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Prefix of every resource's name."
  type        = string
  default     = "taskoverflow"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name: 2 to 21 lower-case letters, digits or dashes, starting with a letter."
  }
}

variable "image_tag" {
  description = "Tag of the image in the ECR repository that both services run (README: the git commit)."
  type        = string
}

variable "existing_role_name" {
  description = "Name of an existing IAM role to use as both task role and execution role instead of the roles made here (the AWS Academy Learner Lab allows only its own: LabRole). Null: make least-privilege roles."
  type        = string
  default     = null
}

variable "certificate_arn" {
  description = "ACM certificate for the load balancer's HTTPS listener. Null: a self-signed certificate for the load balancer's DNS name is made and imported (browsers warn; curl needs -k)."
  type        = string
  default     = null
}

variable "allowed_hosts" {
  description = "Host names the web service answers to besides the load balancer's DNS name (e.g. the domain of certificate_arn)."
  type        = list(string)
  default     = []
}

variable "web_count" {
  description = "Number of web tasks."
  type        = number
  default     = 1
}

variable "web_concurrency" {
  description = "gunicorn worker processes in each web task."
  type        = number
  default     = 2
}

variable "worker_max_count" {
  description = "Most worker tasks that the ical queue's backlog scales out to (at least 1 always runs)."
  type        = number
  default     = 4
}

variable "worker_backlog_per_task" {
  description = "Jobs waiting in the ical queue per worker task that the worker service scales to keep."
  type        = number
  default     = 10
}

variable "ical_time_limit" {
  description = "A calendar job's hard time limit in seconds. A worker that is stopped (scale-in, deploy) finishes its job first, and Fargate waits at most 120 s for that."
  type        = number
  default     = 100

  validation {
    condition     = var.ical_time_limit >= 10 && var.ical_time_limit <= 110
    error_message = "ical_time_limit: 10 to 110 seconds, so that a job ends within the worker's 120 s stop timeout."
  }
}

variable "db_instance_class" {
  description = "RDS instance class for PostgreSQL."
  type        = string
  default     = "db.t3.micro"
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the services' logs."
  type        = number
  default     = 365
}
