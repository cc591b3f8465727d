"""rewind sidecar under faults: RBAC denial, API server restart, S3 outage, bad
annotations, missing and restarting targets, rapid toggling, a killed sidecar. Real
kube-apiserver + etcd + RBAC, real versitygw, real ptrace; see sidecarenv.py."""
import json
import os
import signal
import subprocess

from brokenapp import BrokenApp
from conftest import REWIND, procs, wait_for  # noqa: F401 (fixtures)
from kubeenv import kube_env, namespace  # noqa: F401 (fixtures)
from s3server import s3server, versitygw  # noqa: F401 (fixtures)
from sidecarenv import PREFIX, SA, Sidecar, SidecarIdentity, tracer_of, wait_event

TARGET = ["--target-name", "broken-app"]


def test_forbidden_patch_is_reported(kube_env, namespace, procs, tmp_path):
    # A Role that lets the sidecar read its pod and create events, but not patch it.
    kube_env.create_service_account(namespace, SA)
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "rewind-readonly", "namespace": namespace},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "watch"]},
                      {"apiGroups": ["events.k8s.io"], "resources": ["events"],
                       "verbs": ["create"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "rewind-readonly", "namespace": namespace},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                           "name": "rewind-readonly"},
               "subjects": [{"kind": "ServiceAccount", "name": SA}]}
    kube_env.apply(role)
    kube_env.apply(binding)
    kube_env.create_pod(namespace, "web-0", service_account=SA)
    sc = Sidecar(kube_env, namespace, "web-0", tmp_path, procs, TARGET)
    ev = wait_event(kube_env, namespace, "StatusUpdateFailed")
    assert "forbidden" in ev[0][2].lower() and "patch" in ev[0][2], ev
    wait_for(lambda: sc.http("/readyz")[0] == 503, timeout=30, what="readyz to fail")
    assert "cannot publish status" in sc.http("/readyz")[1]
    assert sc.proc.poll() is None, "the sidecar keeps running"


def test_token_of_another_namespace_cannot_watch(kube_env, namespace, procs, tmp_path):
    # The pod lives in `other`, where the sidecar's ServiceAccount has no Role.
    SidecarIdentity(kube_env, namespace)
    other = kube_env.create_namespace()
    kube_env.create_pod(other, "web-0")
    sc = Sidecar(kube_env, other, "web-0", tmp_path, procs, TARGET, sa_namespace=namespace)
    wait_for(lambda: "forbidden" in sc.http("/readyz")[1].lower(), timeout=30,
             what="readyz to name the 403")
    assert sc.http("/readyz")[0] == 503
    wait_for(lambda: "watching pod" in sc.log() and "forbidden" in sc.log().lower(),
             timeout=30, what="the sidecar to log the 403")
    assert sc.proc.poll() is None


def test_apiserver_restart_mid_watch(kube_env, namespace, procs, tmp_path):
    SidecarIdentity(kube_env, namespace).create_pod("web-0")
    app = BrokenApp(procs)
    sc = Sidecar(kube_env, namespace, "web-0", tmp_path, procs, TARGET)
    sc.wait_status("idle")

    # A change the sidecar sees no event for, then a compaction while the API server is
    # down: the sidecar's resourceVersion is gone and it must re-list (410 Expired).
    kube_env.kubectl("-n", namespace, "create", "configmap", "bump")
    kube_env.restart_apiserver(while_down=kube_env.compact_etcd)
    kube_env.annotate(namespace, "web-0", **{f"{PREFIX}/record": "on"})
    sc.wait_status("recording", timeout=90)
    assert tracer_of(app.pid) in sc.recorders()
    kube_env.restart_apiserver()
    kube_env.annotate(namespace, "web-0", **{f"{PREFIX}/record": "off"})
    sc.wait_status("idle", timeout=90)
    assert tracer_of(app.pid) == 0


def test_s3_down_during_upload_then_back(kube_env, namespace, procs, tmp_path, s3server):
    bucket = s3server.create_bucket("recordings")
    SidecarIdentity(kube_env, namespace).create_pod("web-0")
    app = BrokenApp(procs)
    sc = Sidecar(kube_env, namespace, "web-0", tmp_path, procs, TARGET,
                 store=f"s3://{bucket}", env_extra=s3server.env())
    kube_env.annotate(namespace, "web-0", **{f"{PREFIX}/record": "on"})
    sc.wait_status("recording")
    s3server.stop()
    app.get("/crash")
    assert app.proc.wait(timeout=30) == -signal.SIGSEGV
    wait_event(kube_env, namespace, "UploadFailed", timeout=120)
    assert sc.status() == "uploading"
    # The app container's preStop hook: holds while the sidecar is not idle.
    waiter = subprocess.Popen([REWIND, "wait-idle", "--timeout=300"], env=sc.env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    procs.append(waiter)
    # Let the sidecar fail (and back off) once more while wait-idle runs.
    failures = sc.metrics()["rewind_sidecar_upload_failures_total"]
    wait_for(lambda: sc.metrics()["rewind_sidecar_upload_failures_total"] > failures,
             timeout=120, what="another failed upload attempt")
    assert waiter.poll() is None, "wait-idle must block while the upload is pending"
    assert sc.status() == "uploading"
    assert len(list((sc.recordings / ".spool").glob("*.rwd"))) == 1, "kept on disk"

    s3server.start()
    out, _ = waiter.communicate(timeout=120)
    assert waiter.returncode == 0, out
    assert sc.status() == "idle"
    objects = s3server.client().list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"].rsplit("-", 1)[1] for o in objects] == ["crash.rwd"]
    assert not list((sc.recordings / ".spool").glob("*.rwd"))
    wait_event(kube_env, namespace, "UploadRecovered")


def test_bad_annotation_values_keep_the_previous_state(kube_env, namespace, procs, tmp_path):
    SidecarIdentity(kube_env, namespace).create_pod("web-0")
    app = BrokenApp(procs)
    sc = Sidecar(kube_env, namespace, "web-0", tmp_path, procs, TARGET)
    kube_env.annotate(namespace, "web-0", **{f"{PREFIX}/record": "on"})
    sc.wait_status("recording")
    recorder = tracer_of(app.pid)
    kube_env.annotate(namespace, "web-0", **{f"{PREFIX}/record": "maybe",
                                             f"{PREFIX}/rotate": "10 minutes",
                                             f"{PREFIX}/record-on-log": "([unclosed",
                                             f"{PREFIX}/keep": "-3"})
    ev = wait_event(kube_env, namespace, "InvalidAnnotation", contains="maybe")
    assert ev[0][0] == "Warning"
    assert "still using the previous value (on)" in ev[0][2]
    for bad in ["10 minutes", "([unclosed", "-3"]:
        wait_event(kube_env, namespace, "InvalidAnnotation", contains=bad)
    # Still recording with the same recorder; the sidecar did not crash.
    assert sc.status() == "recording"
    assert tracer_of(app.pid) == recorder
    assert sc.proc.poll() is None
    assert sc.metrics()["rewind_sidecar_annotation_errors_total"] == 4


def test_target_not_found_is_an_error(kube_env, namespace, procs, tmp_path):
    SidecarIdentity(kube_env, namespace).create_pod("web-0")
    sc = Sidecar(kube_env, namespace, "web-0", tmp_path, procs,
                 ["--target-exe", "/no-such-dir/no-such-service$"], extra=["--target-grace=1"])
    kube_env.annotate(namespace, "web-0", **{f"{PREFIX}/record": "on"})
    sc.wait_status("error")
    ev = wait_event(kube_env, namespace, "TargetNotFound")
    assert ev[0][0] == "Warning"
    assert "/no-such-dir/no-such-service$" in ev[0][2]
    assert "no-such-service" in sc.annotations()[f"{PREFIX}/error"]
    kube_env.annotate(namespace, "web-0", **{f"{PREFIX}/record": "off"})
    sc.wait_status("idle")
    assert f"{PREFIX}/error" not in sc.annotations()


def test_target_restart_is_reattached(kube_env, namespace, procs, tmp_path):
    SidecarIdentity(kube_env, namespace).create_pod("web-0",
                                                    annotations={f"{PREFIX}/record": "on"})
    sc = Sidecar(kube_env, namespace, "web-0", tmp_path, procs, TARGET)
    first = BrokenApp(procs)
    wait_for(lambda: tracer_of(first.pid) in sc.recorders(), timeout=30, what="first attach")
    first.get("/crash")
    assert first.proc.wait(timeout=30) == -signal.SIGSEGV
    second = BrokenApp(procs)  # "the container restarts"
    wait_for(lambda: tracer_of(second.pid) in sc.recorders(), timeout=30, what="re-attach")
    sc.wait_status("recording")
    wait_for(lambda: any(n.endswith(f"-{first.pid}-crash.rwd")
                         for n in (p.name for p in sc.store_dir.rglob("*.rwd"))),
             timeout=60, what="the first recording uploaded")
    assert second.get("/health") == "ok\n"


def test_200_toggles_leave_no_recorder_behind(kube_env, namespace, procs, tmp_path):
    SidecarIdentity(kube_env, namespace).create_pod("web-0")
    app = BrokenApp(procs)
    sc = Sidecar(kube_env, namespace, "web-0", tmp_path, procs, TARGET)
    # One kubectl per toggle would take minutes; an admin client patches in a loop.
    script = "\n".join(
        f'{{"metadata":{{"annotations":{{"{PREFIX}/record":"{"on" if i % 2 == 0 else "off"}"}}}}}}'
        for i in range(200))
    for line in script.splitlines():
        kube_env.kubectl("-n", namespace, "patch", "pod", "web-0", "--type=merge", "-p", line)
    kube_env.annotate(namespace, "web-0", **{f"{PREFIX}/record": "on"})
    sc.wait_status("recording", timeout=120)
    wait_for(lambda: len(sc.recorders()) == 1, timeout=60, what="exactly one recorder")
    assert tracer_of(app.pid) == sc.recorders()[0]
    kube_env.annotate(namespace, "web-0", **{f"{PREFIX}/record": "off"})
    sc.wait_status("idle", timeout=120)
    wait_for(lambda: sc.recorders() == [], timeout=60, what="no recorder left")
    assert tracer_of(app.pid) == 0
    for tid in os.listdir(f"/proc/{app.pid}/task"):
        with open(f"/proc/{app.pid}/task/{tid}/status") as f:
            assert "TracerPid:\t0\n" in f.read()
    assert app.get("/health") == "ok\n"
    assert sc.proc.poll() is None


def test_killed_sidecar_recording_is_resumed_as_incomplete(kube_env, namespace, procs,
                                                           tmp_path):
    SidecarIdentity(kube_env, namespace).create_pod("web-0")
    app = BrokenApp(procs)
    sc = Sidecar(kube_env, namespace, "web-0", tmp_path, procs, TARGET)
    kube_env.annotate(namespace, "web-0", **{f"{PREFIX}/record": "on"})
    sc.wait_status("recording")
    # The status says a recorder runs; its file appears once it has stopped the target.
    wait_for(lambda: list((sc.recordings / ".incoming").glob("*.rwd")), timeout=30,
             what="the recorder to create its file")
    recorder = tracer_of(app.pid)
    # SIGKILL both at once, as an OOM kill of the container would: the recorder gets no
    # chance to finish its file, and the sidecar none to see it die and save the partial
    # file itself. (Killing the sidecar alone would make the recorder finish: its
    # parent-death signal is SIGINT. So the sidecar is stopped first, then both killed.)
    os.kill(sc.proc.pid, signal.SIGSTOP)
    os.kill(recorder, signal.SIGKILL)
    sc.proc.kill()
    sc.proc.wait()
    wait_for(lambda: tracer_of(app.pid) == 0, timeout=10, what="the kernel to detach")
    assert app.get("/health") == "ok\n"
    kube_env.annotate(namespace, "web-0", **{f"{PREFIX}/record": "off"})
    assert list((sc.recordings / ".incoming").glob("*.rwd"))

    again = Sidecar(kube_env, namespace, "web-0", tmp_path, procs, TARGET,
                    recordings=sc.recordings)
    wait_event(kube_env, namespace, "RecordingRecovered")
    again.wait_status("idle")
    stored = [p.name for p in again.store_dir.rglob("*.rwd")]
    assert len(stored) == 1 and stored[0].endswith("-incomplete.rwd"), stored


def test_log_trigger_without_a_kubelet_says_why(kube_env, namespace, procs, tmp_path):
    # No kubelet serves pods/log here; the API server's refusal must reach the user.
    SidecarIdentity(kube_env, namespace).create_pod("web-0")
    BrokenApp(procs)
    sc = Sidecar(kube_env, namespace, "web-0", tmp_path, procs, TARGET,
                 extra=["--log-container", "app"])
    kube_env.annotate(namespace, "web-0", **{f"{PREFIX}/record-on-log": "FATAL|panic"})
    ev = wait_event(kube_env, namespace, "LogFollowFailed")
    assert ev[0][0] == "Warning"
    assert "container app" in ev[0][2]
    assert sc.status() == "idle"
    assert sc.proc.poll() is None


def test_target_container_is_found_through_the_pod_status(kube_env, namespace, procs,
                                                          tmp_path):
    # What a kubelet would do: run the app in a cgroup named after its container id and
    # publish that id in the pod's status. (Only the cgroup and the status are written
    # by the test; the sidecar reads the real /proc and the real API server.)
    cid = os.urandom(32).hex()
    cgroup = f"/sys/fs/cgroup/pids/rewind-test-{cid}"
    os.makedirs(cgroup)
    try:
        SidecarIdentity(kube_env, namespace).create_pod("web-0")
        app = BrokenApp(procs)
        with open(f"{cgroup}/cgroup.procs", "w") as f:
            f.write(str(app.pid))
        other = BrokenApp(procs)  # same name, another "container": must not be chosen
        status = {"status": {"containerStatuses": [{
            "name": "app", "containerID": f"containerd://{cid}", "image": "broken-app",
            "imageID": "", "ready": True, "restartCount": 0,
            "state": {"running": {"startedAt": "2026-11-27T19:00:00Z"}}}]}}
        kube_env.kubectl("-n", namespace, "patch", "pod", "web-0", "--subresource=status",
                         "--type=merge", "-p", json.dumps(status))
        sc = Sidecar(kube_env, namespace, "web-0", tmp_path, procs,
                     ["--target-container", "app"])
        kube_env.annotate(namespace, "web-0", **{f"{PREFIX}/record": "on"})
        sc.wait_status("recording")
        assert tracer_of(app.pid) in sc.recorders()
        assert tracer_of(other.pid) == 0
        kube_env.annotate(namespace, "web-0", **{f"{PREFIX}/record": "off"})
        sc.wait_status("idle")
        assert sc.recorders() == []
    finally:
        for p in open(f"{cgroup}/cgroup.procs").read().split():
            with open("/sys/fs/cgroup/pids/cgroup.procs", "w") as f:
                f.write(p)
        os.rmdir(cgroup)
