"""Runs `rewind sidecar` "as if in a pod" against the kubeenv control plane.

There is no kubelet: the Pod object exists only in the API server, and the demo service
and the sidecar run here as local processes (they share this machine's process
namespace, as containers of a pod with shareProcessNamespace do). The sidecar
authenticates with a ServiceAccount token minted through TokenRequest and the test CA,
found through KUBERNETES_SERVICE_HOST/PORT and an in-cluster directory, and is bound
by the Role in deploy/base/rbac.yaml.

    ident = SidecarIdentity(kube_env, namespace)          # SA + RBAC from deploy/
    pod = ident.create_pod("web-0")
    sc = Sidecar(kube_env, namespace, "web-0", tmp_path, procs, target=["--target-name", "broken-app"])
    sc.wait_status("idle")
    with StatusLog(kube_env, namespace, "web-0") as log:   # every status the API server saw
        kube_env.annotate(namespace, "web-0", **{"rewind.dev/record": "on"})
        sc.wait_status("recording")
"""
import json
import os
import pathlib
import queue
import signal
import subprocess
import threading
import time
import urllib.request

from conftest import REWIND, SOURCE_DIR, free_port, wait_for

SA = "rewind"
PREFIX = "rewind.dev"


def rbac_yaml():
    return SOURCE_DIR / "deploy" / "base" / "rbac.yaml"


class SidecarIdentity:
    """The ServiceAccount and Role of deploy/base in one namespace."""

    def __init__(self, kube_env, namespace, rbac=True):
        self.kube = kube_env
        self.ns = namespace
        kube_env.create_service_account(namespace, SA)
        if rbac:
            kube_env.kubectl("-n", namespace, "apply", "-f", str(rbac_yaml()))

    def create_pod(self, name, annotations=None):
        return self.kube.create_pod(self.ns, name, annotations=annotations, service_account=SA)


class Sidecar:
    """One `rewind sidecar` process; killed at the end of the test via `procs`."""

    def __init__(self, kube_env, namespace, pod, workdir, procs, target, store=None,
                 extra=(), env_extra=None, recordings=None, sa_namespace=None):
        self.kube = kube_env
        self.ns = namespace
        self.pod = pod
        self.workdir = pathlib.Path(workdir)
        self.recordings = pathlib.Path(recordings or self.workdir / "recordings")
        self.store_dir = self.workdir / "store"
        self.store = store or f"file://{self.store_dir}"
        self.port = free_port()
        self.log_path = self.workdir / f"sidecar-{time.monotonic_ns()}.log"
        env = kube_env.in_cluster_env(sa_namespace or namespace, SA, pod=pod)
        env["POD_NAMESPACE"] = namespace
        env.update(env_extra or {})
        self.env = env
        args = [REWIND, "sidecar", *target, "--store", self.store,
                "--recordings-dir", str(self.recordings), "--listen", f"127.0.0.1:{self.port}",
                *extra]
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, env=env, stdout=self.log_file,
                                     stderr=subprocess.STDOUT)
        procs.append(self.proc)
        wait_for(self.healthy, timeout=30, what="the sidecar's /healthz")

    def log(self):
        return self.log_path.read_text(errors="replace")

    def http(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def healthy(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"the sidecar exited ({self.proc.returncode}):\n{self.log()}")
        try:
            return self.http("/healthz")[0] == 200
        except OSError:
            return False

    def metrics(self):
        out = {}
        for line in self.http("/metrics")[1].splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def annotations(self):
        return self.kube.get_pod(self.ns, self.pod)["metadata"].get("annotations", {})

    def status(self):
        return self.annotations().get(f"{PREFIX}/status")

    def wait_status(self, want, timeout=60):
        def check():
            if self.proc.poll() is not None:
                raise AssertionError(f"the sidecar exited ({self.proc.returncode}):\n{self.log()}")
            return self.status() == want
        try:
            wait_for(check, timeout=timeout, interval=0.1, what=f"status {want}")
        except AssertionError as e:
            raise AssertionError(f"{e}; status is {self.status()!r}; sidecar log:\n"
                                 f"{self.log()[-4000:]}") from None

    def recorders(self):
        """Live `rewind record` children of the sidecar."""
        return children(self.proc.pid)

    def terminate(self, timeout=60):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self.log_file.close()
        return code


def children(pid):
    out = []
    for d in pathlib.Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(d.name))
    return out


def tracer_of(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("TracerPid:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return 0


class StatusLog:
    """Every value of <prefix>/status the API server reports, via `kubectl get -w`."""

    def __init__(self, kube_env, namespace, pod, prefix=PREFIX):
        key = prefix.replace(".", "\\.") + "/status"
        self.proc = subprocess.Popen(
            [str(kube_env.bin / "kubectl"), f"--kubeconfig={kube_env.kubeconfig}", "-n",
             namespace, "get", "pod", pod, "-w", "-o",
             f"jsonpath={{.metadata.annotations.{key}}}{{\"\\n\"}}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.values = []
        self.q = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.q.put(line.strip())

    def drain(self):
        while True:
            try:
                v = self.q.get_nowait()
            except queue.Empty:
                return self.values
            if v and (not self.values or self.values[-1] != v):
                self.values.append(v)

    def wait_for(self, want, after=None, timeout=60):
        """Waits until `want` is seen (after `after`, when given)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            values = self.drain()
            start = values.index(after) + 1 if after in values else 0
            if (after is None or after in values) and want in values[start:]:
                return self.values
            time.sleep(0.05)
        raise AssertionError(f"status {want} never seen; saw {self.values}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def events(kube_env, namespace):
    """(type, reason, message) of every Event in the namespace, oldest first."""
    items = json.loads(kube_env.kubectl("-n", namespace, "get", "events", "-o", "json").stdout)
    items = items["items"]
    items.sort(key=lambda e: e.get("eventTime") or e.get("firstTimestamp") or "")
    return [(e.get("type"), e.get("reason"), e.get("message") or e.get("note") or "")
            for e in items]


def wait_event(kube_env, namespace, reason, timeout=30, contains=""):
    def find():
        return [e for e in events(kube_env, namespace)
                if e[1] == reason and contains in e[2]]
    return wait_for(find, timeout=timeout, interval=0.2, what=f"an Event {reason}")
