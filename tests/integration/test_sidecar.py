"""rewind sidecar end to end: a real kube-apiserver (etcd, RBAC from deploy/), the real
demo service under real ptrace, kubectl driving the annotations, the local-directory
store. See sidecarenv.py for how the pod is simulated without a kubelet."""
import hashlib
import json
import pathlib
import signal
import time

from brokenapp import BrokenApp
from conftest import procs, rewind, wait_for  # noqa: F401 (fixtures)
from kubeenv import kube_env, namespace  # noqa: F401 (fixtures)
from s3server import s3server, versitygw  # noqa: F401 (fixtures)
from sidecarenv import (PREFIX, Sidecar, SidecarIdentity, StatusLog, events, tracer_of,
                        wait_event)

TARGET = ["--target-name", "broken-app"]


def test_annotation_records_crash_and_uploads(kube_env, namespace, procs, tmp_path):
    SidecarIdentity(kube_env, namespace).create_pod("web-0")
    app = BrokenApp(procs)
    sc = Sidecar(kube_env, namespace, "web-0", tmp_path, procs, TARGET)
    sc.wait_status("idle")

    with StatusLog(kube_env, namespace, "web-0") as statuses:
        kube_env.annotate(namespace, "web-0", **{f"{PREFIX}/record": "on"})
        sc.wait_status("recording")
        recorder = tracer_of(app.pid)
        assert recorder in sc.recorders(), "the target is traced by a recorder the sidecar owns"
        assert "Hello from broken-app" in app.get("/")
        assert app.get("/crash") == "This will crash!\n"
        assert app.proc.wait(timeout=30) == -signal.SIGSEGV
        statuses.wait_for("idle", after="recording")
        seen = statuses.drain()
    # Every transition reached the API server, in order.
    assert seen[seen.index("recording"):] == ["recording", "saving", "uploading", "idle"], seen

    stored = list((sc.store_dir).rglob("*.rwd"))
    assert len(stored) == 1, stored
    obj = stored[0]
    rel = obj.relative_to(sc.store_dir).parts
    assert rel[:3] == (namespace, "web-0", "broken-app"), rel
    assert obj.name.endswith(f"-{app.pid}-crash.rwd")

    last = json.loads(sc.annotations()[f"{PREFIX}/last-recording"])
    assert last["reason"] == "crash"
    assert last["size"] == obj.stat().st_size
    assert last["sha256"] == hashlib.sha256(obj.read_bytes()).hexdigest()
    assert last["uri"].endswith("/".join(rel))

    info = rewind("info", obj)
    assert info.returncode == 0, info.stderr
    assert "SIGSEGV" in info.stdout
    assert "finish_job" in info.stdout

    # Nothing left behind locally: the queue is empty, no recorder runs.
    assert not list(sc.recordings.rglob("*.rwd"))
    assert sc.recorders() == []

    reasons = [e[1] for e in events(kube_env, namespace)]
    for r in ["RecordingStarted", "SavingRecording", "UploadingRecordings", "RecordingUploaded",
              "Idle"]:
        assert r in reasons, reasons
    saving = [e for e in events(kube_env, namespace) if e[1] == "SavingRecording"]
    assert any("crashed with SIGSEGV" in e[2] for e in saving), saving

    m = sc.metrics()
    assert m["rewind_sidecar_recordings_started_total"] == 1
    assert m["rewind_sidecar_recordings_saved_total"] == 1
    assert m["rewind_sidecar_recordings_uploaded_total"] == 1
    assert m["rewind_sidecar_upload_queue_depth"] == 0
    assert m["rewind_sidecar_uploaded_bytes_total"] == obj.stat().st_size
    assert m['rewind_sidecar_status{status="idle"}'] == 1
    assert sc.http("/readyz")[0] == 200
    assert sc.terminate() == 0


def test_off_stops_and_target_keeps_running(kube_env, namespace, procs, tmp_path):
    SidecarIdentity(kube_env, namespace).create_pod("web-0")
    app = BrokenApp(procs)
    sc = Sidecar(kube_env, namespace, "web-0", tmp_path, procs, TARGET)
    kube_env.annotate(namespace, "web-0", **{f"{PREFIX}/record": "start"})
    sc.wait_status("recording")
    assert app.get("/health") == "ok\n"
    kube_env.annotate(namespace, "web-0", **{f"{PREFIX}/record": "stop"})
    sc.wait_status("idle")
    assert tracer_of(app.pid) == 0, "detached"
    assert app.get("/health") == "ok\n"
    stored = list(sc.store_dir.rglob("*.rwd"))
    assert [p.name.rsplit("-", 1)[1] for p in stored] == ["stop.rwd"]
    assert sc.recorders() == []


def test_pod_deletion_stops_the_recording_and_uploads_it(kube_env, namespace, procs, tmp_path):
    # kubectl delete pod while recording: the app's preStop hook waits for idle, and a
    # native sidecar gets SIGTERM only after the app is gone, so the deletion itself must
    # end the recording. A finalizer holds the deleted pod object, as a kubelet would
    # for the grace period.
    SidecarIdentity(kube_env, namespace).create_pod("web-0",
                                                    annotations={f"{PREFIX}/record": "on"})
    kube_env.kubectl("-n", namespace, "patch", "pod", "web-0", "--type=merge", "-p",
                     json.dumps({"metadata": {"finalizers": ["rewind.test/hold"]}}))
    app = BrokenApp(procs)
    sc = Sidecar(kube_env, namespace, "web-0", tmp_path, procs, TARGET)
    try:
        sc.wait_status("recording")
        kube_env.kubectl("-n", namespace, "delete", "pod", "web-0", "--wait=false")
        wait_event(kube_env, namespace, "PodDeleting")
        sc.wait_status("idle")
        assert tracer_of(app.pid) == 0, "detached"
        assert app.get("/health") == "ok\n", "the app serves until its own SIGTERM"
        stored = list(sc.store_dir.rglob("*.rwd"))
        assert [p.name.rsplit("-", 1)[1] for p in stored] == ["stop.rwd"]
        # Deleting, the pod gets no new recording, whatever its annotations say.
        # (It reacts to an annotation within about 0.1 s: bench/sidecar_latency.py.)
        kube_env.annotate(namespace, "web-0", **{f"{PREFIX}/record": "start"})
        time.sleep(2)
        assert sc.status() == "idle" and sc.recorders() == [] and tracer_of(app.pid) == 0
    finally:
        kube_env.kubectl("-n", namespace, "patch", "pod", "web-0", "--type=merge", "-p",
                         json.dumps({"metadata": {"finalizers": None}}), check=False)


def test_sigterm_saves_and_uploads_the_recording(kube_env, namespace, procs, tmp_path):
    SidecarIdentity(kube_env, namespace).create_pod("web-0",
                                                    annotations={f"{PREFIX}/record": "on"})
    app = BrokenApp(procs)
    sc = Sidecar(kube_env, namespace, "web-0", tmp_path, procs, TARGET)
    sc.wait_status("recording")
    recorder = tracer_of(app.pid)
    assert sc.terminate() == 0
    assert tracer_of(app.pid) == 0
    assert app.get("/health") == "ok\n"
    assert not pathlib.Path(f"/proc/{recorder}").exists()
    stored = list(sc.store_dir.rglob("*.rwd"))
    assert [p.name.rsplit("-", 1)[1] for p in stored] == ["shutdown.rwd"]
    assert sc.status() == "idle"


def test_s3_store_end_to_end(kube_env, namespace, procs, tmp_path, s3server):
    bucket = s3server.create_bucket("recordings")
    SidecarIdentity(kube_env, namespace).create_pod("web-0")
    app = BrokenApp(procs)
    sc = Sidecar(kube_env, namespace, "web-0", tmp_path, procs, TARGET,
                 store=f"s3://{bucket}/prod", env_extra=s3server.env())
    kube_env.annotate(namespace, "web-0", **{f"{PREFIX}/record": "on"})
    sc.wait_status("recording")
    app.get("/crash")
    assert app.proc.wait(timeout=30) == -signal.SIGSEGV
    wait_event(kube_env, namespace, "RecordingUploaded")
    sc.wait_status("idle")

    # An independent S3 client finds the object under namespace/pod/container.
    objects = s3server.client().list_objects_v2(Bucket=bucket, Prefix="prod/")["Contents"]
    assert len(objects) == 1, [(o["Key"], o["Size"]) for o in objects]
    key = objects[0]["Key"]
    assert key.startswith(f"prod/{namespace}/web-0/broken-app/")
    assert key.endswith(f"-{app.pid}-crash.rwd")
    head = s3server.client().head_object(Bucket=bucket, Key=key)
    last = json.loads(sc.annotations()[f"{PREFIX}/last-recording"])
    assert last["uri"] == f"s3://{bucket}/{key}"
    assert last["sha256"] == head["Metadata"]["sha256"]
    assert last["size"] == head["ContentLength"]

    out = tmp_path / "pulled.rwd"
    r = rewind("pull", last["uri"], out, env=s3server.env())
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(out.read_bytes()).hexdigest() == last["sha256"]
    info = rewind("info", out)
    assert info.returncode == 0, info.stderr
    assert "SIGSEGV" in info.stdout
    assert "finish_job" in info.stdout
