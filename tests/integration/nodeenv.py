"""A one-node cluster whose kubelet runs pods: tests/testenv/node/start and stop.

etcd + kube-apiserver + containerd/runc + kubelet (see docs/kubernetes.md "Test node").
Images come from host files through tests/testenv/node/mkimage, imported into
containerd; pods need `nodeName` (no scheduler) and `imagePullPolicy: Never`.

    from nodeenv import node_env                       # module-scoped fixture

    def test_x(node_env):
        image = node_env.image("localhost/x:1", ["/bin/sh", "/bin/sleep"])
        node_env.apply(pod_manifest)                   # spec.nodeName = node_env.node
        node_env.wait_phase("default", "x", "Running")
        node_env.kubectl("logs", "x")

Skips (rather than fails) where a node cannot run: not root, or no containerd, runc or
CNI plugins (scripts/install-deps --node).
"""
import json
import os
import pathlib
import shutil
import subprocess
import time

import pytest

from conftest import SOURCE_DIR

NODE_DIR = SOURCE_DIR / "tests" / "testenv" / "node"


def node_unavailable():
    """Why this machine cannot run the test node, or None."""
    if os.geteuid() != 0:
        return "the test node needs root"
    for cmd in ("containerd", "runc", "ctr"):
        if not shutil.which(cmd):
            return f"no {cmd} (scripts/install-deps --node)"
    if not pathlib.Path("/usr/lib/cni/bridge").exists():
        return "no CNI plugins (scripts/install-deps --node)"
    return None


class NodeEnv:
    def __init__(self, root: pathlib.Path):
        self.root = root
        self.env = {}

    def start(self):
        r = subprocess.run([str(NODE_DIR / "start"), str(self.root)], capture_output=True,
                           text=True, timeout=1800)
        if r.returncode != 0:
            raise RuntimeError(f"node/start failed ({r.returncode}):\n{r.stderr}\n"
                               f"{self.tail('kubelet')}")
        self.env = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
        self.node = self.env["NODE"]
        self.kubeconfig = self.env["KUBECONFIG"]
        self.bin = pathlib.Path(self.env["KUBE_BIN"])
        print(f"nodeenv: node {self.node} ready in {self.env['NODE_START_SECONDS']}s")

    def stop(self):
        subprocess.run([str(NODE_DIR / "stop"), str(self.root)], timeout=300)

    def tail(self, name, lines=40):
        p = self.root / "logs" / f"{name}.log"
        return "\n".join(p.read_text(errors="replace").splitlines()[-lines:]) if p.exists() else ""

    def kubectl(self, *args, check=True, input=None, timeout=120):
        r = subprocess.run([str(self.bin / "kubectl"), f"--kubeconfig={self.kubeconfig}",
                            *map(str, args)], capture_output=True, text=True, input=input,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(map(str, args))} failed "
                                 f"({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def apply(self, manifest):
        return self.kubectl("apply", "-f", "-", input=json.dumps(manifest))

    def image(self, name, files, libs=True, cmd=None):
        """Builds an image from host files (HOST or HOST:IMAGE_PATH; symlinks resolved)
        and imports it into the node's containerd; returns `name`."""
        out = self.root / (name.replace("/", "_").replace(":", "_") + ".tar")
        specs = [f if ":" in f else f"{os.path.realpath(f)}:{f}" for f in map(str, files)]
        args = [str(NODE_DIR / "mkimage"), "--name", name, "--out", str(out), *specs]
        if libs:
            args.insert(1, "--libs")
        if cmd:
            args[1:1] = ["--cmd", json.dumps(cmd)]
        subprocess.run(args, check=True, capture_output=True)
        subprocess.run(["ctr", "--address", self.env["CONTAINERD_ADDRESS"], "-n", "k8s.io",
                        "images", "import", str(out)], check=True, capture_output=True)
        return name

    def get_pod(self, namespace, name):
        return json.loads(self.kubectl("-n", namespace, "get", "pod", name, "-o", "json").stdout)

    def wait_phase(self, namespace, name, phase, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pod = self.get_pod(namespace, name)
            if pod.get("status", {}).get("phase") == phase:
                return pod
            time.sleep(0.5)
        raise AssertionError(f"pod {namespace}/{name} not {phase} after {timeout}s:\n"
                             f"{self.kubectl('-n', namespace, 'describe', 'pod', name).stdout}")


@pytest.fixture(scope="module")
def node_env(tmp_path_factory):
    why = node_unavailable()
    if why:
        pytest.skip(why)
    env = NodeEnv(tmp_path_factory.mktemp("node"))
    try:
        env.start()
        yield env
    finally:
        env.stop()
