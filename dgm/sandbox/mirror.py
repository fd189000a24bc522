"""The Debian mirror this machine's apt is configured with (never a host name in code)."""

from __future__ import annotations

from pathlib import Path

from dgm.errors import SandboxError

APT_DIR = Path("/etc/apt")


def _deb822_stanzas(text: str) -> list[dict[str, str]]:
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.lstrip().startswith("#"):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current, key = {}, ""
            continue
        if line[0] in " \t" and key:  # continuation line
            current[key] += " " + line.strip()
            continue
        if ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            current[key] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def _is_main_archive(suites: list[str], uri: str) -> bool:
    # The main archive carries the plain suite ("bookworm"); -security/-updates/-backports
    # live elsewhere or carry only a subset of packages.
    return any("-" not in s and "/" not in s for s in suites) and "security" not in uri


def debian_mirror(apt_dir: Path = APT_DIR) -> str:
    """URI of the main Debian archive from deb822 `*.sources` or `sources.list` files."""
    candidates: list[str] = []
    for path in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        for stanza in _deb822_stanzas(path.read_text(errors="replace")):
            if stanza.get("enabled", "yes").lower() == "no":
                continue
            if "deb" not in stanza.get("types", "").split():
                continue
            suites = stanza.get("suites", "").split()
            for uri in stanza.get("uris", "").split():
                if _is_main_archive(suites, uri):
                    candidates.append(uri)
    lists = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.list"))]
    for path in lists:
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            body = line.split("#", 1)[0].strip()
            if not body.startswith("deb "):
                continue
            body = body[4:].strip()
            if body.startswith("["):  # options such as [signed-by=...]
                body = body.split("]", 1)[-1].strip()
            words = body.split()
            if len(words) >= 2 and _is_main_archive([words[1]], words[0]):
                candidates.append(words[0])
    for uri in candidates:
        if uri.startswith(("http://", "https://", "file:/")):
            return uri.rstrip("/")
    raise SandboxError(
        "no Debian mirror found in the apt configuration",
        hint=f"add a deb822 stanza with 'URIs:' to {apt_dir}/sources.list.d/debian.sources",
    )
