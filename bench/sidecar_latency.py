#!/usr/bin/env python3
"""How fast `rewind sidecar` reacts, and what it costs when idle, in one run.

Starts a real kube-apiserver + etcd (the kubeenv test fixture), the demo service and
`rewind sidecar` (as in tests/integration/sidecarenv.py: local processes, a minted
ServiceAccount token, the RBAC of deploy/base), then measures:

  - annotation -> attached: from just before an admin client's PATCH setting
    rewind.dev/record=on until the target's /proc/PID/status names a tracer, over N
    toggles (each followed by record=off and a wait for the detach);
  - target start -> attached: with record=on already set, from starting a new demo
    process until it is traced (the "on in the pod template" case);
  - the sidecar's resident memory (VmRSS) while idle.

and prints them beside the well-known demo's 5 s annotation polling interval.

Usage: bench/sidecar_latency.py [--build build] [--toggles 50] [--starts 10]
"""
import argparse
import json
import os
import pathlib
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
POLL_INTERVAL_S = 5.0  # the well-known demo's annotation polling interval


def tracer_of(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("TracerPid:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return 0


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wait(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.0005)
    raise SystemExit(f"timed out waiting for {what}")


def pct(values, p):
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--toggles", type=int, default=50)
    ap.add_argument("--starts", type=int, default=10)
    args = ap.parse_args()
    build = pathlib.Path(args.build).resolve()
    os.environ.setdefault("REWIND_SOURCE_DIR", str(ROOT))
    os.environ.setdefault("REWIND_BIN", str(build / "bin" / "rewind"))
    sys.path.insert(0, str(ROOT / "tests" / "integration"))
    from kubeenv import KubeEnv  # noqa: E402
    from conftest import free_port  # noqa: E402

    rewind = os.environ["REWIND_BIN"]
    app_bin = str(build / "bin" / "broken-app")
    work = pathlib.Path(tempfile.mkdtemp(prefix="rewind-bench-sidecar-"))
    kube = KubeEnv(work / "kube")
    kube.start()
    procs = []
    try:
        ns = kube.create_namespace()
        kube.create_service_account(ns, "rewind")
        kube.kubectl("-n", ns, "apply", "-f", str(ROOT / "deploy" / "base" / "rbac.yaml"))
        kube.create_pod(ns, "web-0", service_account="rewind")
        app = subprocess.Popen([app_bin, "--port", str(free_port())], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        procs.append(app)
        env = kube.in_cluster_env(ns, "rewind", pod="web-0")
        sidecar = subprocess.Popen(
            [rewind, "--log-level", "warn", "sidecar", "--target-name", "broken-app",
             "--store", f"file://{work / 'store'}", "--recordings-dir",
             str(work / "recordings"), "--listen", "127.0.0.1:0"],
            env=env, stdout=subprocess.DEVNULL, stderr=open(work / "sidecar.log", "wb"))
        procs.append(sidecar)

        ctx = ssl.create_default_context(cafile=str(kube.ca_file))
        ctx.load_cert_chain(str(kube.pki / "admin.crt"), str(kube.pki / "admin.key"))
        url = f"{kube.server}/api/v1/namespaces/{ns}/pods/web-0"

        def patch(value):
            body = json.dumps({"metadata": {"annotations": {"rewind.dev/record": value}}})
            req = urllib.request.Request(url, data=body.encode(), method="PATCH", headers={
                "Content-Type": "application/merge-patch+json"})
            with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
                r.read()

        def status():
            req = urllib.request.Request(url)
            with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
                return json.loads(r.read())["metadata"].get("annotations", {}).get(
                    "rewind.dev/status")

        wait(lambda: status() == "idle", 60, "the sidecar to report idle")
        time.sleep(2)
        idle_rss_start = rss_kib(sidecar.pid)

        latencies = []
        for _ in range(args.toggles):
            t0 = time.monotonic()
            patch("on")
            wait(lambda: tracer_of(app.pid), 30, "attach")
            latencies.append((time.monotonic() - t0) * 1000)
            wait(lambda: status() == "recording", 30, "status recording")
            patch("off")
            wait(lambda: tracer_of(app.pid) == 0, 30, "detach")
            wait(lambda: status() == "idle", 60, "status idle")

        # The "on in the pod template" case: the target starts while record=on.
        patch("on")
        app.send_signal(signal.SIGTERM)
        app.wait()
        starts = []
        for _ in range(args.starts):
            t0 = time.monotonic()
            p = subprocess.Popen([app_bin, "--port", str(free_port())], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            procs.append(p)
            wait(lambda: tracer_of(p.pid), 30, "attach to a new target")
            starts.append((time.monotonic() - t0) * 1000)
            wait(lambda: status() == "recording", 30, "status recording")
            p.send_signal(signal.SIGTERM)
            p.wait()
            wait(lambda: status() in ("idle", "error"), 60, "recording saved")
        patch("off")
        wait(lambda: status() == "idle", 60, "status idle")
        time.sleep(2)
        idle_rss_end = rss_kib(sidecar.pid)

        print(f"rewind sidecar reaction, {args.toggles} annotation toggles and "
              f"{args.starts} target starts, on {os.cpu_count()} CPU(s)")
        print(f"  annotation -> attached   p50 {pct(latencies, 50):7.1f} ms   "
              f"p99 {pct(latencies, 99):7.1f} ms   max {max(latencies):7.1f} ms")
        print(f"  target start -> attached p50 {pct(starts, 50):7.1f} ms   "
              f"p99 {pct(starts, 99):7.1f} ms   max {max(starts):7.1f} ms")
        print(f"  well-known demo (polls annotations every {POLL_INTERVAL_S:.0f} s): "
              f"mean {POLL_INTERVAL_S * 500:.0f} ms, worst {POLL_INTERVAL_S * 1000:.0f} ms "
              f"before it even notices; rewind p50 is "
              f"{POLL_INTERVAL_S * 500 / statistics.median(latencies):.0f}x faster than that mean")
        print(f"  idle RSS of the sidecar: {idle_rss_start / 1024:.1f} MiB at start, "
              f"{idle_rss_end / 1024:.1f} MiB after the run")
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        kube.stop()


if __name__ == "__main__":
    main()
