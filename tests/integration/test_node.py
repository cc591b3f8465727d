"""The test node runs pods: Running, `kubectl logs`, a shared process namespace in which
one container sees the other's processes, a crashing container restarted by kubelet,
and a Deployment's pod made by the controller-manager and placed by the scheduler.

The ground the seed-flow e2e tests (issue 12) stand on; ctest label `node`.
"""
from conftest import wait_for
from nodeenv import node_env  # noqa: F401  (fixture)

SH = ["/bin/sh", "/bin/sleep"]


def pod(node, name, containers, **spec):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1,
                     "containers": containers, **spec}}


def container(name, image, script):
    return {"name": name, "image": image, "imagePullPolicy": "Never",
            "command": ["/bin/sh", "-c", script]}


def test_pod_runs_and_logs(node_env):
    image = node_env.image("localhost/rewind-testenv/sh:1", SH)
    node_env.apply(pod(node_env.node, "two", [
        container("app", image, "i=0; while :; do echo app line $i; i=$((i+1)); sleep 1; done"),
        container("peer", image, "while :; do for p in /proc/[0-9]*; do read -r c <$p/comm; "
                                 "echo peer sees ${p#/proc/} $c; done; sleep 1; done"),
    ], shareProcessNamespace=True))
    p = node_env.wait_phase("default", "two", "Running")
    assert p["status"]["podIP"]
    wait_for(lambda: "app line 1" in node_env.kubectl("logs", "two", "-c", "app").stdout,
             timeout=20, what="the app's log line")
    def peer_output():
        out = node_env.kubectl("logs", "two", "-c", "peer").stdout
        return " sh" in out and out
    peer = wait_for(peer_output, timeout=20, what="the peer's view of the app")
    assert " pause" in peer  # the sandbox is PID 1 of the shared namespace
    node_env.kubectl("delete", "pod", "two", "--wait=true", "--timeout=60s")


def test_crashing_container_is_restarted(node_env):
    image = node_env.image("localhost/rewind-testenv/sh:1", SH)
    node_env.apply(pod(node_env.node, "crashy", [
        container("app", image, "echo started; sleep 1; echo crashing; exit 3")]))

    def restarted():
        st = node_env.get_pod("default", "crashy").get("status", {})
        cs = (st.get("containerStatuses") or [{}])[0]
        return cs.get("restartCount", 0) >= 1 and cs
    cs = wait_for(restarted, timeout=90, interval=0.5, what="a restart")
    assert cs["lastState"]["terminated"]["exitCode"] == 3
    prev = node_env.kubectl("logs", "crashy", "--previous").stdout
    assert "started" in prev and "crashing" in prev
    node_env.kubectl("delete", "pod", "crashy", "--wait=true", "--timeout=60s")


def test_deployment_is_scheduled_and_runs(node_env):
    """What deploy/ needs: the controller-manager makes the ReplicaSet and the pod, the
    scheduler puts it on the node (no nodeName), a fresh namespace gets its ServiceAccount
    and root CA ConfigMap (the service-account token volume mounts)."""
    image = node_env.image("localhost/rewind-testenv/sh:1", SH)
    node_env.kubectl("create", "namespace", "deploy-test")
    labels = {"app": "web"}
    node_env.apply({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "deploy-test"},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {
                     "terminationGracePeriodSeconds": 1,
                     "containers": [container("web", image,
                                              "while :; do echo deployed; sleep 1; done")]}}}})
    node_env.kubectl("-n", "deploy-test", "rollout", "status", "deployment/web",
                     "--timeout=120s", timeout=150)
    pods = node_env.kubectl("-n", "deploy-test", "get", "pods", "-l", "app=web", "-o",
                            "jsonpath={.items[0].metadata.name} {.items[0].spec.nodeName}").stdout
    name, node = pods.split()
    assert node == node_env.node
    wait_for(lambda: "deployed" in node_env.kubectl("-n", "deploy-test", "logs", name).stdout,
             timeout=20, what="the deployment's log line")
    node_env.kubectl("delete", "namespace", "deploy-test", "--wait=true", "--timeout=90s",
                     timeout=120)
