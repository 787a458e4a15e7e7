from typing import Any

from rest_framework import serializers

from todos.serializers import TodoFilterSerializer


class CalendarExportRequestSerializer(TodoFilterSerializer):
    """The filters of a calendar job, from the query string or a JSON body."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {
                    name: ["is not a filter; allowed: completed, window."]
                    for name in unknown
                }
            )
        return super().to_internal_value(data)


class CalendarExportCreatedSerializer(serializers.Serializer):
    task_id = serializers.UUIDField()
    task_url = serializers.URLField()


class CalendarExportStatusSerializer(serializers.Serializer):
    task_id = serializers.UUIDField()
    task_status = serializers.ChoiceField(
        choices=["PENDING", "STARTED", "SUCCESS", "FAILURE", "RETRY"]
    )
    result_url = serializers.URLField()


class CalendarExportFailedSerializer(serializers.Serializer):
    error = serializers.CharField()
    detail = serializers.CharField(required=False)


class CalendarFeedSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="The feed's secret http(s) URL.")
    webcal = serializers.CharField(
        help_text="The same as webcal://, which opens a calendar app to subscribe."
    )
