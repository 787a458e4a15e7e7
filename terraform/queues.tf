# The job queue: the web service sends calendar jobs, the worker service takes
# them. Every name starts with var.name, so that two deploys share an account; the
# services never make queues (SQS_QUEUE_URL names this one), so its attributes
# are terraform's alone. A message is hidden from other workers while one works on it, for longer
# than a job may take (its hard time limit), so a slow job never runs twice at
# once; one that fails delivery maxReceiveCount times goes to the dead letters.
resource "aws_sqs_queue" "ical" {
  name                       = "${var.name}-ical"
  sqs_managed_sse_enabled    = true
  visibility_timeout_seconds = local.ical_visibility_timeout
  receive_wait_time_seconds  = 10
  message_retention_seconds  = 4 * 24 * 3600

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.ical_dead_letter.arn
    maxReceiveCount     = 5
  })
}

resource "aws_sqs_queue" "ical_dead_letter" {
  name                      = "${var.name}-ical-dead-letter"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 14 * 24 * 3600
}

resource "aws_sqs_queue_redrive_allow_policy" "ical_dead_letter" {
  queue_url = aws_sqs_queue.ical_dead_letter.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.ical.arn]
  })
}

# The queues of the queue demo command (the course's practical): one standard,
# one FIFO that drops a message whose body was already sent within 5 minutes.
resource "aws_sqs_queue" "prac" {
  name                    = "${var.name}-csse6400_prac"
  sqs_managed_sse_enabled = true
}

resource "aws_sqs_queue" "prac_fifo" {
  name                        = "${var.name}-csse6400_prac.fifo"
  fifo_queue                  = true
  content_based_deduplication = true
  sqs_managed_sse_enabled     = true
}
