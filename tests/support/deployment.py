"""Readers of the deployment files, for the tests: the Configuration table
(docs/configuration.md), the variables the code reads, docker-compose.yml, the
Dockerfile and terraform/."""

import json
import re
import shlex
import subprocess
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import hcl2
import yaml

from tests.support.entrypoint import as_in_the_image
from tests.support.processes import PROJECT_DIR, project_env

README = PROJECT_DIR / "README.md"
DOCS = PROJECT_DIR / "docs"
TERRAFORM_DIR = PROJECT_DIR / "terraform"

# The documented commands of the two roles (Procfile, without `.venv/bin/`).
WEB_COMMAND = [
    "gunicorn",
    "-c",
    "python:taskoverflow.gunicorn_conf",
    "taskoverflow.wsgi",
]
WORKER_COMMAND = ["celery", "-A", "taskoverflow", "worker", "-l", "INFO"]

# Read by Python's tempfile (and so by Celery's pool), not by our code.
STDLIB_READS = {"TMPDIR"}
# Read by boto3 itself (for sqs:// and the S3 storage), not by our code.
BOTO3_READS = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
}


def doc_page(name: str) -> str:
    """The text of a reference page, docs/<name>.md, that README.md links."""
    assert f"(docs/{name}.md)" in README.read_text(), f"README.md links no {name}"
    return (DOCS / f"{name}.md").read_text()


def documented_variables() -> set[str]:
    """The variables named in the first column of the Configuration table."""
    names = set()
    for line in doc_page("configuration").splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", first_cell))
    return names


def variables_read_by_the_code() -> set[str]:
    """Environment variables that settings.py and the image's scripts read."""
    names = set()
    scripts = ("gunicorn_conf.py", "prestart.py", "healthcheck.py", "aws.py")
    for module in ("settings.py", *scripts):
        text = (PROJECT_DIR / "taskoverflow" / module).read_text()
        names.update(re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]*)"', text))
        names.update(re.findall(r'os\.environ\.get\(\s*"([A-Z][A-Z0-9_]*)"', text))
    return names


# --- docker-compose.yml -------------------------------------------------------
def compose() -> dict:
    return yaml.safe_load((PROJECT_DIR / "docker-compose.yml").read_text())


_INTERPOLATION = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?:(:?)-([^}]*))?\}")


def interpolate(value, variables: dict[str, str]):
    """Compose's `${NAME}`, `${NAME-default}` and `${NAME:-default}`."""
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        name, colon, default = match.groups()
        if name in variables and (variables[name] or not colon):
            return variables[name]
        return default or ""

    return _INTERPOLATION.sub(substitute, value)


def compose_environment(service: str, variables: dict[str, str]) -> dict[str, str]:
    """A service's environment as compose gives it, with `variables` as the shell
    or --env-file would."""
    environment = compose()["services"][service].get("environment") or {}
    return {
        name: str(interpolate(value, variables)) for name, value in environment.items()
    }


def env_file_block(text: str) -> dict[str, str]:
    """KEY=VALUE lines of an env file, comments and blank lines left out."""
    pairs = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            pairs[key.strip()] = value.strip()
    return pairs


# --- Dockerfile ---------------------------------------------------------------
def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (INSTRUCTION, arguments), continuation
    lines joined and comments left out."""
    instructions = []
    pending = ""
    for raw in (PROJECT_DIR / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        pending += line
        keyword, _, arguments = pending.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def exec_form(arguments: str) -> list[str]:
    """The argument list of an exec-form (JSON array) instruction."""
    value = json.loads(arguments)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value)
    return value


def env_instructions(instructions: list[tuple[str, str]]) -> dict[str, str]:
    values = {}
    for keyword, arguments in instructions:
        if keyword == "ENV":
            for pair in shlex.split(arguments):
                key, _, value = pair.partition("=")
                values[key] = value
    return values


def image_environment(static_root: Path) -> dict[str, str]:
    """The Dockerfile's ENV, with its collected static files at `static_root`."""
    return {**env_instructions(dockerfile()), "STATIC_ROOT": str(static_root)}


def collect_static_as_the_image_does(static_root: Path) -> subprocess.CompletedProcess:
    """The Dockerfile's collectstatic step, into `static_root` (instead of the
    image's /app/staticfiles)."""
    instructions = dockerfile()
    steps = [a for k, a in instructions if k == "RUN" and "collectstatic" in a]
    assert len(steps) == 1, steps
    return subprocess.run(
        ["sh", "-c", steps[0]],
        cwd=PROJECT_DIR,
        env=as_in_the_image(project_env(**image_environment(static_root))),
        capture_output=True,
        text=True,
        timeout=300,
    )


# --- terraform/ ---------------------------------------------------------------
def terraform() -> dict:
    """Every file of terraform/, parsed and merged: {"resource": {type: {name:
    body}}, "locals": {...}, "variable": {...}, "output": {...}, ...}."""
    options = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
    merged: dict = {key: {} for key in ("resource", "data", "locals", "variable")}
    merged["output"] = {}
    for path in sorted(TERRAFORM_DIR.glob("*.tf")):
        with path.open() as file:
            parsed = hcl2.load(file, serialization_options=options)
        for kind in ("resource", "data"):
            for block in parsed.get(kind, []):
                for type_, named in block.items():
                    merged[kind].setdefault(type_, {}).update(named)
        for block in parsed.get("locals", []):
            merged["locals"].update(block)
        for key in ("variable", "output"):
            for block in parsed.get(key, []):
                merged[key].update(block)
        for block in parsed.get("terraform", []):
            merged["terraform"] = block
    return merged


def reference(expression: str) -> str:
    """The inside of a whole `${...}` expression."""
    assert expression.startswith("${") and expression.endswith("}"), expression
    return expression[2:-1]


def render(template: str, values: dict[str, str]) -> str:
    """Replace each `${expression}` of a terraform string by values[expression]."""

    def substitute(match: re.Match) -> str:
        expression = match.group(1)
        assert expression in values, f"no test value for ${{{expression}}}"
        return values[expression]

    return re.sub(r"\$\{((?:[^{}]|\{[^{}]*\})*)\}", substitute, template)


def checkov_skips() -> list[tuple[str, str, str]]:
    """Each `#checkov:skip=ID:reason` in terraform/ as (file, ID, reason)."""
    skips = []
    for path in sorted(TERRAFORM_DIR.glob("*.tf")):
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                match = re.search(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?$", line)
                assert match, f"{path.name}: unreadable skip: {line.strip()}"
                skips.append(
                    (path.name, match.group(1), (match.group(2) or "").strip())
                )
    return skips


# --- ECS -----------------------------------------------------------------------
@contextmanager
def ecs_metadata(addresses: list[str]):
    """ECS's container metadata endpoint, as far as settings.py reads it."""
    body = json.dumps({"Networks": [{"IPv4Addresses": addresses}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # the name http.server calls
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v4/container"
    finally:
        server.shutdown()
        server.server_close()
