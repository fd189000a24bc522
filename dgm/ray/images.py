"""Images on every node: an item names its images by recipe hash; a node without the agent image builds
it from the same offline recipe (under the node's build lock, so once); a task's environment image is
pulled from a registry the run names, or must have been built on the node (`dgm bench build`).

A recipe is data (a Dockerfile layered on a dgm base suite, plus its context files), put in Ray's
object store once per run and fetched by each node that needs it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from dgm.errors import SandboxError


class ImageMissing(SandboxError):
    """A task's environment image is not on this node and no registry was named to pull it from."""


@dataclass(frozen=True)
class ImageRecipe:
    name: str                 # image name; the tag is the recipe's hash on the node that builds it
    dockerfile: str
    suite: str = "bookworm"   # the dgm base image it is layered on (built offline where missing)
    files: dict = field(default_factory=dict, hash=False)   # context path -> bytes

    @property
    def key(self) -> str:
        h = hashlib.sha256(self.name.encode() + b"\0" + self.suite.encode() + b"\0" + self.dockerfile.encode())
        for rel in sorted(self.files):
            h.update(b"\0" + rel.encode() + b"\0" + self.files[rel])
        return f"{self.name}:{h.hexdigest()[:16]}"


def agent_recipe() -> ImageRecipe:
    """The agent image's recipe as data (the same Dockerfile and wheels the driver builds from)."""
    from dgm.agent.images import DOCKERFILE, agent_wheels

    wheels = agent_wheels()
    files = {f"wheels/{w.name}": w.read_bytes() for w in sorted(wheels.glob("*.whl"))}
    return ImageRecipe("dgm-agent", DOCKERFILE, "bookworm", files)


def ensure_recipe(recipe: ImageRecipe) -> str:
    """The node-local tag of RECIPE's image, built here (once, under a lock) when missing."""
    from dgm.sandbox.images import ensure_base_image, ensure_image

    base = ensure_base_image(recipe.suite)
    return ensure_image(recipe.name, None, recipe.dockerfile, base=base, files=recipe.files)


def ensure_tag(tag: str, registry: str = "") -> str:
    """TAG on this node: present, or pulled from REGISTRY and tagged locally; ImageMissing otherwise."""
    from dgm.sandbox.engine import docker_client, image_exists
    from dgm.sandbox.locks import build_lock

    if image_exists(tag):
        return tag
    if not registry:
        raise ImageMissing(f"image {tag} is not on this node",
                           hint="build the task environments on every node (`dgm bench build`), "
                                "or name a registry in evolve.ray_registry")
    with build_lock(f"pull-{tag}"):
        if image_exists(tag):
            return tag
        remote = f"{registry.rstrip('/')}/{tag}"
        repository, _, version = remote.rpartition(":")
        try:
            image = docker_client().images.pull(repository, tag=version)
        except Exception as exc:  # noqa: BLE001 - any engine failure means: not pulled
            raise ImageMissing(f"image {tag} is not on this node and pulling {remote} failed: {exc}") from None
        name, _, version = tag.rpartition(":")
        image.tag(name, version)
        return tag
