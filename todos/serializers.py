"""How todos cross the API: strict input fields, and the JSON form clients expect."""

import copy
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema_field
from rest_framework import serializers

from todos.datetimes import format_api_datetime, parse_api_datetime
from todos.models import Todo


class StrictCharField(serializers.CharField):
    """A string and nothing else: DRF would quietly turn 5 into "5"."""

    default_error_messages = {"invalid": "must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false only: DRF would take "yes", "1" and 0 as booleans."""

    default_error_messages = {"invalid": "must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


@extend_schema_field(
    {
        "type": "string",
        "description": "ISO 8601 date-time in UTC without a timezone suffix. "
        "Input also takes a space for the T, fractional seconds, Z or an offset.",
        "example": "2023-02-27T00:00:00",
        "pattern": r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?$",
    }
)
class ApiDateTimeField(serializers.Field):
    """A date-time in the API's form; see todos.datetimes."""

    def __init__(self, *, timespec: str = "seconds", **kwargs: Any) -> None:
        self.timespec = timespec
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any):
        if not isinstance(data, str):
            raise serializers.ValidationError(
                "must be a date-time string such as 2023-02-27T00:00:00."
            )
        try:
            parsed = parse_api_datetime(data)
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from None
        # The API shows whole seconds; store what it shows.
        return parsed.replace(microsecond=0) if self.timespec == "seconds" else parsed

    def to_representation(self, value) -> str:
        return format_api_datetime(value, timespec=self.timespec)


class TodoSerializer(serializers.ModelSerializer):
    """A todo as the API shows it."""

    deadline_at = ApiDateTimeField(allow_null=True)
    created_at = ApiDateTimeField(timespec="microseconds", read_only=True)
    updated_at = ApiDateTimeField(timespec="microseconds", read_only=True)

    class Meta:
        model = Todo
        fields = [
            "id",
            "title",
            "description",
            "completed",
            "deadline_at",
            "created_at",
            "updated_at",
        ]

    def to_representation(self, instance: Todo) -> dict[str, Any]:
        """What the fields above give, without DRF's machinery for each field.

        Measured here, serialising 10,000 todos took 0.41 s through the fields
        and 0.09 s here; a test holds this to DRF's own field-by-field result.
        """
        deadline_at = instance.deadline_at
        return {
            "id": instance.id,
            "title": instance.title,
            "description": instance.description,
            "completed": instance.completed,
            "deadline_at": None
            if deadline_at is None
            else format_api_datetime(deadline_at),
            "created_at": format_api_datetime(
                instance.created_at, timespec="microseconds"
            ),
            "updated_at": format_api_datetime(
                instance.updated_at, timespec="microseconds"
            ),
        }


class TodoInputSerializer(serializers.Serializer):
    """What a client may send to create or change a todo, and nothing more."""

    title = StrictCharField(min_length=1, max_length=200, trim_whitespace=False)
    description = StrictCharField(
        max_length=5000, allow_null=True, allow_blank=True, trim_whitespace=False
    )
    completed = StrictBooleanField()
    deadline_at = ApiDateTimeField(allow_null=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.partial:
            self.fields["description"].required = False
            self.fields["completed"].required = False
            self.fields["deadline_at"].required = False

    def get_fields(self) -> dict[str, serializers.Field]:
        """The declared fields, each a shallow copy for this serializer to bind.

        DRF deep-copies them for every serializer, which makes each field and
        its validators anew: over half of a todo POST's validation time
        (docs/benchmarks.md). A copy's own state is set by assignment (its
        binding, `required` above), never by changing what it shares with the
        declared field, which stays unbound."""
        return {name: copy.copy(field) for name, field in self._declared_fields.items()}

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, dict) else []
        if unknown:
            allowed = ", ".join(self.fields)
            raise serializers.ValidationError(
                {
                    name: [f"is not a field you can set; allowed fields: {allowed}."]
                    for name in unknown
                }
            )
        return super().to_internal_value(data)

    def validate_title(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("must not be blank.")
        return value


@extend_schema_field({"type": "boolean"})
class QueryBooleanField(serializers.Field):
    """true or false, from a query string (any case) or a JSON boolean."""

    def to_internal_value(self, data: Any) -> bool:
        if isinstance(data, bool):
            return data
        if isinstance(data, str) and data.lower() in ("true", "false"):
            return data.lower() == "true"
        raise serializers.ValidationError(f"must be true or false, not {data!r}.")

    def to_representation(self, value: bool) -> bool:
        return value


# Any window from now past the year 9999 keeps every dated todo; larger numbers
# mean the same, and are held to this so they fit an integer column.
MAX_WINDOW_DAYS = 3_660_000


@extend_schema_field({"type": "integer", "minimum": 0})
class WindowDaysField(serializers.Field):
    """A whole number of days, 0 or more, from a query string or a JSON number."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str) and data.isascii() and data.isdigit():
            days = int(data)
        elif isinstance(data, int) and not isinstance(data, bool):
            days = data
        else:
            days = -1
        if not 0 <= days:
            raise serializers.ValidationError(
                f"must be a whole number of days, 0 or more, not {data!r}."
            )
        return min(days, MAX_WINDOW_DAYS)

    def to_representation(self, value: int) -> int:
        return value


class TodoFilterSerializer(serializers.Serializer):
    """The filters of a todo listing: `completed=true|false` and `window=N` days."""

    completed = QueryBooleanField(required=False)
    window = WindowDaysField(required=False)


# The same filters as query parameters in the OpenAPI schema (GET /todos, and
# the calendar jobs, which take them too).
FILTER_PARAMETERS = [
    OpenApiParameter(
        "completed", str, enum=["true", "false"], description="Keep only these."
    ),
    OpenApiParameter(
        "window",
        {"type": "integer", "minimum": 0},
        description="Keep todos due within this many days from now, overdue "
        "ones included; todos without a deadline are left out.",
    ),
]


# The longest page a client may ask for.
MAX_PAGE_SIZE = 1000


@extend_schema_field({"type": "integer", "minimum": 0})
class QueryIntegerField(serializers.Field):
    """A whole number from a query string, within [minimum, maximum]."""

    def __init__(self, *, minimum: int, maximum: int, **kwargs: Any) -> None:
        self.minimum, self.maximum = minimum, maximum
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        number = (
            int(data)
            if isinstance(data, str) and data.isascii() and data.isdigit()
            else None
        )
        if number is None or not self.minimum <= number <= self.maximum:
            raise serializers.ValidationError(
                f"must be a whole number from {self.minimum} to {self.maximum}, "
                f"not {data!r}."
            )
        return number

    def to_representation(self, value: int) -> int:
        return value


class TodoPageSerializer(serializers.Serializer):
    """A page of the list, for clients that ask for one: `limit` todos with ids
    above `after`. Without `limit` the list is whole, as the contract has it."""

    limit = QueryIntegerField(minimum=1, maximum=MAX_PAGE_SIZE, required=False)
    after = QueryIntegerField(minimum=0, maximum=2**63 - 1, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "after" in attrs and "limit" not in attrs:
            raise serializers.ValidationError({"after": ["needs limit as well."]})
        return attrs


PAGE_PARAMETERS = [
    OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
        description="Answer at most this many todos, and a `Link` header with "
        'rel="next" when there are more. Without it, the whole list.',
    ),
    OpenApiParameter(
        "after",
        {"type": "integer", "minimum": 0},
        description="With `limit`: only todos whose id is greater (the next "
        "page's link sets it).",
    ),
    OpenApiParameter(
        "Link",
        str,
        location=OpenApiParameter.HEADER,
        response=[200],
        description='With `limit`, when there are more todos: `<URL>; rel="next"`, '
        "the next page.",
    ),
]
