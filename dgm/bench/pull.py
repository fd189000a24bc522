"""Pulling official images: progress, a concurrency limit, sizes from the registry, disk use.

The engine does the pulling (its own credentials, mirrors and insecure-registry rules apply).
Layers of images it already has are not fetched again ("Already exists"). A pull that is cut
off is tried again here; on an engine with the classic layer store (measured on 20.10) the
layers of an interrupted pull are dropped with it, so a second pull fetches them anew
(scripts/bench_official.py measures this). Across instances, `dgm bench build` resumes:
images already pulled are local and are not asked for again.
Sizes for a dry run come from the registry's HTTP API v2 (the manifest's config and layer
sizes, compressed: what a pull transfers), asked anonymously or with an anonymous token.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Callable

from dgm.errors import BenchError

MANIFESTS = ", ".join([
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
])
_limit = threading.BoundedSemaphore(2)
_limit_lock = threading.Lock()


def set_pull_limit(n: int) -> None:
    """At most N pulls at once in this process (the rest wait their turn)."""
    global _limit
    with _limit_lock:
        _limit = threading.BoundedSemaphore(max(1, n))


@dataclass
class Reference:
    """An image name split the way the engine splits it."""

    registry: str  # "" for the engine's default registry
    repository: str  # path on the registry, e.g. swebench/sweb.eval.x86_64.x
    tag: str

    @property
    def pull_name(self) -> str:
        return f"{self.registry}/{self.repository}" if self.registry else self.repository


def parse_reference(image: str) -> Reference:
    """NAME[:TAG]; the first component is a registry when it has a dot or a port, or is localhost."""
    name, tag = image, "latest"
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = image.rsplit(":", 1)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return Reference(first, rest, tag)
    return Reference("", name, tag)


def registry_of(image: str) -> str:
    """The registry an image comes from, for messages: its host, or the engine's default index."""
    ref = parse_reference(image)
    if ref.registry:
        return ref.registry
    try:
        from dgm.sandbox.engine import docker_client

        return str(docker_client().info().get("IndexServerAddress") or "the engine's default registry")
    except Exception:  # noqa: BLE001 - only for a message
        return "the engine's default registry"


def _mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 1e6 else f"{n / 1e3:,.0f} kB"


class PullFailed(BenchError):
    """The engine could not pull an image (no registry, no such image, refused)."""


def pull(image: str, *, progress: Callable[[str], None] | None = None, every: float = 2.0,
         retries: int = 2) -> dict:
    """Pull IMAGE through the engine, reporting progress; returns seconds, bytes and layer counts.

    A pull cut off after layers started to arrive is tried again (RETRIES times, after 5 s,
    then 10 s); one that never started (no registry, no such image) fails at once.
    """
    say = progress or (lambda line: None)
    started = time.monotonic()
    say(f"waiting for a pull slot: {image}")
    with _limit:
        for attempt in range(retries + 1):
            layers: dict[str, dict] = {}
            try:
                _pull_once(image, layers, say, every, started)
                break
            except PullFailed as exc:
                if not layers or attempt == retries:
                    raise
                say(f"pull of {image} cut off ({exc.message[-120:]}); trying again")
                time.sleep(5 * (attempt + 1))
    seconds = time.monotonic() - started
    reused = sum(1 for layer in layers.values() if layer["status"] == "Already exists")
    fetched = sum(layer["total"] for layer in layers.values())
    say(_pull_line(image, layers, seconds) + " done")
    return {"seconds": round(seconds, 2), "fetched_bytes": fetched, "layers": len(layers),
            "layers_reused": reused, "attempts": attempt + 1}


def _pull_once(image: str, layers: dict[str, dict], say: Callable[[str], None], every: float,
               started: float) -> None:
    import docker

    from dgm.sandbox.engine import docker_client

    ref = parse_reference(image)
    last = 0.0
    say(f"pulling {image}")
    try:
        for event in docker_client().api.pull(ref.pull_name, tag=ref.tag, stream=True, decode=True):
            if "error" in event:
                raise PullFailed(f"cannot pull {image} from {registry_of(image)}: {event['error']}")
            lid, status = event.get("id", ""), event.get("status", "")
            if lid and re.fullmatch(r"[0-9a-f]{12}", lid):
                layer = layers.setdefault(lid, {"total": 0, "current": 0, "status": ""})
                layer["status"] = status
                detail = event.get("progressDetail") or {}
                if status == "Downloading" and detail.get("total"):
                    layer["total"], layer["current"] = detail["total"], detail.get("current", 0)
                elif status in ("Download complete", "Pull complete"):
                    layer["current"] = layer["total"]
            now = time.monotonic()
            if now - last >= every:
                last = now
                say(_pull_line(image, layers, now - started))
    except docker.errors.APIError as exc:
        raise PullFailed(f"cannot pull {image} from {registry_of(image)}: "
                         f"{(exc.explanation or str(exc)).splitlines()[0][:200]}") from None
    except docker.errors.DockerException as exc:  # connection to the registry through the engine
        raise PullFailed(f"cannot pull {image} from {registry_of(image)}: {exc}") from None


def _pull_line(image: str, layers: dict[str, dict], seconds: float) -> str:
    done = sum(1 for layer in layers.values() if layer["status"] in ("Pull complete", "Already exists"))
    current = sum(layer["current"] for layer in layers.values())
    total = sum(layer["total"] for layer in layers.values())
    return (f"pull {image}: {done}/{len(layers)} layers, {_mb(current)}"
            + (f" of {_mb(total)} known" if total else "") + f", {seconds:.0f} s")


def check_available(image: str) -> None:
    """PullFailed unless IMAGE is local or its registry answers for it (asked through the engine)."""
    import docker

    from dgm.sandbox.engine import docker_client, image_exists

    if image_exists(image):
        return
    try:
        docker_client().api.inspect_distribution(image)
    except docker.errors.APIError as exc:
        cause = (exc.explanation or str(exc)).splitlines()[0]
        raise PullFailed(f"official image {image} cannot be had from {registry_of(image)} ({cause[-160:]})") from None


def image_bytes(image: str) -> int:
    """The image's size on the engine (all its layers, uncompressed)."""
    from dgm.sandbox.engine import docker_client

    return int(docker_client().images.get(image).attrs.get("Size") or 0)


def engine_disk() -> dict:
    """Free and total bytes where the engine keeps images (when that directory is on this host)."""
    from dgm.sandbox.engine import docker_client

    root = str(docker_client().info().get("DockerRootDir") or "")
    try:
        usage = shutil.disk_usage(root)
    except OSError:
        return {"root": root}
    return {"root": root, "free": usage.free, "total": usage.total}


# ---- sizes from the registry (HTTP API v2) --------------------------------------------------

def _engine_registry_config() -> dict:
    from dgm.sandbox.engine import docker_client

    info = docker_client().info()
    return {"index": str(info.get("IndexServerAddress") or ""), **(info.get("RegistryConfig") or {})}


def _insecure(host: str, config: dict) -> bool:
    """The engine's rule: listed insecure, inside an insecure CIDR (127.0.0.0/8 by default), or loopback."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    index = (config.get("IndexConfigs") or {}).get(host) or {}
    if index and index.get("Secure") is False:
        return True
    try:
        address = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return name == "localhost"
    return address.is_loopback or any(address in ipaddress.ip_network(c, strict=False)
                                       for c in config.get("InsecureRegistryCIDRs") or [])


def _endpoints(ref: Reference, config: dict) -> list[str]:
    """Base URLs to ask: the named registry, or the engine's mirrors and then its default index."""
    if ref.registry:
        hosts = [ref.registry]
    else:
        index = re.sub(r"^https?://", "", config.get("index", "")).split("/")[0]
        hosts = [re.sub(r"^https?://", "", m).rstrip("/") for m in config.get("Mirrors") or []]
        hosts += [index] if index else []
    urls = []
    for host in hosts:
        urls.append(f"https://{host}")
        if _insecure(host, config):
            urls.append(f"http://{host}")
    return urls


def _get(url: str, accept: str, token: str = "") -> tuple[dict, dict]:
    headers = {"Accept": accept}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=20) as resp:
        return json.loads(resp.read(4_000_000)), dict(resp.headers)


def _token(challenge: str, repository: str) -> str:
    """An anonymous pull token for a Bearer challenge (realm, service, scope)."""
    fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    if "realm" not in fields:
        return ""
    query = urllib.parse.urlencode({"service": fields.get("service", ""),
                                    "scope": fields.get("scope") or f"repository:{repository}:pull"})
    body, _ = _get(f"{fields['realm']}?{query}", "application/json")
    return str(body.get("token") or body.get("access_token") or "")


def _manifest(base: str, repository: str, reference: str, token: str) -> tuple[dict, str]:
    url = f"{base}/v2/{repository}/manifests/{reference}"
    try:
        return _get(url, MANIFESTS, token)[0], token
    except urllib.error.HTTPError as exc:
        challenge = exc.headers.get("WWW-Authenticate", "") if exc.code == 401 else ""
        if not challenge.lower().startswith("bearer") or token:
            raise
        token = _token(challenge, repository)
        return _get(url, MANIFESTS, token)[0], token


def registry_size(image: str) -> int:
    """Bytes a pull of IMAGE transfers (linux/amd64): config plus layers, as the registry lists them."""
    ref = parse_reference(image)
    errors = []
    for base in _endpoints(ref, _engine_registry_config()):
        try:
            manifest, token = _manifest(base, ref.repository, ref.tag, "")
            if "manifests" in manifest:  # an index: the amd64/linux entry
                chosen = next((m for m in manifest["manifests"]
                               if (m.get("platform") or {}).get("architecture") == "amd64"
                               and (m.get("platform") or {}).get("os") == "linux"), None)
                if chosen is None:
                    raise BenchError(f"{image} has no linux/amd64 manifest")
                manifest, token = _manifest(base, ref.repository, chosen["digest"], token)
            parts = [manifest.get("config") or {}, *(manifest.get("layers") or [])]
            return sum(int(p.get("size") or 0) for p in parts)
        except (OSError, ValueError, KeyError, urllib.error.URLError) as exc:
            errors.append(f"{base}: {getattr(exc, 'reason', None) or exc}")
    raise BenchError(f"cannot read the manifest of {image} from {registry_of(image)}: "
                     + ("; ".join(str(e) for e in errors) or "no registry endpoint"))
