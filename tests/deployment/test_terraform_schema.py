"""terraform/ against the providers' schemas: what `terraform validate` would say
about arguments and blocks, without the providers (which cannot be downloaded
here). The schemas come from the published cdktf bindings of the provider
versions that terraform/versions.tf asks for (tests/support/provider_schema.py).

Each kind of mistake is shown on a copy of terraform/ with one change made (the
files parsed, changed and written back by python-hcl2): the check reports that
change, and only it.

The first run fetches the bindings with npm (about 35 MB) into
~/.cache/taskoverflow-ci/; later runs read the schema built there, offline.
Without npm or the registry the tests skip, saying why, unless REQUIRED_SERVICES
names terraform-schema: then they fail.
"""

import copy
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import hcl2
import pytest

from tests.support import provider_schema
from tests.support.processes import PROJECT_DIR
from tests.support.terraform_schema import (
    META_ARGUMENTS,
    META_BLOCKS,
    check_configuration,
    parse,
)

TERRAFORM_DIR = PROJECT_DIR / "terraform"
UNKNOWN = "taskoverflow_unknown"


# --- The blocks of terraform/, found when the tests are collected ----------------
@dataclass(frozen=True)
class Block:
    """A resource or data block, or a block nested in one (`path`: the block type
    and the index of each nesting, with how many of that type stand together)."""

    file: str
    kind: str  # "resource" or "data"
    type: str
    name: str
    path: tuple[tuple[str, int, int], ...] = ()

    @property
    def address(self) -> str:
        prefix = "data." if self.kind == "data" else ""
        return f"{prefix}{self.type}.{self.name}"

    @property
    def where(self) -> str:
        """How the check names this block in a finding."""
        steps = [key if count == 1 else f"{key}[{i}]" for key, i, count in self.path]
        return ": ".join([f"terraform/{self.file}", self.address, *steps])

    @property
    def id(self) -> str:
        return "/".join([self.address, *(f"{k}[{i}]" for k, i, _ in self.path)])


def _is_blocks(value) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, dict) and item.get("__is_block__") for item in value
    )


def _nested(block: Block, body: dict) -> list[Block]:
    found = []
    for key, value in body.items():
        if key in META_BLOCKS[block.kind] or key == "dynamic" or not value:
            continue
        if _is_blocks(value):
            for index, inner in enumerate(value):
                child = replace(block, path=(*block.path, (key, index, len(value))))
                found += [child, *_nested(child, inner)]
    return found


def _blocks() -> tuple[list[Block], list[Block]]:
    top, nested = [], []
    for path in sorted(TERRAFORM_DIR.glob("*.tf")):
        document = parse(path.read_text())
        for kind in ("resource", "data"):
            for labelled in document.get(kind, []):
                for type_, named in labelled.items():
                    for name, body in named.items():
                        block = Block(path.name, kind, type_, name)
                        top.append(block)
                        nested += _nested(block, body)
    return top, nested


TOP_BLOCKS, NESTED_BLOCKS = _blocks()


def first_block(type_: str) -> Block:
    matches = [block for block in TOP_BLOCKS if block.type == type_]
    assert matches, f"terraform/ has no {type_} to change for this test"
    return matches[0]


# --- Changed copies of terraform/ ---------------------------------------------------
@cache
def _original(file: str) -> dict:
    """A file as python-hcl2 reads it for writing back: strings keep their quotes."""
    options = hcl2.SerializationOptions(with_comments=False)
    return hcl2.loads((TERRAFORM_DIR / file).read_text(), serialization_options=options)


def changed_copy(tmp_path: Path, file: str, change) -> Path:
    """A copy of terraform/ in which `change(document)` edited one file."""
    directory = tmp_path / "terraform"
    shutil.copytree(TERRAFORM_DIR, directory)
    document = copy.deepcopy(_original(file))
    change(document)
    (directory / file).write_text(hcl2.dumps(document))
    return directory


def body_of(document: dict, block: Block, depth: int | None = None) -> dict:
    """The body of `block` in `document`; with `depth`, of the block that
    `block.path[:depth]` leads to (-1: its parent)."""
    for labelled in document[block.kind]:
        named = labelled.get(f'"{block.type}"', {})
        if f'"{block.name}"' in named:
            body = named[f'"{block.name}"']
            break
    else:
        raise AssertionError(f"{block.address} is not in {block.file}")
    for key, index, _ in block.path[:depth]:
        body = body[key][index]
    return body


def changed_block(tmp_path: Path, block: Block, change) -> Path:
    """A copy of terraform/ in which `change(body)` edited the block's body."""
    return changed_copy(tmp_path, block.file, lambda doc: change(body_of(doc, block)))


def plain(value):
    """A block body as an object value: python-hcl2's block markers removed."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


# --- The schema -------------------------------------------------------------------
@pytest.fixture(scope="session")
def schema() -> dict:
    return provider_schema.require_schema()


@pytest.fixture(scope="session")
def baseline(schema) -> list[str]:
    return check_configuration(TERRAFORM_DIR, schema)


def new_findings(directory: Path, schema: dict, baseline: list[str]) -> list[str]:
    return [f for f in check_configuration(directory, schema) if f not in baseline]


def struct_of(schema: dict, block: Block) -> dict:
    """The schema of a block: its arguments and nested blocks by name."""
    struct_id = schema[block.kind][block.type]
    for key, _, _ in block.path:
        struct_id = schema["structs"][struct_id][key]["struct"]
    return schema["structs"][struct_id]


# --- Today's terraform/ -----------------------------------------------------------
def test_terraform_sets_only_what_the_providers_take_and_all_they_require(baseline):
    """Every resource, data source, provider, block and argument in terraform/
    is in the schema of the provider version that versions.tf asks for."""
    assert baseline == [], "\n".join(baseline)


def _constraint_holds(version: str, constraint: str) -> bool:
    """Terraform's version constraint syntax (`~> 5.0`, `>= 1.2, < 2`)."""

    def numbers(text: str) -> tuple[int, ...]:
        parts = tuple(int(part) for part in text.split("."))
        return parts + (0,) * (3 - len(parts))

    have = numbers(version)
    for part in constraint.split(","):
        match = re.fullmatch(r"\s*(~>|>=|<=|!=|>|<|=)?\s*(\d+(?:\.\d+)*)\s*", part)
        operator, wanted = match.groups()
        want = numbers(wanted)
        if operator == "~>":
            # Only the rightmost number given may grow: ~> 5.0 is >= 5.0, < 6.
            given = wanted.count(".") + 1
            if given > 1:
                upper = numbers(
                    ".".join(map(str, (*want[: given - 2], want[given - 2] + 1)))
                )
                if have >= upper:
                    return False
            operator = ">="
        holds = {
            None: have == want,
            "=": have == want,
            "!=": have != want,
            ">=": have >= want,
            "<=": have <= want,
            ">": have > want,
            "<": have < want,
        }[operator]
        if not holds:
            return False
    return True


def test_the_schemas_are_of_the_provider_versions_that_versions_tf_asks_for(schema):
    """A provider whose constraint moves on (aws ~> 6.0, say) needs the matching
    binding pinned in provider_schema.PACKAGES, or the check reads another
    provider's schema."""
    document = parse((TERRAFORM_DIR / "versions.tf").read_text())
    required = {
        name: wanted
        for name, wanted in document["terraform"][0]["required_providers"][0].items()
        if name != "__is_block__"
    }
    packaged = {
        name for name, provider in schema["providers"].items() if provider["package"]
    }
    assert set(required) == packaged
    for name, wanted in required.items():
        provider = schema["providers"][name]
        assert provider["source"] == f"registry.terraform.io/{wanted['source']}"
        assert _constraint_holds(provider["version"], wanted["version"]), (
            name,
            provider["version"],
            wanted["version"],
        )


def test_version_constraints_are_read_as_terraform_reads_them():
    assert _constraint_holds("5.100.0", "~> 5.0")
    assert not _constraint_holds("6.0.0", "~> 5.0")
    assert not _constraint_holds("4.67.0", "~> 5.0")
    assert _constraint_holds("3.7.2", "~> 3.6")
    assert not _constraint_holds("3.5.1", "~> 3.6")
    assert not _constraint_holds("4.1.0", "~> 4.0.0")
    assert _constraint_holds("4.0.9", "~> 4.0.0")
    assert _constraint_holds("1.9.0", ">= 1.5, < 2")


# --- Each kind of mistake, in a changed copy --------------------------------------
@pytest.mark.parametrize("file", sorted(p.name for p in TERRAFORM_DIR.glob("*.tf")))
def test_a_file_written_back_unchanged_brings_no_finding(
    file, schema, baseline, tmp_path
):
    """The tests below change files by rewriting them with python-hcl2; the
    rewriting alone must change nothing the check sees."""
    directory = changed_copy(tmp_path, file, lambda document: None)
    assert new_findings(directory, schema, baseline) == []
    assert parse((directory / file).read_text()) == parse(
        (TERRAFORM_DIR / file).read_text()
    )


@pytest.mark.parametrize("block", TOP_BLOCKS, ids=lambda block: block.id)
def test_an_unknown_argument_fails_in_every_resource_and_data_source(
    block, schema, baseline, tmp_path
):
    """The acceptance line of issue 11: whichever resource gets an argument its
    type does not take, the check fails, naming the file, the block and the
    argument."""
    directory = changed_block(
        tmp_path, block, lambda body: body.update({UNKNOWN: '"x"'})
    )
    assert new_findings(directory, schema, baseline) == [
        f'{block.where}: unknown argument "{UNKNOWN}"'
    ]


@pytest.mark.parametrize(
    "block", TOP_BLOCKS + NESTED_BLOCKS, ids=lambda block: block.id
)
def test_a_block_without_its_arguments_misses_exactly_the_required_ones(
    block, schema, baseline, tmp_path
):
    """Each argument that the schema requires and the block sets is reported
    missing once the block no longer sets it; the optional ones are not."""
    struct = struct_of(schema, block)
    removed = []

    def strip(body: dict) -> None:
        for key in list(body):
            if key in META_ARGUMENTS or key in ("__is_block__", "dynamic"):
                continue
            if not _is_blocks(body[key]):
                removed.append(key)
                del body[key]

    directory = changed_copy(
        tmp_path, block.file, lambda doc: strip(body_of(doc, block))
    )
    expected = [
        f'{block.where}: missing required argument "{name}"'
        for name in removed
        if struct[name]["required"]
    ]
    assert sorted(new_findings(directory, schema, baseline)) == sorted(expected)


def test_some_blocks_of_terraform_have_required_arguments_and_blocks_to_remove(schema):
    """Else the tests above prove nothing about what is required."""
    required = [
        block
        for block in TOP_BLOCKS + NESTED_BLOCKS
        if any(prop["required"] for prop in struct_of(schema, block).values())
    ]
    assert len(required) >= 5
    required_blocks = [
        block
        for block in NESTED_BLOCKS
        if struct_of(schema, replace(block, path=block.path[:-1]))[block.path[-1][0]][
            "required"
        ]
    ]
    assert required_blocks


@pytest.mark.parametrize(
    "block",
    [block for block in NESTED_BLOCKS if block.path[-1][1] == 0],
    ids=lambda block: block.id.rsplit("[", 1)[0],
)
def test_removing_a_block_misses_it_exactly_when_it_is_required(
    block, schema, baseline, tmp_path
):
    """Every block of that type in its parent removed: reported missing when the
    schema requires one (an aws_lb_listener's default_action), else nothing."""
    key = block.path[-1][0]
    parent = replace(block, path=block.path[:-1])
    required = struct_of(schema, parent)[key]["required"]
    directory = changed_copy(
        tmp_path, block.file, lambda doc: body_of(doc, block, depth=-1).pop(key)
    )
    expected = [f'{parent.where}: missing required block "{key}"'] if required else []
    assert new_findings(directory, schema, baseline) == expected


@pytest.mark.parametrize("block", NESTED_BLOCKS, ids=lambda block: block.id)
def test_an_unknown_argument_in_a_nested_block_fails(block, schema, baseline, tmp_path):
    directory = changed_block(tmp_path, block, lambda body: body.update({UNKNOWN: "1"}))
    assert new_findings(directory, schema, baseline) == [
        f'{block.where}: unknown argument "{UNKNOWN}"'
    ]


@pytest.mark.parametrize("block", NESTED_BLOCKS, ids=lambda block: block.id)
def test_a_block_written_as_an_argument_fails(block, schema, baseline, tmp_path):
    """`health_check = { ... }` where the schema has a block `health_check { ... }`:
    Terraform says "An argument named ... is not expected here"."""
    key, index, _ = block.path[-1]
    parent = replace(block, path=block.path[:-1])

    def to_argument(document: dict) -> None:
        body = body_of(document, block, depth=-1)
        body[key] = plain(body[key][index])

    directory = changed_copy(tmp_path, block.file, to_argument)
    assert new_findings(directory, schema, baseline) == [
        f'{parent.where}: "{key}" is a block, not an argument: write {key} {{ ... }}'
    ]


@pytest.mark.parametrize(
    "block",
    [TOP_BLOCKS[0], next(b for b in TOP_BLOCKS if b.kind == "data")],
    ids=lambda block: block.kind,
)
def test_an_unknown_resource_type_or_data_source_fails(
    block, schema, baseline, tmp_path
):
    misspelt = block.type + block.type[-1]
    assert misspelt not in schema[block.kind]

    def rename(document: dict) -> None:
        for labelled in document[block.kind]:
            if f'"{block.type}"' in labelled:
                labelled[f'"{misspelt}"'] = labelled.pop(f'"{block.type}"')

    directory = changed_copy(tmp_path, block.file, rename)
    found = new_findings(directory, schema, baseline)
    noun = "resource type" if block.kind == "resource" else "data source"
    renamed = replace(block, type=misspelt)
    assert found and all(
        line.startswith(f"terraform/{block.file}: ") for line in found
    ), found
    assert (
        f'{renamed.where}: unknown {noun} "{misspelt}" (did you mean "{block.type}"?)'
        in found
    )


def test_a_block_that_may_appear_once_fails_when_given_twice(
    schema, baseline, tmp_path
):
    """max_items = 1 in the schema (deployment_circuit_breaker, for one)."""
    once = [
        block
        for block in NESTED_BLOCKS
        if struct_of(schema, replace(block, path=block.path[:-1]))[block.path[-1][0]][
            "max_one"
        ]
    ]
    assert once, "terraform/ has no block that may appear only once"
    block = once[0]
    key = block.path[-1][0]
    parent = replace(block, path=block.path[:-1])

    def twice(document: dict) -> None:
        body = body_of(document, block, depth=-1)
        body[key] = body[key] * 2

    directory = changed_copy(tmp_path, block.file, twice)
    assert new_findings(directory, schema, baseline) == [
        f'{parent.where}: block "{key}" may appear at most once'
    ]


def test_an_argument_written_as_a_block_fails(schema, baseline, tmp_path):
    block = first_block("aws_sqs_queue")
    directory = changed_block(
        tmp_path,
        block,
        lambda body: body.update({"tags": [{"Team": '"x"', "__is_block__": True}]}),
    )
    assert new_findings(directory, schema, baseline) == [
        f'{block.where}: "tags" is an argument, not a block: write tags = ...'
    ]


def test_an_attribute_that_only_the_provider_sets_fails(schema, baseline, tmp_path):
    """A queue's arn and url are computed: the schema offers them to read only."""
    block = first_block("aws_sqs_queue")
    directory = changed_block(
        tmp_path, block, lambda body: body.update({"arn": '"x"', "url": '"y"'})
    )
    assert new_findings(directory, schema, baseline) == [
        f'{block.where}: unknown argument "arn"',
        f'{block.where}: unknown argument "url"',
    ]


def test_a_list_of_objects_may_be_written_as_blocks_with_known_keys(
    schema, baseline, tmp_path
):
    """Terraform takes `ingress { ... }` for aws_security_group's ingress argument (a
    set of objects), as it does for every such argument; each block's keys are
    then the object's."""
    block = first_block("aws_security_group")
    rule = {"from_port": "443", "to_port": "443", "protocol": '"tcp"'}

    def add_rules(body: dict) -> None:
        body["ingress"] = [{**rule, "__is_block__": True}]
        body["egress"] = [{**rule, "cidr_block": '"0.0.0.0/0"', "__is_block__": True}]

    directory = changed_block(tmp_path, block, add_rules)
    assert new_findings(directory, schema, baseline) == [
        f'{block.where}: egress: unknown key "cidr_block" (did you mean "cidr_blocks"?)'
    ]


def test_dynamic_blocks_are_checked_as_the_blocks_they_make(schema, baseline, tmp_path):
    repeating = [
        block
        for block in NESTED_BLOCKS
        if len(block.path) == 1
        and not struct_of(schema, replace(block, path=()))[block.path[0][0]]["max_one"]
    ]
    assert repeating, "terraform/ has no repeating block to make dynamic"
    block = repeating[0]
    key = block.path[0][0]

    def dynamic(name: str, **extra) -> Callable[[dict], None]:
        def change(body: dict) -> None:
            content = {**body.pop(key)[0], **extra}
            body["dynamic"] = [
                {
                    f'"{name}"': {
                        "for_each": "${[1]}",
                        "content": [content],
                        "__is_block__": True,
                    }
                }
            ]

        return change

    parent = replace(block, path=())
    directory = changed_block(tmp_path / "same", parent, dynamic(key))
    assert new_findings(directory, schema, baseline) == []

    directory = changed_block(
        tmp_path / "unknown", parent, dynamic(key, **{UNKNOWN: "1"})
    )
    assert new_findings(directory, schema, baseline) == [
        f'{parent.where}: dynamic {key}: unknown argument "{UNKNOWN}"'
    ]

    directory = changed_block(tmp_path / "misnamed", parent, dynamic(UNKNOWN))
    assert new_findings(directory, schema, baseline) == [
        f'{parent.where}: unknown block "{UNKNOWN}"'
    ]


def test_the_provider_block_is_checked_too(schema, baseline, tmp_path):
    def change(document: dict) -> None:
        body = document["provider"][0]['"aws"']
        body[UNKNOWN] = "1"
        body["default_tags"] = plain(body["default_tags"][0])

    directory = changed_copy(tmp_path, "versions.tf", change)
    assert new_findings(directory, schema, baseline) == [
        'terraform/versions.tf: provider.aws: "default_tags" is a block, not an '
        "argument: write default_tags { ... }",
        f'terraform/versions.tf: provider.aws: unknown argument "{UNKNOWN}"',
    ]


def test_terraform_data_is_checked_against_terraforms_builtin_schema(
    schema, baseline, tmp_path
):
    """terraform_data is Terraform's own (no provider package carries it)."""

    def add(document: dict) -> None:
        body = {"input": '"x"', "triggers_replace": "[1]", "__is_block__": True}
        document.setdefault("resource", []).append(
            {'"terraform_data"': {'"gate"': body}}
        )
        document["resource"].append(
            {'"terraform_data"': {'"typo"': {"inputs": '"x"', "__is_block__": True}}}
        )

    directory = changed_copy(tmp_path, "versions.tf", add)
    assert new_findings(directory, schema, baseline) == [
        'terraform/versions.tf: terraform_data.typo: unknown argument "inputs" '
        '(did you mean "input"?)'
    ]


# --- The schema as read from the bindings -----------------------------------------
def test_the_schema_tells_blocks_arguments_and_requirements_apart(schema):
    """Facts of hashicorp/aws 5.x, each read by a different rule of
    provider_schema (see its docstring)."""
    service = schema["structs"][schema["resource"]["aws_ecs_service"]]
    assert service["name"]["required"] and not service["cluster"]["required"]
    assert service["deployment_circuit_breaker"]["block"] == "list"
    assert service["deployment_circuit_breaker"]["max_one"]
    assert service["load_balancer"]["block"] == "set"
    assert not service["load_balancer"]["max_one"]
    assert service["timeouts"]["block"] == "single"
    breaker = schema["structs"][service["deployment_circuit_breaker"]["struct"]]
    assert breaker["enable"]["required"] and breaker["rollback"]["required"]

    listener = schema["structs"][schema["resource"]["aws_lb_listener"]]
    assert (
        listener["default_action"]["block"] and listener["default_action"]["required"]
    )

    group = schema["structs"][schema["resource"]["aws_security_group"]]
    assert group["ingress"]["argument"] == "set" and group["ingress"]["struct"]
    assert group["tags"]["argument"] == "map"

    queue = schema["structs"][schema["resource"]["aws_sqs_queue"]]
    assert "name" in queue and "arn" not in queue and "url" not in queue

    # Named fetchPasswordData in the binding: the Terraform name is what counts.
    instance = schema["structs"][schema["data"]["aws_instance"]]
    assert "get_password_data" in instance and "fetch_password_data" not in instance

    aws = schema["structs"][schema["providers"]["aws"]["config"]]
    assert aws["default_tags"]["block"] and aws["region"]["argument"] == "simple"


# --- Fetching and caching ---------------------------------------------------------
def test_a_cached_schema_is_read_without_npm_or_network(schema, monkeypatch):
    """Once built, the JSON is all a run reads: no npm, no tarball, no build."""

    def forbidden(*args, **kwargs):
        raise AssertionError("a cached run only reads the cached JSON")

    monkeypatch.setattr(provider_schema.subprocess, "run", forbidden)
    monkeypatch.setattr(provider_schema.shutil, "which", forbidden)
    monkeypatch.setattr(provider_schema, "fetch", forbidden)
    monkeypatch.setattr(provider_schema, "build_schema", forbidden)
    assert provider_schema.ensure_schema() == schema


def test_without_npm_the_check_skips_unless_it_is_required(tmp_path, monkeypatch):
    monkeypatch.setattr(provider_schema.shutil, "which", lambda name: None)

    monkeypatch.delenv("REQUIRED_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="npm is not installed"):
        provider_schema.require_schema(tmp_path)

    monkeypatch.setenv("REQUIRED_SERVICES", "docker,terraform-schema")
    with pytest.raises(pytest.fail.Exception, match="REQUIRED_SERVICES lists"):
        provider_schema.require_schema(tmp_path)


def test_a_tarball_that_is_not_the_pinned_release_is_refused(tmp_path):
    package = provider_schema.PACKAGES[1]
    (tmp_path / package.tarball_name).write_bytes(b"not the release")
    with pytest.raises(RuntimeError, match="pinned integrity"):
        provider_schema.fetch(package, tmp_path)
    assert not (tmp_path / package.tarball_name).exists()
