"""rewind's Kubernetes client against a real kube-apiserver (with etcd and RBAC).

Driven through `rewind k8s ...`, run "in a pod" (service-account token, CA and
namespace files, KUBERNETES_SERVICE_HOST/PORT) or with a kubeconfig.
"""
import json
import os
import pathlib
import subprocess
import threading
import queue

import pytest

from conftest import REWIND, procs, rewind, wait_for  # noqa: F401 (fixtures)
from kubeenv import kube_env, namespace, make_other_ca  # noqa: F401 (fixtures)

SA = "rewind"


def setup_sidecar_identity(kube_env, ns):
    """The ServiceAccount and Role of deploy/base, applied to this namespace."""
    kube_env.create_service_account(ns, SA)
    rbac = (pathlib.Path(os.environ.get("REWIND_SOURCE_DIR", ".")) / "deploy" / "base" /
            "rbac.yaml")
    kube_env.kubectl("-n", ns, "apply", "-f", str(rbac))


def k8s(env, *args, timeout=60):
    return subprocess.run([REWIND, "k8s", *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=timeout)


class LineReader:
    """Reads a process's stdout lines on a thread, so a test can wait for one."""

    def __init__(self, proc):
        self.q = queue.Queue()
        threading.Thread(target=self._pump, args=(proc.stdout,), daemon=True).start()

    def _pump(self, f):
        for line in f:
            self.q.put(line)

    def next_json(self, timeout=60):
        return json.loads(self.q.get(timeout=timeout))

    def until(self, predicate, timeout=60):
        while True:
            u = self.next_json(timeout)
            if predicate(u):
                return u


def test_get_and_annotate_in_cluster(kube_env, namespace):
    setup_sidecar_identity(kube_env, namespace)
    kube_env.create_pod(namespace, "web-0", annotations={"rewind.dev/record": "on"},
                        service_account=SA)
    env = kube_env.in_cluster_env(namespace, SA, pod="web-0")

    r = k8s(env, "get-pod")
    assert r.returncode == 0, r.stderr
    pod = json.loads(r.stdout)
    assert pod["metadata"]["name"] == "web-0"
    assert pod["metadata"]["annotations"]["rewind.dev/record"] == "on"

    r = k8s(env, "annotate", "rewind.dev/status=uploading", "rewind.dev/record-")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"rewind.dev/status": "uploading"}
    # An independent client sees the patch.
    annotations = kube_env.get_pod(namespace, "web-0")["metadata"]["annotations"]
    assert annotations == {"rewind.dev/status": "uploading"}


def test_event_is_recorded_about_the_pod(kube_env, namespace):
    setup_sidecar_identity(kube_env, namespace)
    pod = kube_env.create_pod(namespace, "web-0", service_account=SA)
    env = kube_env.in_cluster_env(namespace, SA, pod="web-0")

    r = k8s(env, "event", "--reason", "UploadFailed", "--note", "bucket is missing", "--warning")
    assert r.returncode == 0, r.stderr
    name = r.stdout.strip()
    ev = json.loads(kube_env.kubectl("-n", namespace, "get", "events.v1.events.k8s.io", name,
                                     "-o", "json").stdout)
    assert ev["reason"] == "UploadFailed"
    assert ev["note"] == "bucket is missing"
    assert ev["type"] == "Warning"
    assert ev["reportingController"] == "rewind.dev/sidecar"
    assert ev["regarding"]["kind"] == "Pod"
    assert ev["regarding"]["name"] == "web-0"
    assert ev["regarding"]["uid"] == pod["metadata"]["uid"]


def test_kubeconfig_with_token_and_client_cert(kube_env, namespace, tmp_path):
    setup_sidecar_identity(kube_env, namespace)
    kube_env.create_pod(namespace, "web-0", service_account=SA)
    env = {k: v for k, v in os.environ.items()
           if k not in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KUBECONFIG")}

    token_cfg = kube_env.write_kubeconfig(tmp_path / "token.kubeconfig", user="sa",
                                          token=kube_env.mint_token(namespace, SA),
                                          namespace=namespace)
    r = k8s(env, "--kubeconfig", token_cfg, "--pod", "web-0", "get-pod")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["metadata"]["namespace"] == namespace

    # The admin kubeconfig uses client-certificate/client-key files.
    r = k8s(env, "--kubeconfig", kube_env.kubeconfig, "-n", namespace, "--pod", "web-0",
            "annotate", "a=b")
    assert r.returncode == 0, r.stderr


def test_wrong_ca_is_a_clear_tls_error(kube_env, namespace, tmp_path):
    setup_sidecar_identity(kube_env, namespace)
    kube_env.create_pod(namespace, "web-0", service_account=SA)
    other_ca = make_other_ca(tmp_path)
    env = kube_env.in_cluster_env(namespace, SA, pod="web-0", ca_file=other_ca)
    r = k8s(env, "get-pod")
    assert r.returncode == 1
    assert "TLS verification of the API server" in r.stderr, r.stderr
    assert "ca.crt" in r.stderr
    assert "never skips TLS verification" in r.stderr


def test_forbidden_names_the_missing_rule(kube_env, namespace):
    # A ServiceAccount without the Role.
    kube_env.create_service_account(namespace, "nobody")
    kube_env.create_pod(namespace, "web-0")
    env = kube_env.in_cluster_env(namespace, "nobody", pod="web-0")
    r = k8s(env, "annotate", "x=y")
    assert r.returncode == 1
    assert (f"cannot patch pod {namespace}/web-0: forbidden by RBAC (the sidecar's Role needs "
            '"patch" on pods; see deploy/base/rbac.yaml)') in r.stderr, r.stderr


def test_rotated_token_file_is_reread(kube_env, namespace, procs):
    setup_sidecar_identity(kube_env, namespace)
    kube_env.create_pod(namespace, "web-0", service_account=SA)
    env = kube_env.in_cluster_env(namespace, SA, pod="web-0")
    token_file = pathlib.Path(env["REWIND_SERVICEACCOUNT_DIR"]) / "token"
    good = token_file.read_text()
    token_file.write_text("not-a-valid-token")

    p = subprocess.Popen([REWIND, "k8s", "watch-pod", "--count", "1"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(p)
    # The watcher keeps retrying with the rejected token and says why...
    line = p.stderr.readline()
    assert "unauthorized" in line, line
    # ...and picks up the rotated token on its next try, as with a projected token.
    token_file.write_text(good)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert json.loads(out.splitlines()[0])["update"] == "synced"


def test_watch_survives_an_apiserver_restart_and_resyncs_after_410(kube_env, namespace, procs):
    """The watcher follows changes; when the apiserver restarts (same etcd), it
    reconnects. While the apiserver is down etcd's history is compacted past the
    watcher's resourceVersion (writes to another pod moved the revision on), so resuming
    from it is answered 410 Expired: the watcher must re-sync (GET + fresh watch) and
    lose no change."""
    setup_sidecar_identity(kube_env, namespace)
    kube_env.create_pod(namespace, "web-0", service_account=SA)
    kube_env.create_pod(namespace, "noise", service_account=SA)
    env = kube_env.in_cluster_env(namespace, SA, pod="web-0")
    p = subprocess.Popen([REWIND, "k8s", "watch-pod"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    procs.append(p)
    lines = LineReader(p)
    first = lines.next_json()
    assert first["update"] == "synced" and first["exists"]

    kube_env.annotate(namespace, "web-0", **{"rewind.dev/record": "on"})
    lines.until(lambda u: u["annotations"].get("rewind.dev/record") == "on")
    # Writes the watcher does not see (another pod): etcd's revision moves past the
    # watcher's resourceVersion.
    for i in range(3):
        kube_env.annotate(namespace, "noise", n=str(i))

    kube_env.restart_apiserver(while_down=kube_env.compact_etcd)
    kube_env.annotate(namespace, "web-0", **{"rewind.dev/record": "off"})
    u = lines.until(lambda u: u["annotations"].get("rewind.dev/record") == "off", timeout=180)
    assert u["expired"] >= 1, u
    assert u["syncs"] >= 2, u

    # The fresh watch carries on: changes and the deletion arrive.
    kube_env.annotate(namespace, "web-0", **{"rewind.dev/status": "recording"})
    u = lines.until(lambda u: u["annotations"].get("rewind.dev/status") == "recording")
    assert u["annotations"]["rewind.dev/record"] == "off"
    kube_env.kubectl("-n", namespace, "delete", "pod", "web-0", "--wait=false")
    u = lines.until(lambda u: u["update"] == "deleted")
    assert not u["exists"]
    p.terminate()
    p.wait(timeout=30)
    assert p.returncode == 0, p.stderr.read()


def test_pod_log_without_a_kubelet_is_explained(kube_env, namespace):
    """pods/log is served by the pod's kubelet; this control plane has none, so the
    apiserver refuses, and the client must say so in words rather than hang."""
    setup_sidecar_identity(kube_env, namespace)
    kube_env.create_pod(namespace, "web-0", service_account=SA)
    env = kube_env.in_cluster_env(namespace, SA, pod="web-0")
    r = k8s(env, "logs", "-c", "app", timeout=60)
    assert r.returncode == 1
    assert f"cannot get the log of container app in pod {namespace}/web-0" in r.stderr, r.stderr
