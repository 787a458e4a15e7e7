"""The queue demo, `manage.py queue`: publishers and subscribers of an SQS
standard or FIFO queue, to watch order and duplicates. It shares nothing with
the todo service but its settings."""
