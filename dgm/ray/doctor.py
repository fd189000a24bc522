"""`dgm doctor --ray ADDRESS`: can this Ray cluster run an evolution? Each node's Docker, images, slots."""

from __future__ import annotations

from dgm.sandbox.doctor import Check
from dgm.terminal import inert

PROBE_SECONDS = 60.0


def cluster_checks(address: str) -> list[Check]:
    """One check per node and fact; ConfigError (exit 2) when Ray is missing or ADDRESS is unreachable."""
    from dgm.ray.connect import check_reachable, connect
    from dgm.ray.executor import require_ray

    require_ray()
    check_reachable(address)
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from dgm.ray.task import probe_node
    from dgm.sandbox.images import base_image_tag

    connect(address)
    try:
        checks = [Check("ok", f"Ray {ray.__version__}: joined the cluster at {address}")]
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        slots = sum(float(n.get("Resources", {}).get("sandbox_slot", 0)) for n in nodes)
        if not slots:
            checks.append(Check("FAIL", f"no node of {len(nodes)} advertises sandbox slots",
                                "start each Docker host with ray start --resources='{\"sandbox_slot\": N}'"))
        images = [base_image_tag("bookworm")]
        probe = ray.remote(probe_node)
        refs = {}
        for node in nodes:
            res = node.get("Resources", {})
            name = f"node {node['NodeID'][:12]} ({node.get('NodeManagerAddress', '?')})"
            have = float(res.get("sandbox_slot", 0))
            if not have:
                checks.append(Check("ok", f"{name}: no sandbox slots (runs no work items)"))
                continue
            checks.append(Check("ok", f"{name}: {have:g} sandbox slot(s), {res.get('CPU', 0):g} CPU, "
                                      f"{res.get('memory', 0) / 2**30:.1f} GiB"))
            refs[name] = probe.options(num_cpus=0, max_retries=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
                node["NodeID"], soft=False)).remote("doctor", images)
        for name, ref in refs.items():
            try:
                report = ray.get(ref, timeout=PROBE_SECONDS)
            except Exception as exc:  # noqa: BLE001 - the node could not run a task at all
                checks.append(Check("FAIL", f"{name}: cannot run a task there ({type(exc).__name__})",
                                    "install dgm and the same Ray version on that node"))
                continue
            if report["docker"] != "ok":
                checks.append(Check("FAIL", f"{name}: {report['docker']}",
                                    "start Docker there (and make its socket readable by the Ray user); "
                                    "until then the node refuses work and the run uses the others"))
            elif report["missing"]:
                checks.append(Check("warn", f"{name}: missing {', '.join(report['missing'])}",
                                    "built on its first work item (minutes); or run `dgm sandbox build` there"))
            else:
                checks.append(Check("ok", f"{name}: Docker engine and base image ready"))
        return checks
    finally:
        ray.shutdown()


def run_ray_checks(address: str) -> int:
    """Print every check; 0 when none failed."""
    checks = cluster_checks(address)
    for c in checks:
        print(f"{c.level:<4} {inert(c.what, lines=False)}")
        if c.fix and c.level != "ok":
            print(f"     fix: {inert(c.fix, lines=False)}")
    failed = sum(c.level == "FAIL" for c in checks)
    print(f"\n{'cluster not ready' if failed else 'cluster ready'}: {failed} failed")
    return 1 if failed else 0
