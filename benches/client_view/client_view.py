"""The client's view: one Python service reading a backup, two ways, same run.

- **SDK**: Huawei's official Python SDK (`huaweicloudsdkcbr`), `ShowBackup`
  straight to the REST API, signing every request with AK/SK itself.
- **gateway**: `grpcio`, `GetBackup` through cbr-gateway (which holds the
  AK/SK and signs), one channel shared by the threads.

Both against the same simulator, in alternating rounds, at each thread count.
Prints calls/s, mean/p50/p99 latency and the Python process's own CPU per
call, and, for the gateway rounds, the gateway's CPU per call (from
/proc/<pid>/stat). Run by `cargo bench --bench client_view`, which starts the
simulator and the gateway and generates the stubs:

    client_view.py SIM_URL GATEWAY_ADDR AK SK GATEWAY_PID SECONDS THREADS[,THREADS…]
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.environ["CLIENT_VIEW_STUBS"])

import grpc  # noqa: E402
from cbr.gateway.v1 import backup_pb2, backup_pb2_grpc  # noqa: E402
from huaweicloudsdkcbr.v1 import CbrClient, ShowBackupRequest  # noqa: E402
from huaweicloudsdkcore.auth.credentials import BasicCredentials  # noqa: E402
from huaweicloudsdkcore.http.http_config import HttpConfig  # noqa: E402

PROJECT = "4229d7a45436489f8c3dc2b1d35d4987"
BACKUP = "6df2b54c-dd62-4059-a07c-1b8f24f2725d"
ROUNDS = 3


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(call, threads, seconds):
    """`call` from `threads` threads for `seconds`: latencies (s), wall time."""
    until = time.perf_counter() + seconds
    latencies = [[] for _ in range(threads)]

    def worker(out):
        while time.perf_counter() < until:
            t = time.perf_counter()
            call()
            out.append(time.perf_counter() - t)

    pool = [threading.Thread(target=worker, args=(latencies[i],)) for i in range(threads)]
    started = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return [x for part in latencies for x in part], time.perf_counter() - started


def main():
    sim_url, gw_addr, ak, sk, gw_pid, seconds, thread_list = sys.argv[1:8]
    seconds = float(seconds)
    cfg = HttpConfig.get_default_config()
    cfg.timeout = (5, 10)
    sdk = (
        CbrClient.new_builder()
        .with_http_config(cfg)
        .with_credentials(BasicCredentials(ak=ak, sk=sk, project_id=PROJECT))
        .with_endpoint(sim_url)
        .build()
    )
    channel = grpc.insecure_channel(gw_addr)
    stub = backup_pb2_grpc.BackupServiceStub(channel)
    request = backup_pb2.GetBackupRequest(backup_id=BACKUP)

    def via_sdk():
        r = sdk.show_backup(ShowBackupRequest(backup_id=BACKUP))
        assert r.backup.id == BACKUP

    def via_gateway():
        r = stub.GetBackup(request, timeout=10)
        assert r.backup.id == BACKUP

    # Warm-up: connections, pools, imports.
    run(via_sdk, 2, 1)
    run(via_gateway, 2, 1)
    print(
        f"{'threads':>7} {'path':<28} {'calls/s':>8} {'mean ms':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'py CPU µs/call':>14} {'gw CPU µs/call':>14}"
    )
    for threads in [int(t) for t in thread_list.split(",")]:
        totals = {}
        for _ in range(ROUNDS):
            for name, call in (("SDK → REST (ShowBackup)", via_sdk), ("grpcio → gateway (GetBackup)", via_gateway)):
                me0, gw0 = time.process_time(), cpu_seconds(gw_pid)
                lat, wall = run(call, threads, seconds)
                me1, gw1 = time.process_time(), cpu_seconds(gw_pid)
                t = totals.setdefault(name, {"lat": [], "wall": 0.0, "me": 0.0, "gw": 0.0})
                t["lat"] += lat
                t["wall"] += wall
                t["me"] += me1 - me0
                t["gw"] += gw1 - gw0
        for name, t in totals.items():
            lat = sorted(t["lat"])
            n = len(lat)
            gw = f"{t['gw'] / n * 1e6:>14.0f}" if name.startswith("grpcio") else f"{'—':>14}"
            print(
                f"{threads:>7} {name:<28} {n / t['wall']:>8.0f} {sum(lat) / n * 1e3:>8.2f} "
                f"{lat[n // 2] * 1e3:>7.2f} {lat[min(n - 1, int(n * 0.99))] * 1e3:>7.2f} "
                f"{t['me'] / n * 1e6:>14.0f} {gw}"
            )
        sdk_rate = len(totals["SDK → REST (ShowBackup)"]["lat"]) / totals["SDK → REST (ShowBackup)"]["wall"]
        gw_rate = len(totals["grpcio → gateway (GetBackup)"]["lat"]) / totals["grpcio → gateway (GetBackup)"]["wall"]
        print(f"{'':>7} gateway / SDK calls per second: {gw_rate / sdk_rate:.2f}\n")


if __name__ == "__main__":
    main()
