"""The plain alternative to TaskOverflow's todo API: Flask + Flask-SQLAlchemy.

The course's week-3 design, as a competent learner writes it: one model, one
blueprint, `to_dict()` and `jsonify`, Flask-SQLAlchemy's session and its default
connection pool. It serves the six routes of the contract in README.md:

    GET /api/v1/health
    GET, POST /api/v1/todos
    GET, PUT, DELETE /api/v1/todos/<id>

It reads and writes the table that TaskOverflow's migrations create
(`todos_todo`), so both serve the same rows; it creates no table of its own.
Run it as the bench does (bench/baselines/run.py), from this folder:

    DATABASE_URL=postgres://... gunicorn -w 3 'flask_todos:create_app()'

It is a baseline, not a second product: input is checked as the contract says
(unknown fields, a missing or blank title, types, lengths, date-times), with less
ceremony than TaskOverflow's serializers; see README.md in this folder for what
it leaves out.
"""

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Flask, jsonify, request, url_for
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import BigInteger, Boolean, DateTime, String, Text, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from werkzeug.exceptions import BadRequest, HTTPException, MethodNotAllowed


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
api = Blueprint("api", __name__, url_prefix="/api/v1")

FIELDS = ("title", "description", "completed", "deadline_at")
# PostgreSQL's bigint, the type of Django's id column: a larger id is no todo.
MAX_ID = 2**63 - 1


def utc_now() -> datetime:
    return datetime.now(UTC)


class Todo(db.Model):
    """A row of TaskOverflow's table, as Django's migration made it."""

    __tablename__ = "todos_todo"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    completed: Mapped[bool] = mapped_column(Boolean, default=False)
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Django fills these in Python (auto_now_add, auto_now), not the database, so
    # the table has no server default: this side must fill them too.
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utc_now
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utc_now
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "completed": self.completed,
            "deadline_at": api_datetime(self.deadline_at, "seconds"),
            "created_at": api_datetime(self.created_at, "microseconds"),
            "updated_at": api_datetime(self.updated_at, "microseconds"),
        }


def api_datetime(value: datetime | None, timespec: str) -> str | None:
    """The contract's form: ISO 8601 in UTC without a suffix."""
    if value is None:
        return None
    # psycopg hands back timestamptz in the session's time zone, which is the
    # server's setting, not necessarily UTC.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec=timespec)


def parse_datetime(name: str, value: Any) -> datetime | None:
    """A date-time a client sent, as aware UTC; text without an offset is UTC."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(
            f"{name}: must be a date-time string such as 2023-02-27T00:00:00."
        )
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadRequest(
            f"{name}: {value!r} is not a date-time; use ISO 8601, "
            "e.g. 2023-02-27T00:00:00"
        ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def todo_fields(data: Any, *, partial: bool) -> dict[str, Any]:
    """The fields of a POST (title required) or a PUT (any of them), checked."""
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object.")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise BadRequest(
            f"{unknown[0]}: is not a field you can set; "
            f"allowed fields: {', '.join(FIELDS)}."
        )
    if not partial and "title" not in data:
        raise BadRequest("title: This field is required.")
    fields: dict[str, Any] = {}
    if "title" in data:
        title = data["title"]
        if not isinstance(title, str) or not title.strip() or len(title) > 200:
            raise BadRequest("title: must be a string of 1 to 200 characters.")
        fields["title"] = title
    if "description" in data:
        description = data["description"]
        if description is not None and (
            not isinstance(description, str) or len(description) > 5000
        ):
            raise BadRequest("description: must be null or at most 5000 characters.")
        fields["description"] = description
    if "completed" in data:
        if not isinstance(data["completed"], bool):
            raise BadRequest("completed: must be true or false.")
        fields["completed"] = data["completed"]
    if "deadline_at" in data:
        deadline = parse_datetime("deadline_at", data["deadline_at"])
        # The API shows a deadline in whole seconds; store what it shows.
        fields["deadline_at"] = (
            None if deadline is None else deadline.replace(microsecond=0)
        )
    return fields


def filtered_todos(args: dict[str, Any]) -> list[Todo]:
    """Todos in ascending id order, with the contract's `completed` and `window`."""
    query = select(Todo).order_by(Todo.id)
    completed = args.get("completed")
    if completed is not None:
        if not isinstance(completed, bool):
            if str(completed).lower() not in ("true", "false"):
                raise BadRequest(
                    f"completed: must be true or false, not {completed!r}."
                )
            completed = str(completed).lower() == "true"
        query = query.where(Todo.completed == completed)
    window = args.get("window")
    if window is not None:
        if isinstance(window, str) and window.isascii() and window.isdigit():
            window = int(window)
        if isinstance(window, bool) or not isinstance(window, int) or window < 0:
            raise BadRequest(
                f"window: must be a whole number of days, 0 or more, not {window!r}."
            )
        query = query.where(Todo.deadline_at.is_not(None))
        try:
            query = query.where(Todo.deadline_at <= utc_now() + timedelta(days=window))
        except OverflowError:
            pass  # past the year 9999: every dated todo is within the window
    return list(db.session.scalars(query))


def get_todo_or_404(todo_id: int) -> Todo:
    return db.get_or_404(Todo, todo_id, description=f"Todo {todo_id} not found.")


@api.get("/health")
def health():
    db.session.execute(text("SELECT 1"))
    return jsonify({"status": "ok"})


@api.get("/todos")
def list_todos():
    return jsonify([todo.to_dict() for todo in filtered_todos(request.args.to_dict())])


@api.post("/todos")
def create_todo():
    todo = Todo(**todo_fields(request.get_json(), partial=False))
    db.session.add(todo)
    db.session.commit()
    location = url_for("api.get_todo", todo_id=todo.id, _external=True)
    return jsonify(todo.to_dict()), 201, {"Location": location}


@api.get(f"/todos/<int(max={MAX_ID}):todo_id>")
def get_todo(todo_id: int):
    return jsonify(get_todo_or_404(todo_id).to_dict())


@api.put(f"/todos/<int(max={MAX_ID}):todo_id>")
def update_todo(todo_id: int):
    todo = get_todo_or_404(todo_id)
    for name, value in todo_fields(request.get_json(), partial=True).items():
        setattr(todo, name, value)
    # Moves on every update, as Django's auto_now does, even when nothing changed.
    todo.updated_at = utc_now()
    db.session.commit()
    return jsonify(todo.to_dict())


@api.delete(f"/todos/<int(max={MAX_ID}):todo_id>")
def delete_todo(todo_id: int):
    todo = db.session.get(Todo, todo_id)
    if todo is None:
        return jsonify({})
    deleted = todo.to_dict()  # before the commit, which expires the object
    db.session.delete(todo)
    db.session.commit()
    return jsonify(deleted)


def json_error(error: HTTPException):
    """Every error under the API is JSON {"error": "..."}, as the contract says."""
    response = jsonify({"error": error.description})
    response.status_code = error.code
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def sqlalchemy_url(url: str) -> str:
    """DATABASE_URL as TaskOverflow takes it (postgres://...) for psycopg 3."""
    scheme, rest = url.split("://", 1)
    if scheme in ("postgres", "postgresql"):
        scheme = "postgresql+psycopg"
    return f"{scheme}://{rest}"


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = sqlalchemy_url(os.environ["DATABASE_URL"])
    # The contract's field order and UTF-8 text, as TaskOverflow sends them, so
    # both answers are the same bytes; Flask would sort keys and escape non-ASCII.
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    # "Every path answers with and without a trailing slash."
    app.url_map.strict_slashes = False
    db.init_app(app)
    app.register_blueprint(api)
    app.register_error_handler(HTTPException, json_error)
    return app
