"""Check a Terraform configuration against its providers' schemas, as far as
`terraform validate` would with the providers installed.

Every `resource`, `data` and `provider` block of a folder's *.tf files, parsed
with python-hcl2, is checked against the schema that `provider_schema` reads:
its type exists; each argument it sets is one the type takes (computed-only
attributes are not in the schema, so setting one is an unknown argument); each
required argument is there; each nested block is a block of that type, checked
the same way, and appears at most once where the schema allows one; a block is
not written as an argument (`x = {...}`), nor an argument as a block. Findings
read `terraform/ecs.tf: aws_ecs_service.web: unknown argument "foo"`.

What the schema cannot say is left out: the provider's own validation of values
(ranges, "conflicts with", "exactly one of"), and the contents of expressions.
"""

import copy
import difflib
import functools
from pathlib import Path

import hcl2

# Terraform's own arguments and blocks in a resource or data block; their
# contents are Terraform's, not the provider's.
META_ARGUMENTS = {"count", "for_each", "provider", "depends_on"}
META_BLOCKS = {
    "resource": {"lifecycle", "provisioner", "connection"},
    "data": {"lifecycle"},
}
PROVIDER_META_ARGUMENTS = {"alias", "version"}
_MARKERS = {"__is_block__", "__comments__", "__inline_comments__"}


def check_configuration(directory: Path, schema: dict) -> list[str]:
    """The findings for every *.tf file of `directory`, in file order."""
    findings = []
    for path in sorted(directory.glob("*.tf")):
        label = f"{directory.name}/{path.name}"
        findings += check_document(parse(path.read_text()), label, schema)
    return findings


def parse(text: str) -> dict:
    """A .tf file as python-hcl2 reads it, blocks marked `__is_block__`."""
    return copy.deepcopy(_parse(text))


@functools.cache
def _parse(text: str) -> dict:
    # Cached: the tests check many copies of terraform/ that differ in one file.
    options = hcl2.SerializationOptions(with_comments=False, strip_string_quotes=True)
    return hcl2.loads(text, serialization_options=options)


def check_document(document: dict, label: str, schema: dict) -> list[str]:
    findings: list[str] = []
    for kind in ("resource", "data"):
        for labelled in document.get(kind, []):
            for type_, named in labelled.items():
                for name, body in named.items():
                    if name in _MARKERS:
                        continue
                    address = type_ if kind == "resource" else f"data.{type_}"
                    where = f"{label}: {address}.{name}"
                    struct = _type_struct(kind, type_, schema, where, findings)
                    if struct is None:
                        continue
                    skip = META_ARGUMENTS | META_BLOCKS[kind]
                    _check_body(body, struct, where, schema, findings, skip=skip)
    for labelled in document.get("provider", []):
        for name, body in labelled.items():
            if name in _MARKERS:
                continue
            where = f"{label}: provider.{name}"
            provider = schema["providers"].get(name)
            if provider is None:
                findings.append(f"{where}: no schema for provider {name!r}")
                continue
            _check_body(
                body,
                provider["config"],
                where,
                schema,
                findings,
                skip=PROVIDER_META_ARGUMENTS,
            )
    return findings


def _type_struct(
    kind: str, type_: str, schema: dict, where: str, findings: list[str]
) -> str | None:
    provider = type_.split("_", 1)[0]
    if provider not in schema["providers"]:
        findings.append(
            f"{where}: no schema for provider {provider!r} (pin its package in "
            "tests/support/provider_schema.py)"
        )
        return None
    types = schema[kind]
    if type_ not in types:
        noun = "resource type" if kind == "resource" else "data source"
        findings.append(f'{where}: unknown {noun} "{type_}"{_hint(type_, types)}')
        return None
    return types[type_]


def _check_body(
    body: dict,
    struct_id: str,
    where: str,
    schema: dict,
    findings: list[str],
    *,
    skip: set[str] = frozenset(),
    require: bool = True,
) -> None:
    """One block's arguments and nested blocks against the struct `struct_id`."""
    struct = schema["structs"][struct_id]
    present = set()
    for key, value in body.items():
        if key in _MARKERS or key in skip:
            continue
        if key == "dynamic" and _is_labelled_blocks(value):
            for dynamic in value:
                for name, spec in dynamic.items():
                    if name not in _MARKERS:
                        present.add(name)
                        _check_dynamic(name, spec, struct, where, schema, findings)
            continue
        present.add(key)
        prop = struct.get(key)
        if prop is None:
            noun = "block" if _is_blocks(value) else "argument"
            findings.append(f'{where}: unknown {noun} "{key}"{_hint(key, struct)}')
        elif "block" in prop:
            _check_block(key, value, prop, where, schema, findings)
        else:
            _check_argument(key, value, prop, where, schema, findings)
    if require:
        for name, prop in struct.items():
            if prop["required"] and name not in present:
                noun = "block" if "block" in prop else "argument"
                findings.append(f'{where}: missing required {noun} "{name}"')


def _check_block(
    key: str, value, prop: dict, where: str, schema: dict, findings: list[str]
) -> None:
    if not _is_blocks(value):
        findings.append(
            f'{where}: "{key}" is a block, not an argument: write {key} {{ ... }}'
        )
        return
    if prop["max_one"] and len(value) > 1:
        findings.append(f'{where}: block "{key}" may appear at most once')
    if prop["struct"] is None:
        return  # a block the binding leaves undescribed (see provider_schema)
    for index, block in enumerate(value):
        inner = f"{where}: {key}" + (f"[{index}]" if len(value) > 1 else "")
        _check_body(block, prop["struct"], inner, schema, findings)


def _check_argument(
    key: str, value, prop: dict, where: str, schema: dict, findings: list[str]
) -> None:
    if _is_blocks(value):
        # Terraform accepts block syntax for an argument that is a list or set of
        # objects (its "attributes as blocks" rule, kept for older providers:
        # aws_security_group's ingress, for one); each block is then one object.
        if prop["argument"] in ("list", "set") and prop["struct"]:
            for block in value:
                _check_object(
                    block, prop["struct"], f"{where}: {key}", schema, findings
                )
            return
        findings.append(
            f'{where}: "{key}" is an argument, not a block: write {key} = ...'
        )
        return
    if prop["struct"] is None:
        return
    # A literal object (or a list, set or map of them): its keys must be the
    # object type's; Terraform would drop the others without a word.
    if prop["argument"] == "object":
        objects = [value]
    elif prop["argument"] == "map":
        objects = list(value.values()) if isinstance(value, dict) else []
    else:
        objects = value if isinstance(value, list) else []
    for item in objects:
        if isinstance(item, dict):
            _check_object(item, prop["struct"], f"{where}: {key}", schema, findings)


def _check_object(
    value: dict, struct_id: str, where: str, schema: dict, findings: list[str]
) -> None:
    """An object value: known keys only. Whether an object type's attribute may be
    left out depends on how the provider declares it, which the schema we read
    does not keep, so none is demanded."""
    struct = schema["structs"][struct_id]
    for key, item in value.items():
        if key in _MARKERS:
            continue
        prop = struct.get(key)
        if prop is None:
            findings.append(f'{where}: unknown key "{key}"{_hint(key, struct)}')
        elif "argument" in prop:
            _check_argument(key, item, prop, where, schema, findings)


def _check_dynamic(
    name: str, spec: dict, struct: dict, where: str, schema: dict, findings: list[str]
) -> None:
    """`dynamic "name" { for_each = ...; content { ... } }`: name is a block (or an
    argument Terraform takes as blocks), and content is checked as that block."""
    prop = struct.get(name)
    inner = f"{where}: dynamic {name}"
    if prop is None:
        findings.append(f'{where}: unknown block "{name}"{_hint(name, struct)}')
        return
    takes_blocks = "block" in prop or (
        prop["argument"] in ("list", "set") and prop["struct"]
    )
    if not takes_blocks:
        findings.append(
            f'{where}: "{name}" is an argument, not a block: write {name} = ...'
        )
        return
    for key in spec:
        if key not in _MARKERS | {"for_each", "iterator", "labels", "content"}:
            findings.append(f'{inner}: unknown argument "{key}"')
    if "for_each" not in spec:
        findings.append(f'{inner}: missing required argument "for_each"')
    content = spec.get("content")
    if not _is_blocks(content) or len(content) != 1:
        findings.append(f'{inner}: needs exactly one "content" block')
        return
    if prop.get("struct") is None:
        return
    if "block" in prop:
        _check_body(content[0], prop["struct"], inner, schema, findings)
    else:
        _check_object(content[0], prop["struct"], inner, schema, findings)


def _is_blocks(value) -> bool:
    """Block syntax (`x { ... }`), as python-hcl2 marks it: a list of bodies."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and item.get("__is_block__") for item in value)
    )


def _is_labelled_blocks(value) -> bool:
    """Blocks with a label (`dynamic "name" { ... }`): python-hcl2 gives a list of
    {label: body}."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(
            isinstance(item, dict)
            and all(
                isinstance(body, dict) and body.get("__is_block__")
                for body in item.values()
            )
            for item in value
        )
    )


def _hint(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.8)
    return f' (did you mean "{close[0]}"?)' if close else ""
