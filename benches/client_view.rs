//! The client's view, side by side: a Python service reading a backup with
//! Huawei's official SDK straight to REST (`ShowBackup`, signed by the SDK)
//! against the same service reading it through the gateway with `grpcio`
//! (`GetBackup`; the gateway signs), same simulator, alternating rounds. The
//! Python side is `benches/client_view/client_view.py`; this starts the
//! simulator (checking signatures) and the gateway as processes of the built
//! binary, generates the Python stubs, and runs it.
//!
//! Needs `huaweicloudsdkcbr`, `grpcio` and `grpcio-tools` (`scripts/test.sh`
//! installs them). Run: `cargo bench --bench client_view` (or `-- <seconds
//! per round>`, default 3); `CLIENT_VIEW_THREADS=1,8` sets the thread counts.

mod common;
use common::*;

use std::{net::SocketAddr, process::Command};

const AK: &str = "CLIENTVIEWAK";
const SK: &str = "client-view-secret-key";

fn main() {
    let seconds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3);
    let threads = std::env::var("CLIENT_VIEW_THREADS").unwrap_or_else(|_| "1,8".to_owned());
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let root = env!("CARGO_MANIFEST_DIR");
    let bin = env!("CARGO_BIN_EXE_cbr-gateway");
    let addr = || -> SocketAddr { format!("127.0.0.1:{}", free_port()).parse().unwrap() };
    let (sim_addr, gw_addr) = (addr(), addr());

    // The stubs, generated from the gateway's protos into a scratch directory.
    let stubs = std::env::temp_dir().join(format!("client-view-stubs-{}", std::process::id()));
    std::fs::create_dir_all(&stubs).unwrap();
    let generated = Command::new(&python)
        .args(["-m", "grpc_tools.protoc", &format!("-I{root}/proto")])
        .arg(format!("--python_out={}", stubs.display()))
        .arg(format!("--grpc_python_out={}", stubs.display()))
        .args(
            std::fs::read_dir(format!("{root}/proto/cbr/gateway/v1"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "proto")),
        )
        .arg(format!("{root}/proto/google/longrunning/operations.proto"))
        .status()
        .expect("python3 -m grpc_tools.protoc (pip install grpcio-tools)");
    assert!(generated.success(), "generating the Python stubs failed");

    let sim_url = format!("http://{sim_addr}");
    let sim = Proc(
        simulator_command(bin, sim_addr)
            .args(["--sim-fleet-size", "100"])
            .args(["--sim-credentials", &format!("{AK}:{SK}")])
            .spawn()
            .expect("start the simulator"),
    );
    let gw = Proc(
        gateway_command(bin, gw_addr, &sim_url)
            .args(["--project-id", cbr_simulator::seed::PROJECT])
            // Every call reads the same backup: with shared reads the
            // threads' concurrent calls would join one upstream request,
            // which a service reading different backups would not get.
            .env("UPSTREAM_SHARE_READS", "false")
            .env("HUAWEICLOUD_SDK_AK", AK)
            .env("HUAWEICLOUD_SDK_SK", SK)
            .spawn()
            .expect("start the gateway"),
    );
    wait_for(sim_addr);
    wait_for(gw_addr);
    println!(
        "GetBackup as a Python service sees it: {seconds} s rounds, 3 alternating rounds per path\n"
    );
    let status = Command::new(&python)
        .args(["-W", "ignore::Warning"])
        .arg(format!("{root}/benches/client_view/client_view.py"))
        .args([&sim_url, &gw_addr.to_string(), AK, SK])
        .arg(gw.0.id().to_string())
        .arg(seconds.to_string())
        .arg(&threads)
        .env("CLIENT_VIEW_STUBS", &stubs)
        .status()
        .expect("python3 runs");
    let _ = std::fs::remove_dir_all(&stubs);
    assert!(status.success(), "client_view.py failed");
    drop((gw, sim));
}
