"""The Terraform providers' schemas, read from their published cdktf bindings.

Providers cannot be downloaded here, so `terraform providers schema -json` cannot
run. The npm packages `@cdktf/provider-<name>` are generated from that schema, one
release per provider version (package.json's `cdktf.provider.version` names it).
Two of their files say everything a configuration check needs:

- the JavaScript writes each argument under its Terraform name, in the resource
  class's `synthesizeHclAttributes()` and in one `<struct>ToHclTerraform()`
  function per nested block or object, and the call it makes tells a block from
  an argument: `cdktf.listMapperHcl(f, true)` is a block that may repeat,
  `cdktf.listMapperHcl(f, false)` an argument holding a list of objects, and a
  list or set converted item by item (`f(...)`) a block of at most one item;
- the type declarations (`.d.ts`) say which arguments are optional (`name?:`),
  and mark each block with the summary "<name> block".

Computed-only attributes appear in neither (the bindings only offer what a
configuration may set). `ensure_schema()` fetches the pinned packages once with
`npm pack` into a cache outside the repository and keeps a compact JSON schema
beside them; later runs read that JSON and touch no network.
"""

import base64
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Package:
    """A cdktf binding, pinned: the npm release and the provider it was made from."""

    npm_name: str
    version: str
    provider: str  # the local name in required_providers, and the types' prefix
    source: str  # package.json's cdktf.provider.name
    provider_version: str  # package.json's cdktf.provider.version
    integrity: str  # the registry's dist.integrity of this release

    @property
    def tarball_name(self) -> str:
        return f"{self.npm_name.lstrip('@').replace('/', '-')}-{self.version}.tgz"


# The last releases generated from each provider's major version that
# terraform/versions.tf allows (aws ~> 5.0, random ~> 3.6, tls ~> 4.0): 20.1.0
# was generated from hashicorp/aws 5.100.0, the last 5.x; 21.0.0 is from 6.0.0.
PACKAGES = (
    Package(
        npm_name="@cdktf/provider-aws",
        version="20.1.0",
        provider="aws",
        source="registry.terraform.io/hashicorp/aws",
        provider_version="5.100.0",
        integrity="sha512-ONRJFu5qz/4nqis5f9OxRk8rOZQnuOiDoRtOu3z53fiFxzow0vvA2afn"
        "kfntoZGOsynDerqyWPX4/y8A6k6+8g==",
    ),
    Package(
        npm_name="@cdktf/provider-random",
        version="12.0.1",
        provider="random",
        source="registry.terraform.io/hashicorp/random",
        provider_version="3.7.2",
        integrity="sha512-yE9fteVRxekOl6MhJeM6sac1VkljCwGFrZxozq0aE11zTBmB4oQBr3nk"
        "9Z1A2C5C3IB/0jKmabYDNPqgrZDfNw==",
    ),
    Package(
        npm_name="@cdktf/provider-tls",
        version="11.0.1",
        provider="tls",
        source="registry.terraform.io/hashicorp/tls",
        provider_version="4.1.0",
        integrity="sha512-8b7nKJUzLDxGEHOuXo5WcpFGg7g4rQqol6f1YjCJoQD5o3AA68hjMpfW"
        "J6yy85DJekyjA0/idYbeINlOmrd4EQ==",
    ),
)

# Bumped whenever the JSON this module writes changes shape, so that a cache
# written by an older version is rebuilt (from the cached tarball) and not misread.
FORMAT = 1
NPM_TIMEOUT = 300  # seconds; the aws package is a 34 MB download


class SchemaUnavailable(Exception):
    """The packages could not be fetched (no npm, no registry): nothing to check
    against. Any other failure is a bug and raises something else."""


SERVICE = "terraform-schema"  # its name in REQUIRED_SERVICES


def require_schema(cache: Path | None = None) -> dict:
    """`ensure_schema()` for a test: skip it, saying why, when the packages cannot
    be fetched; fail instead when REQUIRED_SERVICES (a comma list) names
    terraform-schema, as CI's does (tests.support.services.require's rule)."""

    from tests.support.services import require

    try:
        return ensure_schema(cache)
    except SchemaUnavailable as error:
        require(SERVICE, False, f"npm's registry ({error}); it is needed once")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "taskoverflow-ci" / "terraform-schema"


def ensure_schema(cache: Path | None = None) -> dict:
    """Every pinned provider's schema, merged (see `build_schema` for the shape).

    Reads the cached JSON when it is there; otherwise fetches what is missing
    (`npm pack`), checks it against the pinned integrity and builds the JSON.
    """
    cache = cache or cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    schemas = []
    for package in PACKAGES:
        target = cache / f"{package.tarball_name[:-4]}.schema-v{FORMAT}.json"
        if not target.exists():
            # One process builds; another test run on the machine waits for it.
            with open(cache / ".lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not target.exists():
                    schema = build_schema(package, fetch(package, cache))
                    temporary = target.with_suffix(".tmp")
                    temporary.write_text(json.dumps(schema, separators=(",", ":")))
                    os.replace(temporary, target)
        schemas.append(json.loads(target.read_text()))
    return merge(schemas)


def fetch(package: Package, cache: Path) -> Path:
    """The package's tarball in `cache`, downloaded by `npm pack` if missing and
    checked against the pinned integrity either way."""
    tarball = cache / package.tarball_name
    if not tarball.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise SchemaUnavailable("npm is not installed (it fetches the schema)")
        with tempfile.TemporaryDirectory(dir=cache) as folder:
            spec = f"{package.npm_name}@{package.version}"
            try:
                result = subprocess.run(
                    [npm, "pack", spec, "--pack-destination", folder]
                    + ["--loglevel=error"],
                    capture_output=True,
                    text=True,
                    timeout=NPM_TIMEOUT,
                )
            except subprocess.TimeoutExpired as error:
                raise SchemaUnavailable(
                    f"npm pack {spec} took over {NPM_TIMEOUT} s"
                ) from error
            if result.returncode != 0:
                said = [
                    line
                    for line in result.stderr.splitlines()
                    if line.strip() not in ("", "npm error")
                    and "complete log" not in line
                ]
                raise SchemaUnavailable(
                    f"npm pack {spec} failed: {' / '.join(said)[:500]}"
                )
            os.replace(Path(folder) / package.tarball_name, tarball)
    algorithm, _, expected = package.integrity.partition("-")
    digest = hashlib.new(algorithm, tarball.read_bytes()).digest()
    if base64.b64encode(digest).decode() != expected:
        tarball.unlink()
        raise RuntimeError(
            f"{tarball.name} does not match the pinned integrity of "
            f"{package.npm_name}@{package.version}; removed it, run again"
        )
    return tarball


def _argument(required: bool = False) -> dict:
    return {"argument": "simple", "struct": None, "required": required}


# Terraform's built-in provider (terraform.io/builtin/terraform) comes with
# Terraform itself, not as a package; its schema is small and fixed since 1.4
# (versions.tf asks for >= 1.5): the arguments that Terraform's documentation of
# terraform_data and terraform_remote_state lists, which cdktf 0.21's hand-written
# DataResource (lib/terraform-data-resource.js) writes too.
BUILTIN = {
    "provider": "terraform",
    "source": "terraform.io/builtin/terraform",
    "version": None,
    "package": None,
    "config": "terraform:provider",
    "resource": {"terraform_data": "terraform:terraform_data"},
    "data": {"terraform_remote_state": "terraform:terraform_remote_state"},
    "structs": {
        "terraform:provider": {},
        "terraform:terraform_data": {
            "input": _argument(),
            "triggers_replace": _argument(),
        },
        "terraform:terraform_remote_state": {
            "backend": _argument(required=True),
            "config": _argument(),
            "defaults": _argument(),
            "workspace": _argument(),
        },
    },
}


def merge(schemas: list[dict]) -> dict:
    merged: dict = {"providers": {}, "resource": {}, "data": {}, "structs": {}}
    for schema in [*schemas, BUILTIN]:
        merged["providers"][schema["provider"]] = {
            key: schema[key] for key in ("source", "version", "package", "config")
        }
        for key in ("resource", "data", "structs"):
            merged[key].update(schema[key])
    return merged


# --- Reading the package ---------------------------------------------------------
# What tsc made of cdktf's generator templates (cdktf 0.21). The builder checks
# that every argument it reads from the JavaScript is declared in the .d.ts and
# the other way round, so a change of template fails the build, never the check.
_CLASS = re.compile(
    r"^class (\w+) extends cdktf\.Terraform(Resource|DataSource|Provider) \{$", re.M
)
_TF_TYPE = re.compile(r'^(\w+)\.tfResourceType = "([\w-]+)";$', re.M)
_FUNCTION = re.compile(r"^function (\w+)ToHclTerraform\(struct\) \{$", re.M)
_ATTRS = re.compile(r"const attrs = \{(.*?)\};", re.S)
_ENTRY = re.compile(
    r'^\s+"?([\w-]+)"?: \{\n\s+value: (.+),\n\s+isBlock: (?:true|false),\n'
    r'\s+type: "(\w+)",\n\s+storageClassType: "\w+",\n\s+\},?$',
    re.M,
)
_REFERENCE = re.compile(
    r"^(.*)\((?:this\._|struct\.)(\w+)(?:\.internalValue)?\)$", re.S
)
_DEFAULT = re.compile(r"^(?:this\._|struct\.)\w+ === undefined \? [^?]+? : (.*)$")
_INTERFACE = re.compile(
    r"^export interface (\w+)(?: extends [\w., ]+)? \{\n(.*?)^\}$", re.M | re.S
)
_PROPERTY = re.compile(r"(?:/\*\*(.*?)\*/\s*)?readonly (\w+)(\??):", re.S)
_CONFIG = re.compile(
    r"^export declare class (\w+) extends cdktf\.Terraform\w+ \{.*?"
    r"constructor\(scope: Construct, id: string, config\??: (\w+)\);",
    re.M | re.S,
)


def build_schema(package: Package, tarball: Path) -> dict:
    """The schema of one provider, from its package's tarball:

    {"provider": "aws", "source": ..., "version": "5.100.0", "package": ...,
     "config": <struct id of the provider block>,
     "resource": {"aws_ecs_service": <struct id>}, "data": {...},
     "structs": {<struct id>: {<terraform name>: <property>}}}

    A property is {"block": nesting, "struct": id, "required": bool, "max_one":
    bool} for a nested block (nesting "list", "set", "single", or "any" where the
    binding leaves a deep block unchecked), and {"argument": type, ...} for an
    argument (type "simple", "list", "set", "map" or "object"; "struct" names the
    object type of an object or of a collection's elements).
    """
    files: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    manifest = None
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive:
            parts = member.name.split("/")
            if member.name == "package/package.json":
                manifest = json.load(archive.extractfile(member))
            elif (
                member.isfile()
                and parts[1:2] == ["lib"]
                and len(parts) > 3
                and member.name.endswith((".js", ".d.ts"))
            ):
                kind = "dts" if member.name.endswith(".d.ts") else "js"
                text = archive.extractfile(member).read().decode()
                files[parts[2]][kind].append(text)
    _check_manifest(package, manifest)
    schema = {
        "provider": package.provider,
        "source": package.source,
        "version": package.provider_version,
        "package": f"{package.npm_name}@{package.version}",
        "config": None,
        "resource": {},
        "data": {},
        "structs": {},
    }
    for folder, texts in sorted(files.items()):
        _read_folder(package.provider, folder, texts["js"], texts["dts"], schema)
    if schema["config"] is None or not schema["resource"]:
        raise RuntimeError(f"{package.npm_name}: no provider or no resources read")
    return schema


def _check_manifest(package: Package, manifest: dict | None) -> None:
    """The tarball is the release we pinned, generated from the provider we say."""
    generated_from = (manifest or {}).get("cdktf", {}).get("provider", {})
    found = (
        (manifest or {}).get("name"),
        (manifest or {}).get("version"),
        generated_from.get("name"),
        generated_from.get("version"),
    )
    pinned = (package.npm_name, package.version, package.source)
    if found != (*pinned, package.provider_version):
        raise RuntimeError(f"{package.tarball_name}: package.json says {found}")


def _read_folder(
    provider: str, folder: str, js: list[str], dts: list[str], schema: dict
) -> None:
    """One generated module (a resource, a data source or the provider)."""
    javascript = "\n".join(js)
    functions = {}
    for match in _FUNCTION.finditer(javascript):
        functions[match.group(1)] = _entries(javascript, match.end())
    classes = {}
    for match in _CLASS.finditer(javascript):
        start = javascript.index("synthesizeHclAttributes() {", match.end())
        classes[match.group(1)] = (match.group(2), _entries(javascript, start))
    if not classes:
        return  # the package's index, re-exporting the modules
    tf_types = dict(_TF_TYPE.findall(javascript))
    declarations = "\n".join(dts)
    interfaces = {
        name: {
            camel: {"optional": bool(optional), "block": _is_block_doc(doc)}
            for doc, camel, optional in _PROPERTY.findall(body)
        }
        for name, body in _INTERFACE.findall(declarations)
    }
    configs = dict(_CONFIG.findall(declarations))

    def struct_id(name: str) -> str:
        return f"{provider}:{folder}/{name}"

    # A class keeps an argument in `this._<name>`, which is mostly the config's
    # property name: not where the binding renames it (get_password_data is
    # `fetchPasswordData` in the config, `this._getPasswordData` inside).
    stored_as = {
        storage: camel
        for storage, camel in re.findall(
            r"this\._(\w+)(?:\.internalValue)? = config\.(\w+);", javascript
        )
    }

    def add_struct(
        name: str, entries: list[tuple[str, str, str]], renamed: dict | None = None
    ) -> str:
        key = struct_id(name)
        if key in schema["structs"]:
            return key
        schema["structs"][key] = properties = {}  # before recursing: blocks nest
        declared = interfaces.get(name)
        if declared is None:
            raise RuntimeError(f"{folder}: no interface {name} in the .d.ts")
        camels = set()
        for tf_name, value, hcl_type in entries:
            camel, conversion = _parse_value(value)
            camel = (renamed or {}).get(camel, camel)
            camels.add(camel)
            if camel not in declared:
                raise RuntimeError(f"{folder}: {name}.{camel} is not declared")
            doc = declared[camel]
            properties[tf_name] = _property(conversion, hcl_type, doc, add_function)
        if set(declared) != camels:
            raise RuntimeError(
                f"{folder}: {name} declares {sorted(set(declared) - camels)} "
                "that the JavaScript does not write"
            )
        return key

    def add_function(function: str) -> str:
        """The struct that `<function>ToHclTerraform` writes."""
        if function not in functions:
            raise RuntimeError(f"{folder}: no function {function}ToHclTerraform")
        return add_struct(function[0].upper() + function[1:], functions[function])

    for class_name, (kind, entries) in classes.items():
        config = configs[class_name]
        key = add_struct(config, entries, stored_as)
        if kind == "Provider":
            schema["config"] = key
        else:
            section = "resource" if kind == "Resource" else "data"
            schema[section][tf_types[class_name]] = key


def _entries(javascript: str, start: int) -> list[tuple[str, str, str]]:
    """(terraform name, value expression, HCL type) of the `attrs` object that
    follows `start`."""
    body = _ATTRS.search(javascript, start)
    entries = _ENTRY.findall(body.group(1))
    if body.group(1).count("isBlock:") != len(entries):
        raise RuntimeError(f"unreadable attrs: {body.group(1)[:300]}")
    return entries


def _is_block_doc(doc: str) -> bool:
    lines = [line.strip(" *") for line in doc.strip().splitlines()]
    return bool(lines) and lines[0].endswith(" block") and len(lines[0].split()) == 2


def _parse_value(value: str) -> tuple[str, tuple]:
    """`cdktf.listMapperHcl(fooToHclTerraform, true)(this._foo.internalValue)` →
    ("foo", ("list", ("struct", "foo"), True))."""
    default = _DEFAULT.match(value)
    if default:
        value = default.group(1)
    reference = _REFERENCE.match(value)
    if not reference:
        raise RuntimeError(f"unreadable value: {value}")
    conversion, rest = _parse_conversion(reference.group(1))
    if rest:
        raise RuntimeError(f"unreadable conversion: {value}")
    return reference.group(2), conversion


_PRIMITIVE = re.compile(r"cdktf\.(string|number|boolean|any)ToHclTerraform")
_STRUCT = re.compile(
    r"\(0, (?:\w+\.)?(\w+)ToHclTerraform\)|(?:\w+\.)?(\w+)ToHclTerraform"
)


def _parse_conversion(text: str) -> tuple[tuple, str]:
    """One conversion function at the start of `text`; (conversion, the rest)."""
    if text.startswith("cdktf.listMapperHcl("):
        inner, rest = _parse_conversion(text[len("cdktf.listMapperHcl(") :])
        match = re.match(r", (true|false)\)", rest)
        if not match:
            raise RuntimeError(f"unreadable list conversion: {text}")
        return ("list", inner, match.group(1) == "true"), rest[match.end() :]
    if text.startswith("cdktf.hashMapperHcl("):
        inner, rest = _parse_conversion(text[len("cdktf.hashMapperHcl(") :])
        if not rest.startswith(")"):
            raise RuntimeError(f"unreadable map conversion: {text}")
        return ("map", inner), rest[1:]
    match = _PRIMITIVE.match(text)
    if match:
        return (match.group(1),), text[match.end() :]
    match = _STRUCT.match(text)
    if match:
        return ("struct", match.group(1) or match.group(2)), text[match.end() :]
    raise RuntimeError(f"unreadable conversion: {text}")


def _property(conversion: tuple, hcl_type: str, doc: dict, add_function) -> dict:
    """The schema's record of one argument or block (see `build_schema`)."""
    required = not doc["optional"]
    kind = conversion[0]
    if kind == "any" and hcl_type == "simple":
        # A block too deeply nested for the binding (its generator skips it):
        # its contents are not described, so they go unchecked.
        return {"block": "any", "struct": None, "required": False, "max_one": False}
    if kind == "list" and conversion[2]:  # listMapperHcl(f, true): a block
        return {
            "block": hcl_type,
            "struct": add_function(_function(conversion[1])),
            "required": required,
            "max_one": False,
        }
    if kind == "struct" and hcl_type in ("list", "set"):
        # A list or set block converted as one item: max_items = 1.
        return {
            "block": hcl_type,
            "struct": add_function(_function(conversion)),
            "required": required,
            "max_one": True,
        }
    if kind == "struct" and doc["block"]:
        # Nesting mode "single" (timeouts, for one). The binding calls such a
        # block required when all its arguments are; Terraform never requires one.
        return {
            "block": "single",
            "struct": add_function(_function(conversion)),
            "required": False,
            "max_one": True,
        }
    if kind == "struct":
        return {
            "argument": "object",
            "struct": add_function(_function(conversion)),
            "required": required,
        }
    element = conversion[1] if kind in ("list", "map") else None
    struct = None
    if element is not None and element[0] == "struct":
        struct = add_function(_function(element))
    argument = hcl_type if kind == "list" else kind
    if kind not in ("list", "map"):
        argument = "simple"
    return {"argument": argument, "struct": struct, "required": required}


def _function(conversion: tuple) -> str:
    if conversion[0] != "struct":
        raise RuntimeError(f"a block of {conversion}")
    return conversion[1]
