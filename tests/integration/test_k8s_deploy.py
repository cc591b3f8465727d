"""deploy/: every manifest is accepted by a real kube-apiserver (kubectl apply -k, with
server-side field validation), and the sidecar's Role grants exactly what the sidecar
needs in its own namespace and nothing else."""
import json
import os
import pathlib
import subprocess

import pytest

from conftest import REWIND
from kubeenv import kube_env, namespace  # noqa: F401 (fixtures)

DEPLOY = pathlib.Path(os.environ.get("REWIND_SOURCE_DIR", ".")).resolve() / "deploy"


def overlay_into(tmp_path, base, ns):
    """A kustomization that moves `base` into namespace `ns` (as a user's overlay would)."""
    d = tmp_path / "overlay"
    d.mkdir()
    # kustomize only loads bases by relative path.
    rel = os.path.relpath(base, d)
    (d / "kustomization.yaml").write_text(
        f"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"namespace: {ns}\nresources:\n  - {rel}\n")
    return d


def applied(kube_env, tmp_path, base, ns):
    r = kube_env.kubectl("apply", "--validate=strict", "-k", overlay_into(tmp_path, base, ns))
    return r.stdout


def test_base_applies_and_validates(kube_env, tmp_path):
    ns = "rewind-base-test"
    out = applied(kube_env, tmp_path, DEPLOY / "base", ns)
    for thing in ["namespace/" + ns, "serviceaccount/rewind", "role.rbac.authorization.k8s.io/"
                  "rewind-sidecar", "rolebinding.rbac.authorization.k8s.io/rewind-sidecar",
                  "service/broken-app", "deployment.apps/broken-app"]:
        assert thing in out, out
    dep = json.loads(kube_env.kubectl("-n", ns, "get", "deployment", "broken-app", "-o",
                                      "json").stdout)
    spec = dep["spec"]["template"]["spec"]
    assert spec["shareProcessNamespace"] is True
    init = {c["name"]: c for c in spec["initContainers"]}
    app = {c["name"]: c for c in spec["containers"]}["app"]
    # The native sidecar, the only container with SYS_PTRACE.
    assert init["rewind"]["restartPolicy"] == "Always"
    assert init["rewind"]["securityContext"]["capabilities"]["add"] == ["SYS_PTRACE"]
    assert "add" not in app["securityContext"]["capabilities"]
    assert "add" not in init["install-rewind"]["securityContext"]["capabilities"]
    assert "wait-idle" in app["lifecycle"]["preStop"]["exec"]["command"]
    assert spec["terminationGracePeriodSeconds"] > 240  # above wait-idle's --timeout
    # The RoleBinding's subject was moved along with the namespace.
    rb = json.loads(kube_env.kubectl("-n", ns, "get", "rolebinding", "rewind-sidecar", "-o",
                                     "json").stdout)
    assert rb["subjects"] == [{"kind": "ServiceAccount", "name": "rewind", "namespace": ns}]


def test_s3_overlay_applies_and_validates(kube_env, tmp_path):
    ns = "rewind-s3-test"
    out = applied(kube_env, tmp_path, DEPLOY / "overlays" / "s3", ns)
    assert "secret/rewind-s3-" in out, out
    dep = json.loads(kube_env.kubectl("-n", ns, "get", "deployment", "broken-app", "-o",
                                      "json").stdout)
    sidecar = {c["name"]: c for c in dep["spec"]["template"]["spec"]["initContainers"]}["rewind"]
    assert sidecar["envFrom"][0]["secretRef"]["name"].startswith("rewind-s3-")
    assert any(a.startswith("--store=s3://") for a in sidecar["args"])
    assert sidecar["restartPolicy"] == "Always"


@pytest.fixture(scope="module")
def rbac_setup(kube_env, tmp_path_factory):
    """The base applied to one namespace, a pod there and one in another namespace."""
    ns, other = "rewind-rbac", "rewind-elsewhere"
    applied(kube_env, tmp_path_factory.mktemp("rbac"), DEPLOY / "base", ns)
    kube_env.create_pod(ns, "web-0", service_account="rewind")
    kube_env.create_namespace(other)
    kube_env.create_pod(other, "web-0")
    kube_env.kubectl("-n", ns, "create", "secret", "generic", "s3", "--from-literal=k=v")
    env = kube_env.in_cluster_env(ns, "rewind", pod="web-0")
    return ns, other, env


def k8s(env, *args):
    return subprocess.run([REWIND, "k8s", *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=60)


def test_sidecar_token_can_read_patch_and_watch_its_own_pod(kube_env, rbac_setup):
    ns, _, env = rbac_setup
    r = k8s(env, "get-pod")
    assert r.returncode == 0, r.stderr
    r = k8s(env, "annotate", "rewind.dev/status=idle")
    assert r.returncode == 0, r.stderr
    r = k8s(env, "watch-pod", "--count", "1")
    assert r.returncode == 0, r.stderr
    r = k8s(env, "event", "--reason", "Test", "--note", "rbac test")
    assert r.returncode == 0, r.stderr


def test_sidecar_token_is_forbidden_in_another_namespace(rbac_setup):
    _, other, env = rbac_setup
    r = k8s(env, "-n", other, "get-pod")
    assert r.returncode == 1
    assert f"cannot get pod {other}/web-0: forbidden by RBAC" in r.stderr, r.stderr
    r = k8s(env, "-n", other, "annotate", "x=y")
    assert r.returncode == 1
    assert "forbidden by RBAC" in r.stderr, r.stderr


def test_sidecar_token_gets_nothing_else(kube_env, rbac_setup, tmp_path):
    ns, other, env = rbac_setup
    token = (pathlib.Path(env["REWIND_SERVICEACCOUNT_DIR"]) / "token").read_text()
    cfg = kube_env.write_kubeconfig(tmp_path / "sa.kubeconfig", user="sa", token=token,
                                    namespace=ns)

    def can(*args):
        r = kube_env.kubectl("auth", "can-i", *args, kubeconfig=cfg, check=False)
        return r.stdout.strip()

    # What the Role grants...
    assert can("get", "pods") == "yes"
    assert can("watch", "pods") == "yes"
    assert can("patch", "pods") == "yes"
    assert can("get", "pods", "--subresource=log") == "yes"
    assert can("create", "events.events.k8s.io") == "yes"
    # ...and nothing more.
    for args in [("get", "secrets"), ("list", "secrets"), ("list", "pods"),
                 ("delete", "pods"), ("update", "pods"), ("create", "pods"),
                 ("create", "pods", "--subresource=exec"), ("get", "configmaps"),
                 ("create", "events"), ("get", "pods", "-n", other),
                 ("patch", "pods", "-n", other), ("get", "nodes")]:
        assert can(*args) == "no", args
    # And the server really refuses: reading a secret in its own namespace is a 403.
    r = kube_env.kubectl("-n", ns, "get", "secret", "s3", kubeconfig=cfg, check=False)
    assert r.returncode != 0
    assert "Forbidden" in r.stderr or "forbidden" in r.stderr, r.stderr
