"""Find and fetch a project's release archives through the package index pip is configured with."""

from __future__ import annotations

import hashlib
import json
import os
import re
import ssl
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from dgm.errors import BenchError
from dgm.home import dgm_home

# SWE-bench repository -> project name on the index.
PROJECTS: dict[str, str] = {
    "astropy/astropy": "astropy",
    "django/django": "Django",
    "matplotlib/matplotlib": "matplotlib",
    "mwaskom/seaborn": "seaborn",
    "pallets/flask": "Flask",
    "psf/requests": "requests",
    "pydata/xarray": "xarray",
    "pylint-dev/pylint": "pylint",
    "pytest-dev/pytest": "pytest",
    "scikit-learn/scikit-learn": "scikit-learn",
    "sphinx-doc/sphinx": "Sphinx",
    "sympy/sympy": "sympy",
}

_SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2", ".tgz")


@dataclass
class ReleaseFile:
    """One file of a release as the index lists it."""

    filename: str
    url: str
    sha256: str | None
    upload_time: str | None
    yanked: bool


def _pip_config() -> dict[str, str]:
    """pip's merged configuration (files and PIP_* variables) as `section.key -> value`."""
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                         text=True, check=False).stdout
    conf: dict[str, str] = {}
    for line in out.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            conf[key.strip().split(".")[-1]] = value.strip().strip("'\"")
    return conf


def index_url() -> str:
    """The simple-API base URL pip would use: its configuration, else pip's own default."""
    conf = _pip_config()
    url = os.environ.get("PIP_INDEX_URL") or conf.get("index-url")
    if not url:
        from pip._internal.models.index import PyPI  # pip's default, so no host is named here

        url = PyPI.simple_url
    return url.rstrip("/")


def _ssl_context() -> ssl.SSLContext:
    cert = os.environ.get("PIP_CERT") or _pip_config().get("cert")
    return ssl.create_default_context(cafile=cert) if cert else ssl.create_default_context()


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def release_files(project: str) -> list[ReleaseFile]:
    """Every file the index lists for `project` (PEP 691 JSON), cached for this process."""
    if project in _FILES_CACHE:
        return _FILES_CACHE[project]
    url = f"{index_url()}/{_normalize(project)}/"
    request = urllib.request.Request(url, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    try:
        with urllib.request.urlopen(request, context=_ssl_context(), timeout=60) as resp:
            data = json.load(resp)
    except (OSError, ValueError) as exc:
        raise BenchError(f"cannot list releases of {project} from the package index: {exc}") from exc
    files = [
        ReleaseFile(f["filename"], f["url"], (f.get("hashes") or {}).get("sha256"),
                    f.get("upload-time"), bool(f.get("yanked")))
        for f in data.get("files", [])
    ]
    _FILES_CACHE[project] = files
    return files


_FILES_CACHE: dict[str, list[ReleaseFile]] = {}


def sdist_file(project: str, version: str) -> ReleaseFile:
    """The source archive of `project==version`; BenchError when the release has none."""
    for f in release_files(project):
        suffix = next((s for s in _SDIST_SUFFIXES if f.filename.endswith(s)), None)
        if suffix is None:
            continue
        name, _, ver = f.filename[: -len(suffix)].rpartition("-")
        if ver == version and _normalize(name) == _normalize(project):
            return f
    raise BenchError(f"{project} {version} has no source archive on the package index")


def download_sdist(project: str, version: str, cache_dir: Path | None = None) -> Path:
    """Fetch the source archive once into the cache (hash-checked) and return its path."""
    f = sdist_file(project, version)
    cache = cache_dir or dgm_home() / "pypi" / "sdists"
    cache.mkdir(parents=True, exist_ok=True)
    dest = cache / f.filename
    if dest.exists() and (f.sha256 is None or _sha256(dest) == f.sha256):
        return dest
    tmp = dest.with_suffix(dest.suffix + f".part{os.getpid()}")
    try:
        with urllib.request.urlopen(f.url, context=_ssl_context(), timeout=300) as resp, \
                open(tmp, "wb") as out:
            while chunk := resp.read(1 << 20):
                out.write(chunk)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BenchError(f"cannot download {f.filename}: {exc}") from exc
    if f.sha256 and _sha256(tmp) != f.sha256:
        tmp.unlink(missing_ok=True)
        raise BenchError(f"{f.filename}: sha256 does not match the index")
    tmp.replace(dest)
    return dest


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def project_for(repo: str) -> str:
    """The index project of a SWE-bench repository; BenchError for repositories we do not map."""
    try:
        return PROJECTS[repo]
    except KeyError:
        raise BenchError(f"{repo}: no package-index project is known for this repository") from None


def release_upload_time(project: str, version: str) -> str | None:
    """ISO upload time of the release's source archive (used to pick contemporary pins)."""
    return sdist_file(project, version).upload_time
