"""The seed flow on a real node (issue 12): deploy/ (with the S3 overlay) applied to the
test node, kubelet running the demo and the rewind sidecar as built images, the store a
versitygw on the host that pods reach at the node IP. What a user does, in order:
annotate, crash, find the upload, pull and read it; delete the pod while an upload is
in flight; trigger on a log line; let the app restart under a recording.

The test overlay (written per test into a temp dir, deploy/ linked in) only swaps the
image names (imagePullPolicy: Never), the namespace, and the store's endpoint and
credentials. ctest label `node`; skips where the node cannot run (nodeenv.py).
"""
import hashlib
import json
import os
import pathlib
import re
import subprocess
import time
import urllib.request

import pytest

from conftest import REWIND, SOURCE_DIR, rewind, wait_for
from nodeenv import NODE_DIR, node_env  # noqa: F401  (fixture)
from s3server import S3Server, versitygw_binary
from sidecarenv import StatusLog

PREFIX = "rewind.dev"
BUSY = ("saving", "uploading")
BUCKET = "rewind-recordings"  # deploy/overlays/s3: s3://rewind-recordings/demo/
BUILD_DIR = pathlib.Path(os.environ.get("REWIND_BUILD_DIR", pathlib.Path(REWIND).parents[1]))


class Seed:
    """The images and the store, once per module."""

    def __init__(self, node, root):
        out = subprocess.run([str(NODE_DIR / "images"), str(node.root), str(BUILD_DIR)],
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        self.images = dict(line.split("=", 1) for line in out.stdout.split())
        self.node = node
        self.s3 = S3Server(root / "s3", binary=versitygw_binary(), host=node.env["NODE_IP"])
        self.s3.start()
        self.s3.create_bucket(BUCKET)


@pytest.fixture(scope="module")
def seed(node_env, tmp_path_factory):  # noqa: F811
    t0 = time.monotonic()
    s = Seed(node_env, tmp_path_factory.mktemp("seed"))
    print(f"seed: images and store ready in {time.monotonic() - t0:.0f}s")
    try:
        yield s
    finally:
        s.s3.stop()
        s.s3.log.close()


def overlay(dir, namespace, seed):
    """deploy/overlays/s3 with this test's namespace, the local images and the store."""
    dir.mkdir(parents=True, exist_ok=True)
    # kustomize takes no absolute resource paths; a link to deploy/ keeps it relative.
    (dir / "deploy").symlink_to(SOURCE_DIR.resolve() / "deploy")
    name, tag = seed.images["REWIND_IMAGE"].rsplit(":", 1)
    app_name, app_tag = seed.images["BROKEN_APP_IMAGE"].rsplit(":", 1)
    (dir / "kustomization.yaml").write_text(f"""\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {namespace}
resources:
  - deploy/overlays/s3
images:
  - {{name: rewind, newName: {name}, newTag: "{tag}"}}
  - {{name: broken-app, newName: {app_name}, newTag: "{app_tag}"}}
secretGenerator:
  - name: rewind-s3
    behavior: replace
    literals:
      - AWS_ACCESS_KEY_ID={seed.s3.access_key}
      - AWS_SECRET_ACCESS_KEY={seed.s3.secret_key}
patches:
  - patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata: {{name: broken-app}}
      spec:
        template:
          spec:
            initContainers:
              - {{name: install-rewind, imagePullPolicy: Never}}
              - name: rewind
                imagePullPolicy: Never
                env: [{{name: REWIND_S3_ENDPOINT, value: "{seed.s3.endpoint}"}}]
            containers:
              - {{name: app, imagePullPolicy: Never}}
""")
    return dir


class Demo:
    """deploy/ applied in one namespace; the pod is the Deployment's current one."""

    def __init__(self, seed, namespace, workdir):
        self.seed = seed
        self.node = seed.node
        self.ns = namespace
        self.workdir = workdir
        t0 = time.monotonic()
        self.kubectl("apply", "-k", str(overlay(workdir / "overlay", namespace, seed)))
        self.kubectl("rollout", "status", "deployment/broken-app", "--timeout=180s",
                     timeout=200)
        self.pod = self.current_pod()
        wait_for(lambda: self.status() == "idle", timeout=60, interval=0.2,
                 what="the sidecar's first status")
        print(f"demo: {namespace}/{self.pod} Running, sidecar idle in "
              f"{time.monotonic() - t0:.0f}s")

    def kubectl(self, *args, **kw):
        return self.node.kubectl("-n", self.ns, *args, **kw)

    def current_pod(self):
        pods = json.loads(self.kubectl("get", "pods", "-l", "app.kubernetes.io/name=broken-app",
                                       "-o", "json").stdout)["items"]
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        assert len(live) == 1, [p["metadata"]["name"] for p in pods]
        return live[0]["metadata"]["name"]

    def get(self):
        return self.node.get_pod(self.ns, self.pod)

    def annotations(self):
        return self.get()["metadata"].get("annotations", {})

    def status(self):
        return self.annotations().get(f"{PREFIX}/status")

    def annotate(self, **changes):
        args = [f"{k}-" if v is None else f"{k}={v}" for k, v in changes.items()]
        self.kubectl("annotate", "--overwrite", "pod", self.pod, *args)

    def app_status(self):
        return next(c for c in self.get()["status"]["containerStatuses"] if c["name"] == "app")

    def http(self, path):
        ip = self.get()["status"]["podIP"]
        with urllib.request.urlopen(f"http://{ip}:8080{path}", timeout=10) as r:
            return r.read().decode()

    def events(self):
        """(reason, note) of the sidecar's Events about the pod, oldest first."""
        items = json.loads(self.kubectl("get", "events.events.k8s.io", "-o", "json").stdout)["items"]
        items = [e for e in items if e.get("regarding", {}).get("name") == self.pod
                 and e.get("reportingController", "").endswith("/sidecar")]
        items.sort(key=lambda e: e.get("eventTime") or e["metadata"]["creationTimestamp"])
        return [(e["reason"], e.get("note", "")) for e in items]

    def wait_event(self, reason, count=1, timeout=60):
        return wait_for(lambda: (lambda m: len(m) >= count and m)(
            [n for r, n in self.events() if r == reason]), timeout=timeout, interval=0.5,
            what=f"{count} {reason} Event(s); saw {self.events()}")

    def last_recording(self):
        v = self.annotations().get(f"{PREFIX}/last-recording")
        return json.loads(v) if v else None

    def sidecar_log(self):
        return self.kubectl("logs", self.pod, "-c", "rewind", check=False).stdout

    def pull(self, uri):
        """rewind pull (as a user on the host would) and rewind info of the result."""
        out = self.workdir / uri.rsplit("/", 1)[1]
        r = rewind("pull", uri, out, env=self.seed.s3.env())
        assert r.returncode == 0, r.stderr
        info = rewind("info", out)
        assert info.returncode == 0, info.stderr
        return out, info.stdout


@pytest.fixture
def demo(seed, request, tmp_path):
    ns = "seed-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.removeprefix("test_"))[:40]
    d = Demo(seed, ns, tmp_path)
    yield d
    # Pods go with their namespace; what is still held (a preStop hook) is killed by
    # node/stop at the end of the module.
    seed.node.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def recorded_pids(demo):
    return [int(re.search(r"recording pid (\d+)", n).group(1))
            for r, n in demo.events() if r == "RecordingStarted"]


def test_annotation_records_crash_and_uploads(demo):
    """deploy/ on a node: record=on, /crash, the recording is in the bucket and shows
    the crash in the demo's source."""
    with StatusLog(demo.node, demo.ns, demo.pod) as statuses:
        demo.annotate(**{f"{PREFIX}/record": "on"})
        statuses.wait_for("recording")
        assert demo.http("/crash") == "This will crash!\n"
        wait_for(demo.last_recording, timeout=60, interval=0.5, what="last-recording")
        statuses.wait_for("idle", after="uploading")
        seen = statuses.drain()
    start = seen.index("recording")
    assert seen[start:start + 4] == ["recording", "saving", "uploading", "idle"], \
        (seen, demo.events())

    last = demo.last_recording()
    assert last["reason"] == "crash", last
    assert last["uri"].startswith(f"s3://{BUCKET}/demo/{demo.ns}/{demo.pod}/app/"), last
    reasons = [r for r, _ in demo.events()]
    for r in ["RecordingStarted", "SavingRecording", "UploadingRecordings", "RecordingUploaded",
              "Idle"]:
        assert r in reasons, reasons
    assert any("crashed with SIGSEGV" in n for r, n in demo.events() if r == "SavingRecording")

    # An independent client finds the object and its checksum.
    key = last["uri"].removeprefix(f"s3://{BUCKET}/")
    head = demo.seed.s3.client().head_object(Bucket=BUCKET, Key=key)
    assert head["ContentLength"] == last["size"]
    assert head["Metadata"]["sha256"] == last["sha256"]

    out, info = demo.pull(last["uri"])
    assert hashlib.sha256(out.read_bytes()).hexdigest() == last["sha256"]
    assert "SIGSEGV" in info and "/usr/local/bin/broken-app --port 8080" in info, info
    assert f"host          {demo.pod}" in info, info
    # The sidecar (uid 0, only SYS_PTRACE) cannot open the app's /proc/PID/mem, auxv or
    # pagemap (uid 65532, modes 0600/0400): the recording must be complete regardless.
    # `rewind info` prints "warnings      none", or a "warning       ..." line for each
    # (CPUID's only where the CPU cannot fault on cpuid).
    warnings = [x for x in info.splitlines() if x.startswith("warning ") and "CPUID" not in x]
    assert warnings == [] and ("warnings      none" in info or "CPUID" in info), info
    assert "examples/broken-app/main.cc:71" in info, info


def test_delete_waits_for_the_upload(demo):
    """kubectl delete pod while the store is down: the preStop hook (rewind wait-idle)
    keeps the app container alive until the upload went through."""
    s3 = demo.seed.s3
    demo.annotate(**{f"{PREFIX}/record": "on"})
    wait_for(lambda: demo.status() == "recording", timeout=60, interval=0.2, what="recording")
    s3.stop()
    try:
        assert demo.http("/crash") == "This will crash!\n"
        demo.wait_event("UploadFailed", timeout=60)
        # The crash recording is queued; don't record the restarted app, so the only
        # thing that keeps the sidecar busy is the upload.
        demo.annotate(**{f"{PREFIX}/record": "off"})
        wait_for(lambda: demo.app_status().get("state", {}).get("running"), timeout=60,
                 interval=0.5, what="the app running again after its crash")
        # Busy either way: `saving` or `uploading` while the store is unreachable. When
        # the sidecar re-attached to the restarted app before record=off reached it, it
        # shows `recording` until it has stopped that recording and queued it too.
        wait_for(lambda: demo.status() in BUSY, timeout=60, interval=0.2,
                 what=f"the sidecar busy with the queued upload (status {BUSY})")
        demo.kubectl("delete", "pod", demo.pod, "--wait=false")
        held = 15
        time.sleep(held)
        pod = demo.get()
        assert pod["metadata"].get("deletionTimestamp"), "the pod is being deleted"
        app = demo.app_status()
        assert app.get("state", {}).get("running"), f"the app container is alive: {app}"
        assert demo.status() in BUSY, demo.status()
    finally:
        s3.start()
    t0 = time.monotonic()
    wait_for(lambda: demo.kubectl("get", "pod", demo.pod, check=False).returncode != 0,
             timeout=120, interval=0.5, what="the pod to go away once the store is back")
    print(f"delete: held {held}s with the store down; gone {time.monotonic() - t0:.0f}s "
          f"after the store came back")
    objects = s3.client().list_objects_v2(
        Bucket=BUCKET, Prefix=f"demo/{demo.ns}/{demo.pod}/app/")["Contents"]
    keys = [o["Key"] for o in objects]
    # The crash recording; and, when the sidecar re-attached to the restarted app before
    # record=off reached it, that short `stop` recording too. Nothing stayed queued.
    assert [k for k in keys if k.endswith("-crash.rwd")], keys
    assert all(k.endswith(("-crash.rwd", "-stop.rwd")) for k in keys), keys


def test_delete_while_recording_saves_the_recording_and_lets_the_pod_go(demo):
    """kubectl delete pod in the middle of a recording: the sidecar stops it, uploads
    it, and the preStop hook lets the app go at once, not after wait-idle's timeout."""
    s3 = demo.seed.s3
    demo.annotate(**{f"{PREFIX}/record": "on"})
    wait_for(lambda: demo.status() == "recording", timeout=60, interval=0.2, what="recording")
    t0 = time.monotonic()
    demo.kubectl("delete", "pod", demo.pod, "--wait=false")
    # Longer than wait-idle's own timeout (240 s): a hook that gave up fails, and the
    # kubelet says so with a FailedPreStopHook Event.
    wait_for(lambda: demo.kubectl("get", "pod", demo.pod, check=False).returncode != 0,
             timeout=300, interval=0.5, what="the deleted pod to go away")
    print(f"delete while recording: the pod was gone {time.monotonic() - t0:.0f}s after "
          f"the delete")
    reasons = [r for r, _ in demo.events()]
    assert "PodDeleting" in reasons, reasons
    kubelet = json.loads(demo.kubectl("get", "events", "-o", "json").stdout)["items"]
    failed = [e.get("message") for e in kubelet if e.get("reason") == "FailedPreStopHook"
              and e.get("involvedObject", {}).get("name") == demo.pod]
    assert failed == [], failed
    objects = s3.client().list_objects_v2(
        Bucket=BUCKET, Prefix=f"demo/{demo.ns}/{demo.pod}/app/").get("Contents", [])
    keys = [o["Key"] for o in objects]
    assert [k for k in keys if k.endswith("-stop.rwd")], keys


def test_log_line_starts_a_recording(demo):
    """record-on-log fires from the app container's real log (kubelet, pods/log)."""
    demo.annotate(**{f"{PREFIX}/record-on-log": "crash requested"})
    # The follow starts at new lines only and says nothing when connected; give it a
    # moment (the annotation reaches the sidecar's watch, the stream opens).
    time.sleep(3)
    assert demo.http("/crash") == "This will crash!\n"
    matched = demo.wait_event("LogPatternMatched", timeout=30)
    assert any("crash requested" in n for n in matched), matched
    demo.wait_event("RecordingStarted", timeout=30)
    last = wait_for(demo.last_recording, timeout=60, interval=0.5, what="last-recording")
    assert last["reason"] == "crash", (last, demo.events())
    _, info = demo.pull(last["uri"])
    assert "SIGSEGV" in info, info


def test_app_restart_is_recorded_again(demo):
    """record=on across a crash: kubelet restarts the app container and the sidecar
    attaches to the new process; stopping then uploads that second recording."""
    demo.annotate(**{f"{PREFIX}/record": "on"})
    demo.wait_event("RecordingStarted")
    assert demo.http("/crash") == "This will crash!\n"
    demo.wait_event("RecordingStarted", count=2, timeout=90)
    first, second = recorded_pids(demo)[:2]
    assert first != second
    assert demo.app_status()["restartCount"] >= 1
    wait_for(lambda: demo.status() == "recording", timeout=30, interval=0.2,
             what="recording the new process")
    assert demo.http("/health") == "ok\n", "the restarted app serves while recorded"
    demo.annotate(**{f"{PREFIX}/record": "off"})
    last = wait_for(lambda: (lambda r: r and r["reason"] == "stop" and r)(demo.last_recording()),
                    timeout=60, interval=0.5, what="the second recording uploaded")
    _, info = demo.pull(last["uri"])
    assert f"target        pid {second}: /usr/local/bin/broken-app" in info, info
    assert demo.http("/health") == "ok\n", "detached, the app keeps serving"
