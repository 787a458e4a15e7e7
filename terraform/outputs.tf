output "web_url" {
  description = "The service (the page, the API under /api/v1)."
  value       = "https://${aws_lb.web.dns_name}"
}

output "queue_urls" {
  description = "The SQS queues: the job queue, its dead letters, and the queue demo's two."
  value = {
    ical                 = aws_sqs_queue.ical.url
    ical_dead_letter     = aws_sqs_queue.ical_dead_letter.url
    csse6400_prac        = aws_sqs_queue.prac.url
    "csse6400_prac.fifo" = aws_sqs_queue.prac_fifo.url
  }
}

output "ecr_repository_url" {
  description = "Where `docker push` sends the image (tag it var.image_tag)."
  value       = aws_ecr_repository.app.repository_url
}

output "calendar_bucket" {
  description = "The private S3 bucket of generated calendars."
  value       = aws_s3_bucket.calendars.bucket
}

output "cluster_name" {
  description = "The ECS cluster of the web and worker services."
  value       = aws_ecs_cluster.main.name
}

output "migrate_task" {
  description = "What terraform/run-migrate-task.sh runs: the migrate task definition, and the network of the worker tasks (which reach the database)."
  value = {
    task_definition = aws_ecs_task_definition.migrate.arn
    subnets         = data.aws_subnets.default.ids
    security_group  = aws_security_group.worker.id
  }
}
