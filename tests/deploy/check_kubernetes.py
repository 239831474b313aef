#!/usr/bin/env python3
"""The Kubernetes manifests hang together and follow the operations rules: probes on the admin
port, the restricted security context, resources and workers that match the CPU limit, a grace
period that covers the drain, Services and monitors that select what exists, and ConfigMaps that
match what the pods mount."""

import json
import math
import re

from deploy_lib import (Checker, all_containers, arguments, is_popgate_container, kubernetes_objects,
                        pod_templates)

ADMIN_PORT = 9110
UID = 10001


def container_port(container, port):
    """The number a probe's port (a number or a named container port) refers to."""
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p.get("containerPort")
    return None


def effective(pod_spec, container, key):
    """A securityContext setting as the kubelet applies it: the container's, else the pod's."""
    value = (container.get("securityContext") or {}).get(key)
    return value if value is not None else (pod_spec.get("securityContext") or {}).get(key)


def mounted_config(pod_spec, container, objects_by_kind):
    """(ConfigMap name, parsed JSON) of the popgate.json that the container's --config names."""
    args = container.get("args", []) + container.get("command", [])
    config_path = None
    for i, arg in enumerate(args):
        if arg == "--config" and i + 1 < len(args):
            config_path = args[i + 1]
        elif arg.startswith("--config="):
            config_path = arg.split("=", 1)[1]
    if config_path is None:
        return None, None, "no --config in args"
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        prefix = mount["mountPath"].rstrip("/") + "/"
        if not config_path.startswith(prefix):
            continue
        key = config_path[len(prefix):]
        volume = volumes.get(mount["name"], {})
        name = (volume.get("configMap") or {}).get("name")
        configmap = objects_by_kind.get(("ConfigMap", name))
        if configmap is None:
            return None, None, f"{config_path} is not in a ConfigMap defined under deploy/kubernetes"
        text = (configmap.get("data") or {}).get(key)
        if text is None:
            return name, None, f"ConfigMap {name} has no key {key}"
        return name, json.loads(text), None
    return None, None, f"no volume mounted over {config_path}"


def prestop_seconds(container):
    """Seconds the preStop hook sleeps (exec sleep N, or the native sleep action); 0 if none."""
    pre_stop = ((container.get("lifecycle") or {}).get("preStop")) or {}
    if "sleep" in pre_stop:
        return int(pre_stop["sleep"]["seconds"])
    command = (pre_stop.get("exec") or {}).get("command") or []
    if len(command) == 2 and command[0] in ("sleep", "/bin/sleep", "/usr/bin/sleep"):
        return int(command[1])
    return 0


def cpu_cores(quantity):
    """A Kubernetes CPU quantity ("2", 2, "500m", "1.5") in cores; None if it is none of those."""
    text = str(quantity)
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(m?)", text)
    if not m:
        return None
    return float(m.group(1)) / (1000 if m.group(2) else 1)


def configured_workers(container, config):
    """popgate's workers setting: POPGATE_WORKERS in the container's env over the config file."""
    for env in container.get("env", []):
        if env.get("name") == "POPGATE_WORKERS" and "value" in env:
            return int(env["value"])
    return config.get("workers")


def labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def check_pod(c, path, owner, pod_spec, objects_by_kind):
    where = f"{path} {owner}"
    popgate = [ct for ct in all_containers(pod_spec) if is_popgate_container(ct)]
    c.check(len(popgate) == 1, f"{where}: expected one popgate container, found {len(popgate)}")
    c.check(pod_spec.get("enableServiceLinks") is False,
            f"{where}: enableServiceLinks must be false (popgate refuses unknown POPGATE_* variables, "
            "and Kubernetes adds POPGATE_ADMIN_SERVICE_HOST and friends for Services named popgate-*)")
    c.check(pod_spec.get("automountServiceAccountToken") is False,
            f"{where}: automountServiceAccountToken should be false (popgate never calls the API)")

    volumes = {v["name"] for v in pod_spec.get("volumes", [])}
    for ct in all_containers(pod_spec):
        cw = f"{where} container {ct.get('name')}"
        # The restricted Pod Security Standard, on every container of the pod.
        c.check(effective(pod_spec, ct, "runAsNonRoot") is True, f"{cw}: runAsNonRoot is not true")
        sc = ct.get("securityContext") or {}
        c.check(sc.get("readOnlyRootFilesystem") is True, f"{cw}: readOnlyRootFilesystem is not true")
        c.check(sc.get("allowPrivilegeEscalation") is False, f"{cw}: allowPrivilegeEscalation is not false")
        c.check("ALL" in ((sc.get("capabilities") or {}).get("drop") or []), f"{cw}: capabilities do not drop ALL")
        c.check(not ((sc.get("capabilities") or {}).get("add")), f"{cw}: adds capabilities")
        seccomp = effective(pod_spec, ct, "seccompProfile") or {}
        c.check(seccomp.get("type") == "RuntimeDefault", f"{cw}: seccompProfile is not RuntimeDefault")
        resources = ct.get("resources") or {}
        for kind in ("requests", "limits"):
            c.check((resources.get(kind) or {}).get("memory"), f"{cw}: no memory {kind}")
        c.check((resources.get("requests") or {}).get("cpu"), f"{cw}: no cpu request")
        for mount in ct.get("volumeMounts", []):
            c.check(mount["name"] in volumes, f"{cw}: mounts volume {mount['name']} that the pod does not define")

    for ct in popgate:
        cw = f"{where} container popgate"
        c.check(effective(pod_spec, ct, "runAsUser") == UID,
                f"{cw}: runAsUser should be {UID}, the image's user")
        c.check((ct.get("resources") or {}).get("limits", {}).get("cpu"), f"{cw}: no cpu limit")
        if ct in pod_spec.get("initContainers", []):
            c.check(ct.get("restartPolicy") == "Always",
                    f"{cw}: an init container without restartPolicy: Always is not a sidecar")
        ports = {p.get("containerPort") for p in ct.get("ports", [])}
        c.check(ADMIN_PORT in ports, f"{cw}: no containerPort {ADMIN_PORT} (admin)")
        for probe_name, path_expected in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            probe = ct.get(probe_name) or {}
            get = probe.get("httpGet")
            if not c.check(get, f"{cw}: {probe_name} is not an httpGet probe"):
                continue
            c.check(get.get("path") == path_expected, f"{cw}: {probe_name} asks {get.get('path')}, not {path_expected}")
            c.check(container_port(ct, get.get("port")) == ADMIN_PORT,
                    f"{cw}: {probe_name} port {get.get('port')} is not the admin port {ADMIN_PORT}")
            c.check(get.get("scheme", "HTTP") == "HTTP", f"{cw}: {probe_name} is not plain HTTP")
        startup = (ct.get("startupProbe") or {}).get("httpGet")
        if startup:
            c.check(startup.get("path") == "/healthz" and container_port(ct, startup.get("port")) == ADMIN_PORT,
                    f"{cw}: startupProbe should ask /healthz on {ADMIN_PORT}")

        name, config, problem = mounted_config(pod_spec, ct, objects_by_kind)
        if not c.check(problem is None, f"{cw}: {problem}"):
            continue
        # The probes come from the kubelet, from outside the pod: admin must not be on loopback.
        admin = config.get("admin", "127.0.0.1:9110")
        c.check(admin == f"0.0.0.0:{ADMIN_PORT}" or admin == f"[::]:{ADMIN_PORT}",
                f"{cw}: ConfigMap {name} has admin {admin!r}; the kubelet's probes need 0.0.0.0:{ADMIN_PORT}")
        c.check(config.get("log_format", "json") == "json", f"{cw}: ConfigMap {name} should log JSON")
        # Each event loop keeps at most one core busy: as many loops as the CPU limit allows,
        # rounded up, as workers 0 would pick from cgroup v2's cpu.max. Set explicitly: without
        # cpu.max (cgroup v1 nodes) workers 0 falls back to the node's CPUs.
        workers = configured_workers(ct, config)
        limit = cpu_cores(((ct.get("resources") or {}).get("limits") or {}).get("cpu"))
        if c.check(isinstance(workers, int) and workers >= 1,
                   f"{cw}: workers is {workers!r}; set it to the CPU limit rounded up (0 follows cpu.max, "
                   "which cgroup v1 nodes do not have)") and limit:
            c.check(workers == math.ceil(limit),
                    f"{cw}: workers {workers} with a CPU limit of {limit:g}: expected {math.ceil(limit)} "
                    "(one event loop per CPU of the limit, rounded up)")
        listen_ports = set()
        for address in config.get("listen", []) + config.get("listen_tls", []):
            listen_ports.add(int(address.rsplit(":", 1)[1]))
        for p in ct.get("ports", []):
            if p.get("name") in ("pop3", "pop3s"):
                c.check(p["containerPort"] in listen_ports,
                        f"{cw}: port {p['name']} {p['containerPort']} is not one popgate listens on ({sorted(listen_ports)})")
        if config.get("listen_tls") or config.get("tls_cert"):
            tls_mounts = [m["mountPath"].rstrip("/") + "/" for m in ct.get("volumeMounts", [])]
            for key in ("tls_cert", "tls_key"):
                c.check(any(config.get(key, "").startswith(m) for m in tls_mounts),
                        f"{cw}: {key} {config.get(key)!r} is not under a mounted volume")
        low_port = any(0 < port < 1024 for port in listen_ports)
        sysctls = {s["name"]: s["value"] for s in (pod_spec.get("securityContext") or {}).get("sysctls", [])}
        if low_port:
            c.check(sysctls.get("net.ipv4.ip_unprivileged_port_start") == "0",
                    f"{cw}: listens below 1024 as uid {UID} with every capability dropped, "
                    "so needs the sysctl net.ipv4.ip_unprivileged_port_start=0")

        # The grace period: preStop, then the drain, then a margin (drain_timeout 30 -> 45).
        drain = float(config.get("drain_timeout", 30))
        grace = pod_spec.get("terminationGracePeriodSeconds", 30)
        c.check(grace == drain + 15,
                f"{where}: terminationGracePeriodSeconds {grace} should be drain_timeout {drain:g} + 15")
        c.check(grace >= prestop_seconds(ct) + drain + 5,
                f"{where}: terminationGracePeriodSeconds {grace} leaves no room after preStop "
                f"({prestop_seconds(ct)} s) and the drain ({drain:g} s)")
        c.check(prestop_seconds(ct) > 0 or ct in pod_spec.get("initContainers", []),
                f"{cw}: no preStop pause for the endpoints to drop the pod before popgate stops accepting")


def main():
    args = arguments(__doc__)
    c = Checker("kubernetes manifests")
    objects = kubernetes_objects(args.source_dir)
    objects_by_kind = {(o.get("kind"), o["metadata"]["name"]): o for _, o in objects}
    pods = pod_templates(objects)
    c.check(len(pods) >= 2, f"expected the standalone and the sidecar workloads, found {len(pods)}")
    names = {o["metadata"]["name"] for _, o in objects if o.get("kind") in ("Deployment",)}
    c.check({"popgate", "legacy-erp"} <= names, f"Deployments found: {sorted(names)}")

    for path, owner, pod_spec, _ in pods:
        check_pod(c, path, owner, pod_spec, objects_by_kind)
        # Every Secret and ConfigMap the pod uses is one of ours.
        for volume in pod_spec.get("volumes", []):
            if "secret" in volume:
                c.check(("Secret", volume["secret"]["secretName"]) in objects_by_kind,
                        f"{path} {owner}: Secret {volume['secret']['secretName']} is not defined under deploy/kubernetes")
            if "configMap" in volume:
                c.check(("ConfigMap", volume["configMap"]["name"]) in objects_by_kind,
                        f"{path} {owner}: ConfigMap {volume['configMap']['name']} is not defined")
        for ct in all_containers(pod_spec):
            for env in ct.get("env", []):
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    secret = objects_by_kind.get(("Secret", ref["name"]))
                    c.check(secret and ref["key"] in (secret.get("stringData") or secret.get("data") or {}),
                            f"{path} {owner}: env {env['name']} refers to {ref['name']}/{ref['key']}, which is not defined")
                if env.get("name", "").startswith("POPGATE_") and is_popgate_container(ct):
                    c.check(re.match(r"^POPGATE_[A-Z_]+$", env["name"]), f"{path} {owner}: odd variable {env['name']}")

    # Deployment selectors select their own template.
    for path, obj in objects:
        if obj.get("kind") == "Deployment":
            selector = obj["spec"]["selector"]["matchLabels"]
            labels = obj["spec"]["template"]["metadata"]["labels"]
            c.check(labels_match(selector, labels), f"{path} {obj['metadata']['name']}: selector does not match its template")

    # Services select pods of a workload and name ports those pods have.
    for path, svc in objects:
        if svc.get("kind") != "Service":
            continue
        name = svc["metadata"]["name"]
        targets = [(p, s) for p, _, s, labels in pods if labels_match(svc["spec"].get("selector"), labels)]
        if not c.check(targets, f"{path} Service {name}: selects no pod template"):
            continue
        for port in svc["spec"].get("ports", []):
            target = port.get("targetPort", port.get("port"))
            found = any(container_port(ct, target) for _, s in targets for ct in all_containers(s))
            c.check(found, f"{path} Service {name}: targetPort {target!r} is not a port of the selected pods")
        if name == "popgate-admin":
            c.check([p["port"] for p in svc["spec"]["ports"]] == [ADMIN_PORT],
                    f"{path}: popgate-admin should expose only {ADMIN_PORT}")
        else:
            c.check(all(p["port"] != ADMIN_PORT for p in svc["spec"]["ports"]),
                    f"{path} Service {name}: the admin port belongs in popgate-admin only")

    # The ServiceMonitor finds popgate-admin and its port; the PodMonitor finds the sidecar pods.
    services = [o for _, o in objects if o.get("kind") == "Service"]
    for path, mon in objects:
        kind = mon.get("kind")
        if kind == "ServiceMonitor":
            matched = [s for s in services if labels_match(mon["spec"]["selector"].get("matchLabels"),
                                                           s["metadata"].get("labels", {}))]
            c.check([s["metadata"]["name"] for s in matched] == ["popgate-admin"],
                    f"{path}: selects Services {[s['metadata']['name'] for s in matched]}, expected only popgate-admin")
            for endpoint in mon["spec"]["endpoints"]:
                c.check(all(endpoint.get("port") in [p.get("name") for p in s["spec"]["ports"]] for s in matched),
                        f"{path}: endpoint port {endpoint.get('port')} is not a port name of the selected Service")
                c.check(endpoint.get("path", "/metrics") == "/metrics", f"{path}: scrapes {endpoint.get('path')}")
        elif kind == "PodMonitor":
            matched = [(p, o, s) for p, o, s, labels in pods
                       if labels_match(mon["spec"]["selector"].get("matchLabels"), labels)]
            c.check([o for _, o, _ in matched] == ["legacy-erp"],
                    f"{path}: selects {[o for _, o, _ in matched]}, expected the sidecar workload legacy-erp")
            for endpoint in mon["spec"]["podMetricsEndpoints"]:
                for _, owner, spec in matched:
                    c.check(any(container_port(ct, endpoint.get("port")) == ADMIN_PORT
                                for ct in all_containers(spec)),
                            f"{path}: port {endpoint.get('port')} is not the admin port of {owner}")

    c.finish()


if __name__ == "__main__":
    main()
