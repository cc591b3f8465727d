"""`rewind wait-idle` (the app container's preStop hook) against a real kube-apiserver,
run as if in the pod: service-account token and CA, POD_NAME/POD_NAMESPACE."""
import os
import pathlib
import subprocess
import time

from conftest import REWIND, procs  # noqa: F401 (fixture)
from kubeenv import kube_env, namespace, make_other_ca  # noqa: F401 (fixtures)

SA = "rewind"


def sidecar_pod(kube_env, ns, annotations):
    kube_env.create_service_account(ns, SA)
    rbac = pathlib.Path(os.environ.get("REWIND_SOURCE_DIR", ".")) / "deploy/base/rbac.yaml"
    kube_env.kubectl("-n", ns, "apply", "-f", str(rbac))
    kube_env.create_pod(ns, "web-0", annotations=annotations, service_account=SA)
    return kube_env.in_cluster_env(ns, SA, pod="web-0")


def wait_idle(env, *args, timeout=120):
    return subprocess.run([REWIND, "wait-idle", *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_blocks_while_uploading_and_returns_when_idle(kube_env, namespace, procs):
    env = sidecar_pod(kube_env, namespace, {"rewind.dev/status": "uploading"})
    p = subprocess.Popen([REWIND, "wait-idle", "--timeout", "300"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(p)
    # It says what it is waiting for...
    line = p.stderr.readline()
    assert "is 'uploading' (rewind.dev/status); waiting up to 300s" in line, line
    # ...and is still waiting after the sidecar moved on to another busy state.
    kube_env.annotate(namespace, "web-0", **{"rewind.dev/status": "saving"})
    line = p.stderr.readline()
    assert "is now 'saving'" in line, line
    assert p.poll() is None

    kube_env.annotate(namespace, "web-0", **{"rewind.dev/status": "idle"})
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert "is now idle" in err


def test_idle_or_absent_status_returns_at_once(kube_env, namespace):
    env = sidecar_pod(kube_env, namespace, {})
    r = wait_idle(env, "--timeout", "300")
    assert r.returncode == 0, r.stderr
    assert "(rewind.dev/status is absent)" in r.stderr

    kube_env.annotate(namespace, "web-0", **{"rewind.dev/status": "idle"})
    r = wait_idle(env, "--timeout", "300")
    assert r.returncode == 0, r.stderr


def test_custom_annotation_prefix(kube_env, namespace):
    env = sidecar_pod(kube_env, namespace, {"rewind.dev/status": "uploading",
                                            "acme.io/status": "idle"})
    r = wait_idle(env, "--annotation-prefix", "acme.io", "--timeout", "300")
    assert r.returncode == 0, r.stderr


def test_timeout_exits_nonzero_with_a_clear_line(kube_env, namespace):
    env = sidecar_pod(kube_env, namespace, {"rewind.dev/status": "uploading"})
    r = wait_idle(env, "--timeout", "2")
    assert r.returncode == 1
    assert f"gave up after 2s: pod {namespace}/web-0 is still not idle" in r.stderr, r.stderr


def test_wrong_ca_is_a_clear_tls_error_not_a_wait(kube_env, namespace, tmp_path):
    env = sidecar_pod(kube_env, namespace, {"rewind.dev/status": "uploading"})
    env = kube_env.in_cluster_env(namespace, SA, pod="web-0", ca_file=make_other_ca(tmp_path))
    start = time.monotonic()
    r = wait_idle(env, "--timeout", "300")
    assert r.returncode == 1
    assert "TLS verification of the API server" in r.stderr, r.stderr
    assert "never skips TLS verification" in r.stderr
    # It failed on the TLS error, not by waiting out its 300 s timeout.
    assert time.monotonic() - start < 300


def test_missing_pod_identity_is_explained(kube_env, namespace):
    env = sidecar_pod(kube_env, namespace, {})
    del env["POD_NAME"]
    r = wait_idle(env)
    assert r.returncode == 1
    assert "POD_NAME" in r.stderr, r.stderr
