"""The ECS tasks of terraform/ecs.tf, run on Docker as Fargate would run them,
against moto (SQS, S3, Secrets Manager) with IAM enforced.

Everything comes from the Terraform files, parsed (python-hcl2): each
container's command, environment, secrets, user, read-only root, mounts, stop
timeout and health check, and each task role's policies (terraform/iam.tf),
given to an IAM user of moto's whose keys the task receives. What differs here
is named where it is set: the tasks share the host's network (awsvpc would give
each its own address), so the web task binds a free port; the database is the
machine's PostgreSQL without TLS; moto stands in for AWS's endpoints.
"""

import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import boto3
import requests

from tests.support.deployment import ecs_metadata, render, terraform
from tests.support.docker import PROJECT_IMAGE, docker
from tests.support.processes import free_port, wait_until
from tests.support.services import moto_sqs

ACCOUNT = "123456789012"  # moto's
LOAD_BALANCER = "taskoverflow-web-123456789.us-east-1.elb.amazonaws.com"
ALLOWED_HOSTS = 'join(",", concat([aws_lb.web.dns_name], var.allowed_hosts))'
ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


# --- Reading terraform/ ------------------------------------------------------------
def task_container(tf: dict, task: str) -> dict:
    """The one container of task definition `task` (jsonencode([local.X]))."""
    definitions = tf["resource"]["aws_ecs_task_definition"][task]
    local = re.fullmatch(
        r"\$\{jsonencode\(\[local\.(\w+)\]\)\}", definitions["container_definitions"]
    )
    assert local, definitions["container_definitions"]
    return tf["locals"][local.group(1)]


def container_environment(
    tf: dict, container: dict, values: dict[str, str]
) -> dict[str, str]:
    """`environment`: a `for` over local maps (merged), each value rendered."""
    expression = container["environment"]
    source = re.search(r"\bin (.+?) :", expression)
    assert source and expression.startswith("${[for name, value in"), expression
    merged: dict[str, str] = {}
    for local in re.findall(r"local\.(\w+)", source.group(1)):
        merged.update(tf["locals"][local])
    return {name: render(str(value), values) for name, value in merged.items()}


def task_role_policies(tf: dict, task: str) -> list[dict]:
    """The IAM policies of task definition `task`'s task role, as JSON documents."""
    definition = tf["resource"]["aws_ecs_task_definition"][task]
    if "task_role_arn" not in definition:
        return []
    arn = tf["locals"][
        re.fullmatch(r"\$\{local\.(\w+)\}", definition["task_role_arn"]).group(1)
    ]
    role = re.search(r"aws_iam_role\.(\w+)\[", arn).group(1)
    documents = [
        re.fullmatch(
            r"\$\{data\.aws_iam_policy_document\.(\w+)\.json\}", policy["policy"]
        ).group(1)
        for policy in tf["resource"]["aws_iam_role_policy"].values()
        if f"aws_iam_role.{role}[" in policy["role"]
    ]
    return [policy_document(tf, name) for name in documents]


def policy_document(tf: dict, name: str) -> dict:
    """data.aws_iam_policy_document.<name> as the JSON that IAM receives (ARNs as
    yet unrendered)."""
    statements = tf["data"]["aws_iam_policy_document"][name]["statement"]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": statement["sid"],
                "Effect": statement.get("effect", "Allow"),
                "Action": statement["actions"],
                # A list, or a whole expression that is one (a splat).
                "Resource": statement["resources"],
            }
            for statement in statements
        ],
    }


def resource_name(tf: dict, type_: str, name: str, values: dict[str, str]) -> str:
    return render(tf["resource"][type_][name]["name"], values)


# --- moto, with IAM enforced ------------------------------------------------------
@dataclass
class Aws:
    """moto's server, the resources terraform would make there, and an admin."""

    endpoint: str
    admin: dict[str, str]
    values: dict[str, str] = field(default_factory=dict)

    def client(self, service: str, keys: dict[str, str] | None = None):
        keys = keys or self.admin
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
        )

    def user_with(self, name: str, policies: list[dict]) -> dict[str, str]:
        """An IAM user holding `policies` (their ARNs rendered); its keys."""
        iam = self.client("iam")
        iam.create_user(UserName=name)
        for number, policy in enumerate(policies):
            document = render(json.dumps(policy), self.values)
            iam.put_user_policy(
                UserName=name, PolicyName=f"policy-{number}", PolicyDocument=document
            )
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return {
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        }


@contextmanager
def moto_with_iam(log_dir: Path) -> Iterator[Aws]:
    """moto's server, with an admin user made before IAM is enforced; every
    later request is checked against its signer's policies."""
    with moto_sqs(log_dir) as unchecked:
        endpoint = unchecked["AWS_ENDPOINT_URL"]
        admin = Aws(endpoint, unchecked).user_with("ci-admin", [ADMIN_POLICY])
        # From here on every request must be signed by a user allowed to make it.
        enforce = requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=5)
        enforce.raise_for_status()
        yield Aws(endpoint, admin)


def make_resources(aws: Aws, tf: dict, database_url: str) -> None:
    """The queue, bucket and secrets terraform makes, made on moto by their
    terraform names; aws.values then renders the task definitions."""
    variables = {
        f"var.{name}": str(body.get("default")) for name, body in tf["variable"].items()
    }
    time_limit = int(variables["var.ical_time_limit"])
    values = aws.values
    values.update(variables)
    queue = resource_name(tf, "aws_sqs_queue", "ical", values)
    queue_url = aws.client("sqs").create_queue(
        QueueName=queue, Attributes={"VisibilityTimeout": str(time_limit + 60)}
    )["QueueUrl"]
    bucket = f"{variables['var.name']}-calendars-{uuid.uuid4().hex[:8]}"
    aws.client("s3").create_bucket(Bucket=bucket)
    secretsmanager = aws.client("secretsmanager")
    secret_arns = {
        name: secretsmanager.create_secret(
            Name=f"{variables['var.name']}-{name}-{uuid.uuid4().hex[:6]}",
            SecretString=json.dumps({key: uuid.uuid4().hex * 2}),
        )["ARN"]
        for name, key in (("django", "secret_key"), ("database", "password"))
    }
    database = urlsplit(database_url)
    values.update(
        {
            ALLOWED_HOSTS: LOAD_BALANCER,
            "aws_db_instance.main.username": database.username,
            "aws_db_instance.main.address": database.hostname,
            "aws_db_instance.main.port": str(database.port),
            "aws_db_instance.main.db_name": database.path.lstrip("/"),
            "aws_sqs_queue.ical.name": queue,
            "aws_sqs_queue.ical.url": queue_url,
            "aws_sqs_queue.ical.arn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{queue}",
            "aws_s3_bucket.calendars.bucket": bucket,
            "aws_s3_bucket.calendars.arn": f"arn:aws:s3:::{bucket}",
            "aws_kms_key.main[*].arn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/none",
            "aws_secretsmanager_secret.django.arn": secret_arns["django"],
            "aws_secretsmanager_secret.database.arn": secret_arns["database"],
            "tostring(var.ical_time_limit)": str(time_limit),
            "tostring(var.web_concurrency)": variables["var.web_concurrency"],
        }
    )


def resolve_secrets(aws: Aws, tf: dict, container: dict) -> dict[str, str]:
    """`secrets`, as the ECS agent resolves them (ARN:json-key::) at start. moto
    scopes no Secrets Manager call to a resource, so the agent reads as admin."""
    client = aws.client("secretsmanager")
    resolved = {}
    for secret in tf_list(container["secrets"], tf):
        arn, key = re.fullmatch(
            r"(.+):(\w+)::", render(secret["valueFrom"], aws.values)
        ).groups()
        resolved[secret["name"]] = json.loads(
            client.get_secret_value(SecretId=arn)["SecretString"]
        )[key]
    return resolved


def tf_list(value, tf: dict) -> list:
    """A list given inline, or as a whole `${local.X}` reference."""
    if isinstance(value, str):
        return tf["locals"][re.fullmatch(r"\$\{local\.(\w+)\}", value).group(1)]
    return value


# --- Running a task ----------------------------------------------------------------
@dataclass
class Task:
    container_id: str
    definition: dict

    def logs(self) -> str:
        result = docker("logs", self.container_id, check=False)
        return result.stdout + result.stderr

    def running(self) -> bool:
        state = docker("inspect", "-f", "{{.State.Running}}", self.container_id).stdout
        return state.strip() == "true"

    def healthy(self) -> bool:
        """The container definition's healthCheck, run as ECS runs it; without
        one ECS judges only that the container runs."""
        if "healthCheck" not in self.definition:
            return True
        command = self.definition["healthCheck"]["command"]
        if command[0] == "CMD-SHELL":
            command = ["CMD", "sh", "-c", command[1]]
        assert command[0] == "CMD", command
        result = docker(
            "exec", self.container_id, *command[1:], check=False, timeout=60
        )
        return result.returncode == 0

    def wait_until_healthy(self, timeout: float = 120) -> None:
        wait_until(
            lambda: self.fail_if_stopped() or self.healthy(),
            timeout=timeout,
            what=f"{self.definition['name']} task health",
        )

    def wait_for_log(self, text: str, timeout: float = 120) -> None:
        wait_until(
            lambda: self.fail_if_stopped() or text in self.logs(),
            timeout=timeout,
            what=f"{text!r} in the {self.definition['name']} task's log",
        )

    def fail_if_stopped(self) -> bool:
        assert self.running(), (
            f"the {self.definition['name']} task stopped:\n{self.logs()[-3000:]}"
        )
        return False


def fargate_volume(folder: Path) -> Path:
    """A task volume as Fargate mounts it: empty, owned by root, mode 0755."""
    path = folder / f"volume-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    path.chmod(0o755)
    return path


def docker_run_args(definition: dict, env: dict[str, str], folder: Path) -> list[str]:
    """`docker run` options for a container definition of a Fargate task."""
    args = ["--network", "host"]
    if definition.get("readonlyRootFilesystem"):
        args.append("--read-only")
    if user := definition.get("user"):
        args += ["--user", user]
    if seconds := definition.get("stopTimeout"):
        args += ["--stop-timeout", str(seconds)]
    for mount in definition.get("mountPoints") or []:
        args += [
            "--mount",
            f"type=bind,src={fargate_volume(folder)},dst={mount['containerPath']}",
        ]
    for name, value in env.items():
        args += ["-e", f"{name}={value}"]
    return args


@dataclass
class Ecs:
    """The emulated cluster: moto with terraform's resources, a database, and
    the tasks started (removed at the end)."""

    tf: dict
    aws: Aws
    folder: Path
    metadata_uri: str
    keys: dict[str, dict[str, str]] = field(default_factory=dict)
    tasks: list[Task] = field(default_factory=list)

    def environment(self, task: str, **added: str) -> dict[str, str]:
        """The task's environment as ECS gives it: the container's environment
        and resolved secrets, its task role's credentials, the metadata URI."""
        definition = task_container(self.tf, task)
        env = container_environment(self.tf, definition, self.aws.values)
        assert env["DATABASE_URL"].endswith("?sslmode=require")
        # The machine's PostgreSQL has no TLS.
        env["DATABASE_URL"] = env["DATABASE_URL"].replace(
            "sslmode=require", "sslmode=disable"
        )
        if "WEB_BIND" in env:
            assert env["WEB_BIND"] == "0.0.0.0:6400"
            env["WEB_BIND"] = f"127.0.0.1:{free_port()}"  # tasks share a network here
        if task not in self.keys:
            policies = task_role_policies(self.tf, task)
            self.keys[task] = (
                self.aws.user_with(f"{task}-role", policies) if policies else {}
            )
        return {
            **env,
            **resolve_secrets(self.aws, self.tf, definition),
            **self.keys[task],
            "AWS_ENDPOINT_URL": self.aws.endpoint,
            "ECS_CONTAINER_METADATA_URI_V4": self.metadata_uri,
            **added,
        }

    def start(
        self, task: str, env: dict[str, str], *, definition: dict | None = None
    ) -> Task:
        """Task `task` (its container definition, or `definition` instead)."""
        definition = definition or task_container(self.tf, task)
        name = f"ecs-{task}-{uuid.uuid4().hex[:8]}"
        args = docker_run_args(definition, env, self.folder)
        container_id = docker(
            "run", "-d", "--name", name, *args, PROJECT_IMAGE, *definition["command"]
        ).stdout.strip()
        started = Task(container_id, definition)
        self.tasks.append(started)
        return started

    def stop_task(self, task: Task, timeout: int) -> None:
        """SIGTERM, then SIGKILL after `timeout` s: ECS's StopTask."""
        docker("stop", "-t", str(timeout), task.container_id, timeout=timeout + 30)

    def run_to_completion(
        self, task: str, timeout: float = 180
    ) -> subprocess.CompletedProcess:
        """A one-off task: started, waited for; its exit code and logs."""
        started = self.start(task, self.environment(task))
        code = docker("wait", started.container_id, timeout=timeout).stdout.strip()
        return subprocess.CompletedProcess([task], int(code), started.logs(), "")

    def stop_all(self) -> None:
        for task in self.tasks:
            (
                self.folder / f"{task.definition['name']}-{task.container_id[:8]}.log"
            ).write_text(task.logs())
            docker("rm", "-f", task.container_id, check=False)


def fetch_signed_url(aws: Aws, keys: dict[str, str], url: str) -> requests.Response:
    """What a presigned S3 URL gives, fetched with the signer's own keys: moto
    checks IAM on signed headers only (a presigned URL fails there with 500)."""
    parts = urlsplit(url)
    bucket, key = unquote(parts.path).lstrip("/").split("/", 1)
    query = dict(parse_qsl(parts.query))
    found = aws.client("s3", keys).get_object(
        Bucket=bucket, Key=key, ResponseContentType=query["response-content-type"]
    )
    response = requests.Response()
    response.status_code = 200
    response.headers["Content-Type"] = found["ContentType"]
    response._content = found["Body"].read()
    return response


def web_base(env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{env['WEB_BIND'].rsplit(':', 1)[1]}"


# What the load balancer sends: HTTPS ended at the balancer, its DNS name as host.
THROUGH_THE_LOAD_BALANCER = {"Host": LOAD_BALANCER, "X-Forwarded-Proto": "https"}


def health_answer(base: str, timeout: float = 90) -> requests.Response:
    """The first answer of /api/v1/health, as the target group asks (plain HTTP,
    the task's own address as host), once the web server listens at all."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return requests.get(
                f"{base}/api/v1/health", headers={"Host": "127.0.0.1"}, timeout=5
            )
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@contextmanager
def ecs_cluster(folder: Path, database_url: str) -> Iterator[Ecs]:
    """moto with IAM and terraform's resources, ready to run the tasks."""
    tf = terraform()
    with ExitStack() as stack:
        aws = stack.enter_context(moto_with_iam(folder / "logs"))
        make_resources(aws, tf, database_url)
        metadata_uri = stack.enter_context(ecs_metadata(["127.0.0.1"]))
        cluster = Ecs(tf, aws, folder, metadata_uri)
        stack.callback(cluster.stop_all)
        yield cluster
