"""The todo API under /api/v1: parse input, call a service, shape the output."""

from collections.abc import Iterator
from urllib.parse import urlencode

from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.owners import request_owner
from api.paths import path_of
from api.schema import ERRORS, WRITE_ERRORS
from api.throttling import TodoWriteThrottle
from todos.models import Todo
from todos.rendering import todo_json, todo_page_json, todos_json
from todos.selectors import todo_get, todo_list
from todos.serializers import (
    FILTER_PARAMETERS,
    PAGE_PARAMETERS,
    TodoFilterSerializer,
    TodoInputSerializer,
    TodoPageSerializer,
    TodoSerializer,
)
from todos.services import todo_create, todo_delete, todo_update


def _todo_path(todo: Todo) -> str:
    return path_of("todos:detail", "todo_id", todo.pk)


def _json_answer(content: bytes | Iterator[bytes]) -> HttpResponse:
    """JSON written by todos.rendering: whole, or streamed when it is long."""
    if isinstance(content, bytes):
        return HttpResponse(content, content_type="application/json")
    return StreamingHttpResponse(content, content_type="application/json")


def _todo_or_404(request: Request, todo_id: int) -> Todo:
    # Another user's todo answers as one that does not exist: never confirm it.
    todo = todo_get(todo_id=todo_id, owner=request_owner(request))
    if todo is None:
        raise NotFound(f"Todo {todo_id} not found.")
    return todo


def _plain_json(request: Request) -> bool:
    """Whether the answer is plain JSON, which todos.rendering writes; the
    browsable API and indented JSON go through DRF's renderers."""
    media_type = request.accepted_media_type or ""
    return request.accepted_renderer.format == "json" and "indent" not in media_type


def _next_page_link(request: Request, after: int) -> str:
    query = {**request.query_params.dict(), "after": str(after)}
    url = request.build_absolute_uri(request.path)
    return f'<{url}?{urlencode(query)}>; rel="next"'


class TodoListView(APIView):
    throttle_classes = [TodoWriteThrottle]

    @extend_schema(
        parameters=FILTER_PARAMETERS + PAGE_PARAMETERS,
        responses={200: TodoSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> HttpResponse:
        """The todos in ascending id order; filters combine. With `limit`, a
        page of them and a link to the next."""
        filters = TodoFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        page = TodoPageSerializer(data=request.query_params.dict())
        page.is_valid(raise_exception=True)
        owner = request_owner(request)
        whole = "limit" not in page.validated_data
        if whole and _plain_json(request):
            return _json_answer(todos_json(owner=owner, **filters.validated_data))
        todos = todo_list(owner=owner, **filters.validated_data)
        if whole:
            return Response(TodoSerializer(todos, many=True).data)
        return self._page(request, todos, **page.validated_data)

    def _page(
        self, request: Request, todos: QuerySet[Todo], *, limit: int, after: int = 0
    ) -> HttpResponse:
        todos = todos.filter(id__gt=after)
        if _plain_json(request):
            content, next_after = todo_page_json(todos, limit=limit)
            response = _json_answer(content)
        else:
            shown = list(todos[: limit + 1])
            next_after = shown[limit - 1].pk if len(shown) > limit else None
            response = Response(TodoSerializer(shown[:limit], many=True).data)
        if next_after is not None:
            response["Link"] = _next_page_link(request, next_after)
        return response

    @extend_schema(
        request=TodoInputSerializer,
        responses={201: TodoSerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        """Create a todo; only title, description, completed and deadline_at."""
        todo_input = TodoInputSerializer(data=request.data)
        todo_input.is_valid(raise_exception=True)
        todo = todo_create(owner=request_owner(request), **todo_input.validated_data)
        return Response(
            TodoSerializer(todo).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": request.build_absolute_uri(_todo_path(todo))},
        )


class TodoDetailView(APIView):
    throttle_classes = [TodoWriteThrottle]

    @extend_schema(responses={200: TodoSerializer, **ERRORS})
    def get(self, request: Request, todo_id: str) -> HttpResponse:
        if _plain_json(request):
            content = todo_json(todo_id=int(todo_id), owner=request_owner(request))
            if content is None:
                raise NotFound(f"Todo {todo_id} not found.")
            return _json_answer(content)
        return Response(TodoSerializer(_todo_or_404(request, int(todo_id))).data)

    @extend_schema(
        request=TodoInputSerializer(partial=True),
        responses={200: TodoSerializer, **WRITE_ERRORS},
    )
    def put(self, request: Request, todo_id: str) -> Response:
        """Change the fields sent, and only those; answers the whole todo."""
        try:
            changes = TodoInputSerializer(data=request.data, partial=True)
            changes.is_valid(raise_exception=True)
        except APIException:
            # A todo that is not there is a 404, whatever the body says.
            _todo_or_404(request, int(todo_id))
            raise
        todo = todo_update(
            todo_id=int(todo_id),
            changes=changes.validated_data,
            owner=request_owner(request),
        )
        if todo is None:
            raise NotFound(f"Todo {todo_id} not found.")
        return Response(TodoSerializer(todo).data)

    @extend_schema(
        responses={
            200: {
                "oneOf": [
                    {"$ref": "#/components/schemas/Todo"},
                    {"type": "object", "maxProperties": 0},
                ]
            },
            **WRITE_ERRORS,
        },
        description="Answers the deleted todo, or {} when there was no such todo "
        "(also when it is another user's: nothing says it exists).",
    )
    def delete(self, request: Request, todo_id: str) -> Response:
        todo = todo_delete(todo_id=int(todo_id), owner=request_owner(request))
        return Response(TodoSerializer(todo).data if todo is not None else {})
