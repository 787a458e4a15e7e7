from django.apps import AppConfig


class QueuedemoConfig(AppConfig):
    name = "queuedemo"
    verbose_name = "SQS queue demo"
