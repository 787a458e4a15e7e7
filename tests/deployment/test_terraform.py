"""terraform/ as parsed (python-hcl2): the wiring the AWS deploy needs. Also
`terraform fmt` (where terraform is installed) and checkov, with no failed check.

Providers cannot be downloaded here, so `terraform validate` and `plan` do not
run; these tests read the configuration instead.
"""

import ast
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from tests.support.deployment import (
    BOTO3_READS,
    STDLIB_READS,
    TERRAFORM_DIR,
    WEB_COMMAND,
    WORKER_COMMAND,
    checkov_skips,
    doc_page,
    documented_variables,
    reference,
    terraform,
    variables_read_by_the_code,
)
from tests.support.processes import BIN, django_run, project_env
from tests.support.services import require, tool_on_path


@pytest.fixture(scope="module")
def tf() -> dict:
    return terraform()


def resource(tf: dict, type_: str, name: str) -> dict:
    assert name in tf["resource"].get(type_, {}), f"no {type_}.{name} in terraform/"
    return tf["resource"][type_][name]


def arithmetic(expression: str, values: dict[str, int]) -> int:
    """The value of a Terraform expression of numbers, names, + - * and ()."""
    for name, value in values.items():
        expression = expression.replace(name, str(value))
    tree = ast.parse(expression, mode="eval")
    allowed = (ast.Expression, ast.BinOp, ast.Constant, ast.Add, ast.Sub, ast.Mult)
    unknown = [
        type(node).__name__ for node in ast.walk(tree) if not isinstance(node, allowed)
    ]
    assert not unknown, f"not plain arithmetic: {expression}"
    return eval(compile(tree, "terraform", "eval"))  # noqa: S307 - checked above


def celery_visibility_timeout(time_limit: int) -> int:
    """The visibility timeout settings.py gives Celery's SQS transport."""
    env = project_env(CELERY_BROKER_URL="sqs://", ICAL_TIME_LIMIT=str(time_limit))
    result = django_run(
        "print(settings.CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'])", env
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


def variable_default(tf: dict, name: str):
    return tf["variable"][name].get("default")


def test_the_aws_provider_is_pinned_to_5_and_the_region_defaults_to_us_east_1(tf):
    providers = tf["terraform"]["required_providers"][0]
    assert providers["aws"] == {"source": "hashicorp/aws", "version": "~> 5.0"}
    assert variable_default(tf, "region") == "us-east-1"


def test_the_job_queue_is_encrypted_outlives_a_job_and_has_a_dead_letter_queue(tf):
    ical = resource(tf, "aws_sqs_queue", "ical")
    dead = resource(tf, "aws_sqs_queue", "ical_dead_letter")
    assert ical["name"] == "${var.name}-ical"
    assert ical["sqs_managed_sse_enabled"] is True
    assert dead["sqs_managed_sse_enabled"] is True
    assert not ical.get("fifo_queue")

    # Visibility timeout: the job's hard time limit (which the tasks get as
    # ICAL_TIME_LIMIT) plus a margin, as settings.py gives Celery.
    assert reference(ical["visibility_timeout_seconds"]) == (
        "local.ical_visibility_timeout"
    )
    expression = reference(tf["locals"]["ical_visibility_timeout"])
    for time_limit in (10, variable_default(tf, "ical_time_limit"), 110):
        queue_timeout = arithmetic(expression, {"var.ical_time_limit": time_limit})
        assert queue_timeout == celery_visibility_timeout(time_limit)
        assert queue_timeout > time_limit

    redrive = reference(ical["redrive_policy"])
    assert "deadLetterTargetArn = aws_sqs_queue.ical_dead_letter.arn" in redrive
    max_receive = re.search(r"maxReceiveCount = (\d+)", redrive)
    assert max_receive and 1 < int(max_receive.group(1)) <= 10
    allow = resource(tf, "aws_sqs_queue_redrive_allow_policy", "ical_dead_letter")
    assert "aws_sqs_queue.ical.arn" in allow["redrive_allow_policy"]


def test_every_queue_and_task_family_is_named_from_the_one_prefix(tf):
    """Two deploys share an account: each name starts with var.name."""
    names = [body["name"] for body in tf["resource"]["aws_sqs_queue"].values()]
    names += [
        body["family"] for body in tf["resource"]["aws_ecs_task_definition"].values()
    ]
    assert names and all(name.startswith("${var.name}-") for name in names), names


def test_the_queue_demo_queues_are_a_standard_and_a_deduplicating_fifo_queue(tf):
    standard = resource(tf, "aws_sqs_queue", "prac")
    fifo = resource(tf, "aws_sqs_queue", "prac_fifo")
    assert standard["name"] == "${var.name}-csse6400_prac"
    assert not standard.get("fifo_queue")
    assert fifo["name"] == "${var.name}-csse6400_prac.fifo"
    assert fifo["fifo_queue"] is True
    assert fifo["content_based_deduplication"] is True
    assert standard["sqs_managed_sse_enabled"] is fifo["sqs_managed_sse_enabled"]
    assert fifo["sqs_managed_sse_enabled"] is True


def test_the_time_limit_fits_the_worker_stop_timeout_and_the_queue(tf):
    """A stopped worker finishes its job: its stop timeout exceeds the longest
    time limit the variable accepts; the task gets that same limit."""
    limit = tf["variable"]["ical_time_limit"]
    condition = limit["validation"][0]["condition"]
    most = int(re.search(r"var\.ical_time_limit <= (\d+)", condition).group(1))
    worker = tf["locals"]["worker_container"]
    assert worker["stopTimeout"] == 120  # the most Fargate allows
    assert most + 10 <= worker["stopTimeout"]
    assert limit["default"] <= most
    assert tf["locals"]["app_environment"]["ICAL_TIME_LIMIT"] == (
        "${tostring(var.ical_time_limit)}"
    )


def test_ecr_holds_the_one_image_of_both_services(tf):
    repository = resource(tf, "aws_ecr_repository", "app")
    assert repository["image_tag_mutability"] == "IMMUTABLE"
    assert tf["locals"]["image"] == (
        "${aws_ecr_repository.app.repository_url}:${var.image_tag}"
    )
    web = tf["locals"]["web_container"]
    worker = tf["locals"]["worker_container"]
    assert web["image"] == worker["image"] == "${local.image}"


def test_two_fargate_services_run_the_documented_commands(tf):
    web = tf["locals"]["web_container"]
    worker = tf["locals"]["worker_container"]
    assert web["command"] == WEB_COMMAND
    assert worker["command"] == WORKER_COMMAND
    assert web["portMappings"] == [{"containerPort": 6400, "protocol": "tcp"}]
    assert "portMappings" not in worker

    for name, container in (("web", web), ("worker", worker)):
        task = resource(tf, "aws_ecs_task_definition", name)
        assert task["requires_compatibilities"] == ["FARGATE"]
        assert task["network_mode"] == "awsvpc"
        assert reference(task["container_definitions"]) == (
            f"jsonencode([local.{name}_container])"
        )
        service = resource(tf, "aws_ecs_service", name)
        assert service["launch_type"] == "FARGATE"
        assert reference(service["task_definition"]) == (
            f"aws_ecs_task_definition.{name}.arn"
        )
        assert reference(service["cluster"]) == "aws_ecs_cluster.main.id"
        assert container["logConfiguration"]["options"]["awslogs-group"] == (
            f"${{aws_cloudwatch_log_group.{name}.name}}"
        )
        resource(tf, "aws_cloudwatch_log_group", name)


def test_both_services_get_the_same_environment_of_variables_the_code_reads(tf):
    web = tf["locals"]["web_container"]
    worker = tf["locals"]["worker_container"]
    assert reference(worker["environment"]) == (
        "[for name, value in local.app_environment : {name = name, value = value}]"
    )
    assert reference(web["environment"]) == (
        "[for name, value in merge(local.app_environment, local.web_environment) "
        ": {name = name, value = value}]"
    )
    assert web["secrets"] == worker["secrets"] == "${local.secrets}"

    shared = set(tf["locals"]["app_environment"])
    web_only = set(tf["locals"]["web_environment"])
    secrets = {secret["name"] for secret in tf["locals"]["secrets"]}
    read = variables_read_by_the_code() | BOTO3_READS | STDLIB_READS
    assert shared | web_only | secrets <= read, (shared | web_only | secrets) - read
    assert shared | web_only | secrets <= documented_variables()
    assert web_only == {
        "WEB_BIND",
        "WEB_CONCURRENCY",
        "NUM_PROXIES",
        "WEB_KEEPALIVE",
        "WEB_ACCESS_LOG",
    }
    # Clients are counted by the address the load balancer names, and
    # kept-alive connections outlive its 60 s idle timeout.
    assert tf["locals"]["web_environment"]["NUM_PROXIES"] == "1"
    # A line per request in CloudWatch: the service's access log (alb.tf).
    assert tf["locals"]["web_environment"]["WEB_ACCESS_LOG"] == "-"
    assert int(tf["locals"]["web_environment"]["WEB_KEEPALIVE"]) > 60
    assert tf["locals"]["web_environment"]["WEB_BIND"] == "0.0.0.0:6400"

    environment = tf["locals"]["app_environment"]
    assert environment["DEBUG"] == "false"
    assert environment["CELERY_BROKER_URL"] == "sqs://"
    assert environment["SQS_QUEUE_URL"] == "${aws_sqs_queue.ical.url}"
    assert environment["CELERY_DEFAULT_QUEUE"] == "${aws_sqs_queue.ical.name}"
    assert environment["CALENDAR_BUCKET"] == "${aws_s3_bucket.calendars.bucket}"
    assert environment["TRUST_X_FORWARDED_PROTO"] == "true"
    assert "aws_lb.web.dns_name" in environment["ALLOWED_HOSTS"]


def test_secrets_come_from_secrets_manager_never_from_the_plain_environment(tf):
    secrets = {s["name"]: s["valueFrom"] for s in tf["locals"]["secrets"]}
    assert secrets == {
        "SECRET_KEY": "${aws_secretsmanager_secret.django.arn}:secret_key::",
        "DATABASE_PASSWORD": "${aws_secretsmanager_secret.database.arn}:password::",
    }
    environment = json.dumps(tf["locals"]["app_environment"])
    environment += json.dumps(tf["locals"]["web_environment"])
    assert "random_password" not in environment
    assert "password" not in tf["locals"]["app_environment"]["DATABASE_URL"].lower()

    database = resource(tf, "aws_db_instance", "main")
    assert database["password"] == "${random_password.database.result}"
    version = resource(tf, "aws_secretsmanager_secret_version", "database")
    assert "password = random_password.database.result" in version["secret_string"]
    key = resource(tf, "aws_secretsmanager_secret_version", "django")
    assert "random_password.secret_key.result" in key["secret_string"]

    for name, output in tf["output"].items():
        text = json.dumps(output)
        assert "random_password" not in text, name
        assert "secretsmanager" not in text, name
        assert "password" not in text.lower(), name


def test_the_database_is_postgresql_reachable_only_from_the_two_services(tf):
    database = resource(tf, "aws_db_instance", "main")
    assert database["engine"] == "postgres"
    assert database["publicly_accessible"] is False
    assert database["storage_encrypted"] is True
    assert database["vpc_security_group_ids"] == ["${aws_security_group.database.id}"]

    rules = tf["resource"]["aws_vpc_security_group_ingress_rule"]
    into_database = [
        rule
        for rule in rules.values()
        if rule["security_group_id"] == "${aws_security_group.database.id}"
    ]
    assert len(into_database) == 1
    rule = into_database[0]
    assert "cidr_ipv4" not in rule and "cidr_ipv6" not in rule
    assert rule["referenced_security_group_id"] == "${each.value}"
    assert rule["for_each"] == {
        "web": "${aws_security_group.web.id}",
        "worker": "${aws_security_group.worker.id}",
    }
    assert rule["from_port"] == rule["to_port"] == 5432


def test_only_the_load_balancer_reaches_web_and_nothing_reaches_the_worker(tf):
    rules = tf["resource"]["aws_vpc_security_group_ingress_rule"]
    into_web = [
        rule
        for rule in rules.values()
        if rule["security_group_id"] == "${aws_security_group.web.id}"
    ]
    assert into_web == [
        {
            "security_group_id": "${aws_security_group.web.id}",
            "description": into_web[0]["description"],
            "ip_protocol": "tcp",
            "from_port": 6400,
            "to_port": 6400,
            "referenced_security_group_id": "${aws_security_group.alb.id}",
        }
    ]
    assert not [
        rule
        for rule in rules.values()
        if rule["security_group_id"] == "${aws_security_group.worker.id}"
    ]
    for name in ("web", "worker"):
        service = resource(tf, "aws_ecs_service", name)
        groups = service["network_configuration"][0]["security_groups"]
        assert groups == [f"${{aws_security_group.{name}.id}}"]


def test_web_sits_behind_the_load_balancer_with_the_health_check_on_port_6400(tf):
    group = resource(tf, "aws_lb_target_group", "web")
    assert group["port"] == 6400
    assert group["target_type"] == "ip"
    assert group["health_check"][0]["path"] == "/api/v1/health"
    assert group["health_check"][0]["matcher"] == "200"

    service = resource(tf, "aws_ecs_service", "web")
    assert service["load_balancer"] == [
        {
            "target_group_arn": "${aws_lb_target_group.web.arn}",
            "container_name": "web",
            "container_port": 6400,
        }
    ]
    https = resource(tf, "aws_lb_listener", "https")
    assert https["protocol"] == "HTTPS" and https["port"] == 443
    assert https["default_action"][0]["target_group_arn"] == (
        "${aws_lb_target_group.web.arn}"
    )
    http = resource(tf, "aws_lb_listener", "http")
    assert http["default_action"][0]["redirect"][0]["protocol"] == "HTTPS"


def test_the_worker_scales_on_the_ical_queue_backlog_from_one_task(tf):
    target = resource(tf, "aws_appautoscaling_target", "worker")
    assert target["min_capacity"] == 1
    assert target["resource_id"] == (
        "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.worker.name}"
    )
    assert target["scalable_dimension"] == "ecs:service:DesiredCount"

    policy = resource(tf, "aws_appautoscaling_policy", "worker_backlog")
    assert policy["policy_type"] == "TargetTrackingScaling"
    assert policy["resource_id"] == "${aws_appautoscaling_target.worker.resource_id}"
    configuration = policy["target_tracking_scaling_policy_configuration"][0]
    metrics = configuration["customized_metric_specification"][0]["metrics"]
    by_id = {metric["id"]: metric for metric in metrics}
    queue_metric = by_id["waiting"]["metric_stat"][0]["metric"][0]
    assert queue_metric["namespace"] == "AWS/SQS"
    assert queue_metric["metric_name"] == "ApproximateNumberOfMessagesVisible"
    assert queue_metric["dimensions"] == [
        {"name": "QueueName", "value": "${aws_sqs_queue.ical.name}"}
    ]
    returned = [metric for metric in metrics if metric["return_data"]]
    assert len(returned) == 1 and "waiting" in returned[0]["expression"]

    # The autoscaler, not terraform, sets the number of workers.
    worker = resource(tf, "aws_ecs_service", "worker")
    assert worker["lifecycle"][0]["ignore_changes"] == ["desired_count"]


def test_calendars_live_in_a_private_s3_bucket_that_both_services_use(tf):
    resource(tf, "aws_s3_bucket", "calendars")
    block = resource(tf, "aws_s3_bucket_public_access_block", "calendars")
    for setting in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert block[setting] is True, setting
    ownership = resource(tf, "aws_s3_bucket_ownership_controls", "calendars")
    assert ownership["rule"][0]["object_ownership"] == "BucketOwnerEnforced"


def test_task_roles_allow_only_the_queue_and_bucket_actions_on_these_resources(tf):
    documents = tf["data"]["aws_iam_policy_document"]
    allowed = {
        "web": {
            "sqs": {"SendMessage", "GetQueueUrl", "GetQueueAttributes"},
            "s3": {"GetObject", "ListBucket"},
        },
        "worker": {
            "sqs": {
                "ReceiveMessage",
                "DeleteMessage",
                "ChangeMessageVisibility",
                "SendMessage",
                "GetQueueUrl",
                "GetQueueAttributes",
            },
            "s3": {
                "GetObject",
                "PutObject",
                "DeleteObject",
                "AbortMultipartUpload",
                "ListBucket",
            },
        },
    }
    for role, expected in allowed.items():
        actions: dict[str, set[str]] = {}
        for statement in documents[role]["statement"]:
            resources = json.dumps(statement["resources"]).replace("[*]", "")
            assert "*" not in resources.replace("/*", "")
            for action in statement["actions"]:
                service, _, name = action.partition(":")
                assert "*" not in name, action
                actions.setdefault(service, set()).add(name)
                if service == "sqs":
                    assert statement["resources"] == ["${aws_sqs_queue.ical.arn}"]
                elif service == "s3":
                    assert all(
                        "aws_s3_bucket.calendars.arn" in r
                        for r in statement["resources"]
                    )
                elif service == "kms":
                    assert statement["resources"] == "${aws_kms_key.main[*].arn}"
                else:
                    pytest.fail(f"{role}: unexpected action {action}")
        assert actions["sqs"] == expected["sqs"], role
        assert actions["s3"] == expected["s3"], role

    role = resource(tf, "aws_iam_role_policy", "web")
    assert role["policy"] == "${data.aws_iam_policy_document.web.json}"
    role = resource(tf, "aws_iam_role_policy", "worker")
    assert role["policy"] == "${data.aws_iam_policy_document.worker.json}"
    task = resource(tf, "aws_ecs_task_definition", "worker")
    assert task["task_role_arn"] == "${local.worker_role_arn}"


def test_an_existing_role_such_as_labrole_can_replace_the_roles_made_here(tf):
    assert tf["variable"]["existing_role_name"]["default"] is None
    assert "LabRole" in tf["variable"]["existing_role_name"]["description"]
    for name in ("execution", "web", "worker"):
        role = resource(tf, "aws_iam_role", name)
        assert role["count"] == "${local.make_roles ? 1 : 0}"
        assert tf["locals"][f"{name}_role_arn"] == (
            f"${{one(concat(aws_iam_role.{name}[*].arn, "
            "data.aws_iam_role.existing[*].arn))}"
        )
    assert tf["locals"]["make_roles"] == "${var.existing_role_name == null}"
    existing = tf["data"]["aws_iam_role"]["existing"]
    assert existing["name"] == "${var.existing_role_name}"


def test_with_an_existing_role_no_key_is_made_and_the_docs_list_its_permissions(tf):
    """The Learner Lab path: an existing role's policies are not ours, so no
    customer-managed key (AWS's managed keys instead); the deployment page
    names every action the project's own policies grant, for that role."""
    for type_ in ("aws_kms_key", "aws_kms_alias"):
        assert resource(tf, type_, "main")["count"] == "${local.make_roles ? 1 : 0}"
    assert tf["locals"]["kms_key_arn"] == "${one(aws_kms_key.main[*].arn)}"
    learner_lab = doc_page("deployment").split("**AWS Academy Learner Lab.**")[1]
    learner_lab = learner_lab.split("\n\n")[0]
    granted = {
        action
        for document in tf["data"]["aws_iam_policy_document"].values()
        for statement in document["statement"]
        for action in statement.get("actions", [])
        if not action.startswith(("kms:", "sts:"))
    }
    assert granted and all(f"`{action}`" in learner_lab for action in granted)


def test_the_outputs_are_the_web_url_the_queue_urls_and_the_ecr_repository(tf):
    outputs = tf["output"]
    assert outputs["web_url"]["value"] == "https://${aws_lb.web.dns_name}"
    assert outputs["ecr_repository_url"]["value"] == (
        "${aws_ecr_repository.app.repository_url}"
    )
    queues = outputs["queue_urls"]["value"]
    assert queues == {
        "ical": "${aws_sqs_queue.ical.url}",
        "ical_dead_letter": "${aws_sqs_queue.ical_dead_letter.url}",
        "csse6400_prac": "${aws_sqs_queue.prac.url}",
        "csse6400_prac.fifo": "${aws_sqs_queue.prac_fifo.url}",
    }


def test_every_checkov_skip_carries_its_reason():
    skips = checkov_skips()
    assert skips, "expected the skips documented in terraform/"
    for file, check, reason in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", check), (file, check)
        assert len(reason.split()) >= 8, f"{file}: {check} needs a reason: {reason!r}"


def test_terraform_fmt_is_clean():
    require("terraform", tool_on_path("terraform"), "PATH")
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-diff", str(TERRAFORM_DIR)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def checkov_program() -> str:
    own = BIN.parent / "checkov" / "bin" / "checkov"
    for candidate in (str(own), shutil.which("checkov")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        "checkov is not installed: `make install-dev` puts it in .venv/checkov "
        "(requirements-checkov.txt)"
    )


def test_checkov_finds_no_failed_check_in_terraform(record_property):
    started = time.monotonic()
    # --skip-download: no guidelines from checkov's platform (no network here).
    result = subprocess.run(
        [checkov_program(), "-d", str(TERRAFORM_DIR), "--framework", "terraform"]
        + ["--quiet", "--compact", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    record_property("checkov_seconds", round(time.monotonic() - started, 1))
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [
        (check["check_id"], check["resource"])
        for check in report["results"].get("failed_checks", [])
    ]
    assert summary["failed"] == 0 and not failed, failed
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 100
    # checkov read every skip in the files (a mistyped one would not count).
    assert summary["skipped"] == len(checkov_skips())
    assert result.returncode == 0, result.stderr[-2000:]
