"""The endpoints that belong to no domain: the service's health."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.health import service_problems


class HealthView(APIView):
    # Load balancers and container checks ask without signing in.
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses={
            200: inline_serializer("Health", {"status": serializers.CharField()}),
            503: inline_serializer(
                "Unhealthy",
                {
                    "status": serializers.CharField(),
                    "database": serializers.CharField(),
                    "broker": serializers.CharField(),
                },
            ),
        }
    )
    def get(self, request: Request) -> Response:
        """{"status": "ok"} when the database and the broker answer, within 3 s.

        Otherwise 503 {"status": "error", "database": ..., "broker": ...}, each
        "ok" or what is wrong with it.
        """
        problems = service_problems()
        if not any(problems.values()):
            return Response({"status": "ok"})
        return Response(
            {"status": "error"}
            | {name: problem or "ok" for name, problem in problems.items()},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
