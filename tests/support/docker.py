"""A Docker engine and the images the project's files name, on a machine that
reaches no registry: Debian's docker.io, and local stand-ins for
python:3.11-slim-bookworm, postgres and redis built from Debian's packages.

What takes minutes (the debootstrap root, the stand-in images) is made once and
kept: the root as a tarball under CACHE_DIR, the images labelled with a hash of
what they were built from, so that a changed input builds them again.
"""

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.processes import PROJECT_DIR

CACHE_DIR = Path(
    os.environ.get("TASKOVERFLOW_CI_CACHE", "")
    or Path.home() / ".cache" / "taskoverflow-ci"
)
IMAGES_DIR = Path(__file__).parent / "images"
BASE_IMAGE = "python:3.11-slim-bookworm"
PROJECT_IMAGE = "taskoverflow:latest"
INPUTS_LABEL = "taskoverflow.ci.inputs"
# What the stand-in base holds beyond debootstrap's minimal Debian.
BASE_PACKAGES = ("python3.11", "python3-venv", "ca-certificates")
# The official image's Python is /usr/local/bin/python; a venv there gives the
# same names (python, python3, pip) and a pip that installs into it.
BASE_SETUP = (
    "python3.11 -m venv /usr/local && /usr/local/bin/pip --version"
    " && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin"
)
BASE_CHANGES = (
    "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["python3"]',
)
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def docker(*args: str, timeout: float = 120, check: bool = True, **kwargs):
    """`docker ARGS`, its output captured as text."""
    return subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
        **kwargs,
    )


def engine_running() -> bool:
    try:
        return docker("info", timeout=20, check=False).returncode == 0
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False


def apt_install(*packages: str) -> None:
    """Debian's packages, from the mirror apt is configured with."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    command = ["apt-get", "install", "-y", "-qq", *packages]
    subprocess.run(command, check=True, env=env, timeout=1200, capture_output=True)


def ensure_engine(*, timeout: float = 60) -> None:
    """A Docker engine that answers: Debian's docker.io installed and dockerd
    started if need be, with no iptables and no default bridge (containers here
    may reach only 127.0.0.1, so they share a network namespace instead)."""
    if engine_running():
        return
    if shutil.which("dockerd") is None:
        apt_install("docker.io")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    log = (CACHE_DIR / "dockerd.log").open("ab")
    subprocess.Popen(
        ["dockerd", "--iptables=false", "--bridge=none"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # outlives the test run, as a system service would
    )
    log.close()
    deadline = time.monotonic() + timeout
    while not engine_running():
        if time.monotonic() > deadline:
            raise TimeoutError(f"dockerd did not answer in {timeout} s: {log.name}")
        time.sleep(0.5)


def digest(*parts: bytes) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(hashlib.sha256(part).digest())
    return hasher.hexdigest()[:16]


def image_inputs(image: str) -> str | None:
    """The inputs label of a local image; None if there is no such image."""
    result = docker(
        "image", "inspect", "-f", f'{{{{index .Config.Labels "{INPUTS_LABEL}"}}}}',
        image, check=False,
    )  # fmt: skip
    return result.stdout.strip() if result.returncode == 0 else None


def apt_mirror() -> str:
    """The Debian mirror of this machine's apt sources (deb822 or one-line)."""
    for source in sorted(Path("/etc/apt").glob("sources.list*")) + sorted(
        Path("/etc/apt/sources.list.d").glob("*")
    ):
        if not source.is_file():
            continue
        for line in source.read_text().splitlines():
            words = line.split()
            if words[:1] == ["URIs:"] and words[1].rstrip("/").endswith("/debian"):
                return words[1]
            if words[:1] == ["deb"] and "/debian" in line and "security" not in line:
                return next(w for w in words[1:] if "://" in w)
    return "http://deb.debian.org/debian"


def base_root_tarball() -> Path:
    """A debootstrapped bookworm with Debian's Python 3.11 as the official
    image has it, as a tarball in the cache (made once: it takes minutes)."""
    key = digest(" ".join(BASE_PACKAGES).encode(), BASE_SETUP.encode())
    tarball = CACHE_DIR / f"bookworm-python-{key}.tar"
    if tarball.exists():
        return tarball
    if shutil.which("debootstrap") is None:
        apt_install("debootstrap")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as work:
        root = Path(work) / "root"
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}"]
            + ["bookworm", str(root), apt_mirror()],
            check=True,
            capture_output=True,
            timeout=1800,
        )
        # pip inside image builds trusts what this machine trusts.
        shutil.copy(HOST_CA_BUNDLE, root / HOST_CA_BUNDLE.relative_to("/"))
        subprocess.run(
            ["chroot", str(root), "/bin/sh", "-c", BASE_SETUP],
            check=True,
            capture_output=True,
            timeout=600,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
        )
        partial = tarball.with_suffix(".partial")
        subprocess.run(
            ["tar", "-C", str(root), "-cf", str(partial), "."], check=True, timeout=600
        )
        partial.rename(tarball)
    return tarball


def ensure_base_image() -> None:
    """python:3.11-slim-bookworm, imported from the cached root."""
    tarball = base_root_tarball()
    key = digest(tarball.name.encode(), *(c.encode() for c in BASE_CHANGES))
    if image_inputs(BASE_IMAGE) == key:
        return
    changes = [*BASE_CHANGES, f"LABEL {INPUTS_LABEL}={key}"]
    docker(
        "import",
        *(arg for change in changes for arg in ("--change", change)),
        str(tarball),
        BASE_IMAGE,
        timeout=600,
    )


def build(context: Path, tag: str, *, key: str) -> None:
    """`docker build` of `context` as `tag` on the host's network (the only way
    out), unless an image built from the same inputs is there already."""
    if image_inputs(tag) == key:
        return
    docker(
        "build", "--network", "host", "--label", f"{INPUTS_LABEL}={key}",
        "-t", tag, str(context), timeout=1800,
    )  # fmt: skip


def files_digest(folder: Path, names: list[str]) -> str:
    return digest(*((folder / name).read_bytes() for name in names))


def ensure_stand_in(name: str, tag: str) -> None:
    """A stand-in image of tests/support/images/<name> tagged as compose names it."""
    folder = IMAGES_DIR / name
    base = docker("image", "inspect", "-f", "{{.Id}}", BASE_IMAGE).stdout.strip()
    key = digest(
        base.encode(), files_digest(folder, ["Dockerfile", "entrypoint.sh"]).encode()
    )
    build(folder, tag, key=key)


def build_project_image() -> None:
    """The project's Dockerfile, unchanged, as taskoverflow:latest. Docker's own
    layer cache makes a build with unchanged sources quick."""
    docker(
        "build", "--network", "host", "-t", PROJECT_IMAGE, str(PROJECT_DIR),
        timeout=1800,
    )  # fmt: skip


def ensure_images(stand_ins: dict[str, str]) -> None:
    """The engine, the base stand-in, the given stand-ins {folder: tag} and the
    project's image."""
    ensure_engine()
    ensure_base_image()
    for name, tag in stand_ins.items():
        ensure_stand_in(name, tag)
    build_project_image()
