from rest_framework import serializers

from todos.serializers import ApiDateTimeField, StrictCharField


class PersonalTokenSerializer(serializers.Serializer):
    """A token as its owner sees it later: never its text."""

    id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    created_at = ApiDateTimeField(source="created")
    expires_at = ApiDateTimeField(source="expiry", allow_null=True)


class PersonalTokenCreatedSerializer(PersonalTokenSerializer):
    token = serializers.CharField(
        help_text="Send as `Authorization: Bearer <token>`. Shown this once only."
    )


class PersonalTokenInputSerializer(serializers.Serializer):
    name = StrictCharField(min_length=1, max_length=100)
    expires_in_days = serializers.IntegerField(
        min_value=1, max_value=3650, required=False, allow_null=True
    )

    def to_internal_value(self, data):
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, dict) else []
        if unknown:
            raise serializers.ValidationError(
                {
                    name: ["is not a field; allowed: name, expires_in_days."]
                    for name in unknown
                }
            )
        return super().to_internal_value(data)
