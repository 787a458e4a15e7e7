"""The plain alternative's calendar jobs: Flask + Celery (the course's week 7).

The week-3 app (flask_todos) plus three routes:

    POST /api/v1/todos/ical                    202 {"task_id", "task_url"}
    GET  /api/v1/todos/ical/<task_id>/status   {"task_id", "task_status", ...}
    GET  /api/v1/todos/ical/<task_id>/result   the .ics once SUCCESS

POST reads the todos (with the contract's `completed` and `window` filters) and
sends them in the message; the job has no row of its own: its status is
Celery's, read from the Redis result backend with `AsyncResult(task_id).state`.
Run from this folder, beside a worker of flask_celery_tasks:

    DATABASE_URL=... CELERY_BROKER_URL=redis://... CELERY_RESULT_BACKEND=redis://... \
        gunicorn -w 3 'flask_celery:create_app()'
"""

from celery.result import AsyncResult
from flask import Blueprint, Flask, jsonify, request, url_for
from flask_celery_tasks import celery, create_ical
from flask_todos import create_app as create_todo_app
from flask_todos import filtered_todos
from werkzeug.exceptions import BadRequest

ical_api = Blueprint("ical", __name__, url_prefix="/api/v1/todos/ical")


@ical_api.post("")
def create_calendar():
    # Filters in the query string or a JSON body, as TaskOverflow takes them.
    filters = request.args.to_dict()
    if request.content_length:
        body = request.get_json()
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object.")
        filters.update(body)
    todos = [todo.to_dict() for todo in filtered_todos(filters)]
    try:
        task = create_ical.delay(todos)
    except Exception:
        # Redis refused the message (kombu's error types vary by transport).
        return jsonify({"error": "Could not queue the job."}), 503
    task_url = url_for("ical.calendar_status", task_id=task.id, _external=True)
    return (
        jsonify({"task_id": task.id, "task_url": task_url}),
        202,
        {"Location": task_url},
    )


@ical_api.get("/<task_id>/status")
def calendar_status(task_id: str):
    # Celery answers PENDING for any id it does not know, issued or not.
    state = AsyncResult(task_id, app=celery).state
    result_url = url_for("ical.calendar_result", task_id=task_id, _external=True)
    return jsonify({"task_id": task_id, "task_status": state, "result_url": result_url})


@ical_api.get("/<task_id>/result")
def calendar_result(task_id: str):
    result = AsyncResult(task_id, app=celery)
    if result.state == "FAILURE":
        return jsonify({"error": "Task failed", "detail": str(result.result)}), 404
    if result.state != "SUCCESS":
        return jsonify({"error": "Task not finished"}), 404
    return (
        result.result,
        200,
        {
            "Content-Type": "text/calendar; charset=utf-8",
            "Content-Disposition": 'attachment; filename="todos.ics"',
        },
    )


def create_app() -> Flask:
    app = create_todo_app()
    app.register_blueprint(ical_api)
    return app
