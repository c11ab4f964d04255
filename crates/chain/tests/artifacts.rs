//! The committed contract artifacts are what the committed Solidity compiles to: this test
//! rebuilds them with the pinned solc-js (contracts/package.json, installed by
//! scripts/contracts.sh) and fails if any differs. Run `cd contracts && npm run build` after
//! changing a contract.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn committed_artifacts_match_a_fresh_build() {
    let contracts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contracts");
    assert!(
        contracts.join("node_modules/solc").is_dir(),
        "solc-js is not installed: run `bash scripts/contracts.sh` (scripts/test.sh does)"
    );
    let output = Command::new("node")
        .arg("compile.mjs")
        .arg("--check")
        .current_dir(&contracts)
        .output()
        .expect("run node (Node.js is needed to rebuild the contracts)");
    assert!(
        output.status.success(),
        "stale contract artifacts:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
