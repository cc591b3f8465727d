"""A real Kubernetes control plane for integration tests: etcd + kube-apiserver.

kube-apiserver and kubectl come from k8s.io/kubernetes, etcd is embedded in a tiny Go
main; tests/testenv/kube/build builds all three once into ~/.cache/rewind-testenv.
There is no scheduler, controller-manager or kubelet: pods stay Pending, which is all
the sidecar's API traffic needs (get, watch, patch, events, RBAC, TokenRequest).

The apiserver runs with RBAC, service-account token signing and a TLS serving cert from
a CA made per run; the test itself acts as a cluster admin through a client cert.

    from kubeenv import kube_env, namespace      # fixtures (import them in the test)

    def test_x(kube_env, namespace):
        kube_env.kubectl("-n", namespace, "get", "pods")
        pod = kube_env.create_pod(namespace, "web-0", annotations={"k": "v"})
        env = kube_env.in_cluster_env(namespace, "rewind", pod="web-0")  # token + CA
        subprocess.run([REWIND, "wait-idle"], env=env)        # runs "as if in the pod"
        kube_env.restart_apiserver()                           # same etcd, same port

`kube_env` is module-scoped (one control plane per test file); `namespace` is a fresh
namespace per test with its `default` ServiceAccount (no controller-manager makes it).
"""
import base64
import json
import os
import pathlib
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.request
import uuid

import pytest

from conftest import SOURCE_DIR, free_port

BUILD_SCRIPT = SOURCE_DIR / "tests" / "testenv" / "kube" / "build"
ADMIN_USER = "rewind-test-admin"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"

_bin_dir = None


def testenv_bin_dir():
    """Builds the control plane when missing (once per process); returns its bin dir."""
    global _bin_dir
    if _bin_dir is None:
        start = time.monotonic()
        out = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"building the test control plane failed:\n{out.stderr}")
        _bin_dir = pathlib.Path(out.stdout.strip().splitlines()[-1])
        took = time.monotonic() - start
        if took > 5:
            print(f"kubeenv: built the control plane in {took:.0f}s")
    return _bin_dir


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d: pathlib.Path):
    """CA, apiserver serving cert, admin client cert, service-account key pair."""
    d.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.crt", "-days", "2", "-subj", "/CN=rewind-test-ca", cwd=d)
    sans = ("subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,"
            "DNS:kubernetes.default,DNS:kubernetes.default.svc,"
            "DNS:kubernetes.default.svc.cluster.local")
    for name, subj, ext in [
        ("apiserver", "/CN=kube-apiserver", [sans, "extendedKeyUsage=serverAuth"]),
        ("admin", f"/O=system:masters/CN={ADMIN_USER}", ["extendedKeyUsage=clientAuth"]),
    ]:
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                 f"{name}.csr", "-subj", subj, cwd=d)
        extfile = d / f"{name}.ext"
        extfile.write_text("\n".join(ext + ["keyUsage=digitalSignature,keyEncipherment"]) + "\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile",
                 f"{name}.ext", cwd=d)
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=d)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)
    return d


def make_other_ca(d: pathlib.Path):
    """A CA that signed nothing the apiserver serves: for wrong-CA tests."""
    d.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other-ca.key", "-out",
             "other-ca.crt", "-days", "2", "-subj", "/CN=not-the-cluster-ca", cwd=d)
    return d / "other-ca.crt"


class KubeEnv:
    """One etcd + one kube-apiserver; see the module docstring."""

    def __init__(self, root: pathlib.Path):
        self.root = root
        self.bin = testenv_bin_dir()
        self.pki = make_pki(root / "pki")
        self.port = None
        self.etcd = None
        self.apiserver = None
        self.etcd_url = None
        self.kubeconfig = root / "admin.kubeconfig"
        self.startup_seconds = None
        self._logs = []

    # -- processes ------------------------------------------------------------------

    def start(self):
        start = time.monotonic()
        self._start_etcd()
        self.port = free_port()
        self._start_apiserver()
        self._write_admin_kubeconfig()
        self.startup_seconds = time.monotonic() - start
        print(f"kubeenv: control plane ready on 127.0.0.1:{self.port} "
              f"in {self.startup_seconds:.1f}s")

    def _log(self, name):
        f = open(self.root / f"{name}.log", "ab")
        self._logs.append(f)
        return f

    def _start_etcd(self):
        port_file = self.root / "etcd.url"
        self.etcd = subprocess.Popen(
            [str(self.bin / "etcd"), "--data-dir", str(self.root / "etcd-data"),
             "--port-file", str(port_file)],
            stdout=self._log("etcd"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while not port_file.exists():
            if self.etcd.poll() is not None:
                raise RuntimeError(f"etcd exited: {self.tail('etcd')}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"etcd not ready after 120s: {self.tail('etcd')}")
            time.sleep(0.05)
        self.etcd_url = port_file.read_text().strip()

    def _start_apiserver(self):
        p = self.pki
        args = [
            str(self.bin / "kube-apiserver"),
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--cert-dir={self.root / 'apiserver-certs'}",
            f"--tls-cert-file={p / 'apiserver.crt'}",
            f"--tls-private-key-file={p / 'apiserver.key'}",
            f"--client-ca-file={p / 'ca.crt'}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={p / 'sa.pub'}",
            f"--service-account-signing-key-file={p / 'sa.key'}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--profiling=false",
            "--v=1",
        ]
        self.apiserver = subprocess.Popen(args, stdout=self._log("apiserver"),
                                          stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout=180):
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        url = f"https://127.0.0.1:{self.port}/readyz"
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.apiserver.poll() is not None:
                raise RuntimeError(f"kube-apiserver exited:\n{self.tail('apiserver')}")
            try:
                with urllib.request.urlopen(url, context=ctx, timeout=5) as r:
                    if r.status == 200:
                        return
            except Exception as e:  # noqa: BLE001 - not up yet, keep waiting
                last = e
            time.sleep(0.2)
        raise RuntimeError(f"kube-apiserver not ready after {timeout}s ({last}):\n"
                           f"{self.tail('apiserver')}")

    def stop_apiserver(self):
        if self.apiserver and self.apiserver.poll() is None:
            self.apiserver.send_signal(signal.SIGTERM)
            try:
                self.apiserver.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.apiserver.kill()
                self.apiserver.wait()

    def restart_apiserver(self, while_down=None):
        """Stops the apiserver and starts it again on the same port with the same etcd.
        `while_down` (optional) runs between the two."""
        self.stop_apiserver()
        if while_down:
            while_down()
        self._start_apiserver()

    def _etcd_call(self, method, body):
        req = urllib.request.Request(f"{self.etcd_url}/v3/{method}",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def etcd_revision(self):
        """etcd's current revision (what resourceVersions are made of)."""
        r = self._etcd_call("kv/range", {"key": base64.b64encode(b"/").decode()})
        return int(r["header"]["revision"])

    def compact_etcd(self):
        """Moves etcd's revision on and compacts its history up to there, through etcd's
        JSON gateway: every resourceVersion a client holds becomes too old to watch from
        (410 Expired), as in a cluster that compacted while the client was away. The
        write goes to a key outside the apiserver's /registry prefix, so no object
        changes; it is needed because a stopping apiserver sends its watchers a bookmark
        with the newest revision, which a compaction at that revision would still
        allow."""
        key = base64.b64encode(b"/rewind-testenv/compaction-marker").decode()
        r = self._etcd_call("kv/put", {"key": key, "value": base64.b64encode(b"x").decode()})
        rev = int(r["header"]["revision"])
        self._etcd_call("kv/compaction", {"revision": rev, "physical": True})
        return rev

    def stop(self):
        self.stop_apiserver()
        if self.etcd and self.etcd.poll() is None:
            self.etcd.send_signal(signal.SIGTERM)
            try:
                self.etcd.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.etcd.kill()
                self.etcd.wait()
        for f in self._logs:
            f.close()

    def tail(self, name, lines=40):
        path = self.root / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # -- clients --------------------------------------------------------------------

    @property
    def server(self):
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_file(self):
        return self.pki / "ca.crt"

    def _write_admin_kubeconfig(self):
        self.write_kubeconfig(self.kubeconfig, user=ADMIN_USER,
                              client_cert=self.pki / "admin.crt",
                              client_key=self.pki / "admin.key")

    def write_kubeconfig(self, path, user, token=None, client_cert=None, client_key=None,
                         namespace=None, ca_file=None):
        """A kubeconfig for this server: client cert files or a bearer token."""
        user_entry = {}
        if token:
            user_entry["token"] = token
        if client_cert:
            user_entry["client-certificate"] = str(client_cert)
            user_entry["client-key"] = str(client_key)
        context = {"cluster": "test", "user": user}
        if namespace:
            context["namespace"] = namespace
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "test", "cluster": {
                "server": self.server,
                "certificate-authority-data":
                    base64.b64encode(pathlib.Path(ca_file or self.ca_file).read_bytes()).decode(),
            }}],
            "users": [{"name": user, "user": user_entry}],
            "contexts": [{"name": "test", "context": context}],
        }
        # JSON is YAML; kubectl and rewind both read it.
        pathlib.Path(path).write_text(json.dumps(config, indent=2))
        return pathlib.Path(path)

    def kubectl(self, *args, check=True, input=None, kubeconfig=None, timeout=120):
        """Runs kubectl as the cluster admin (or with `kubeconfig`); returns
        CompletedProcess with text output."""
        r = subprocess.run(
            [str(self.bin / "kubectl"), f"--kubeconfig={kubeconfig or self.kubeconfig}",
             *map(str, args)],
            capture_output=True, text=True, input=input, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(map(str, args))} failed "
                                 f"({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def apply(self, manifest: dict, namespace=None):
        args = ["apply", "-f", "-"] + (["-n", namespace] if namespace else [])
        return self.kubectl(*args, input=json.dumps(manifest))

    def create_namespace(self, name=None):
        name = name or f"t-{uuid.uuid4().hex[:8]}"
        self.kubectl("create", "namespace", name)
        # The controller-manager would create it; pods refer to it by default.
        self.create_service_account(name, "default")
        return name

    def create_service_account(self, namespace, name):
        self.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": name, "namespace": namespace}})

    def create_pod(self, namespace, name, annotations=None, service_account="default",
                   containers=("app",)):
        """A pod that stays Pending (no scheduler, no kubelet); returns its JSON."""
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace,
                         "annotations": dict(annotations or {})},
            "spec": {"serviceAccountName": service_account, "containers": [
                {"name": c, "image": "rewind-test/never-pulled:0"} for c in containers]},
        }
        # create, not apply: apply would add its last-applied annotation.
        self.kubectl("create", "-f", "-", input=json.dumps(pod))
        return self.get_pod(namespace, name)

    def get_pod(self, namespace, name):
        return json.loads(self.kubectl("-n", namespace, "get", "pod", name, "-o", "json").stdout)

    def annotate(self, namespace, pod, **changes):
        """kubectl annotate --overwrite; a value of None removes the key."""
        args = [f"{k}-" if v is None else f"{k}={v}" for k, v in changes.items()]
        self.kubectl("-n", namespace, "annotate", "--overwrite", "pod", pod, *args)

    def mint_token(self, namespace, service_account, duration="1h", audience=None):
        """A service-account token from the TokenRequest API (kubectl create token)."""
        args = ["-n", namespace, "create", "token", service_account, f"--duration={duration}"]
        if audience:
            args.append(f"--audience={audience}")
        return self.kubectl(*args).stdout.strip()

    def write_in_cluster_dir(self, directory, namespace, service_account, ca_file=None):
        """What the kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount."""
        d = pathlib.Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / "token").write_text(self.mint_token(namespace, service_account))
        shutil.copyfile(ca_file or self.ca_file, d / "ca.crt")
        (d / "namespace").write_text(namespace)
        return d

    def in_cluster_env(self, namespace, service_account, pod=None, directory=None,
                       ca_file=None):
        """Environment for a process that runs "as if in a pod" of `service_account`:
        KUBERNETES_SERVICE_HOST/PORT at this apiserver, the token/CA/namespace directory
        in REWIND_SERVICEACCOUNT_DIR, POD_NAME/POD_NAMESPACE as the downward API sets
        them. No KUBECONFIG, so nothing else can leak in."""
        directory = directory or tempfile.mkdtemp(prefix="sa-", dir=self.root)
        d = self.write_in_cluster_dir(directory, namespace, service_account, ca_file=ca_file)
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG",)}
        env.update({
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(self.port),
            "REWIND_SERVICEACCOUNT_DIR": str(d),
            "POD_NAMESPACE": namespace,
        })
        if pod:
            env["POD_NAME"] = pod
        return env


@pytest.fixture(scope="module")
def kube_env(tmp_path_factory):
    env = KubeEnv(tmp_path_factory.mktemp("kube"))
    try:
        env.start()
        yield env
    finally:
        env.stop()


@pytest.fixture
def namespace(kube_env):
    return kube_env.create_namespace()
