//! A throw-away Ethereum dev node: anvil, as a child process on loopback.
//!
//! [`DevNode::start`] runs anvil on `127.0.0.1` with a port the kernel picks, reads its
//! banner for the address it listens on and its ten funded dev keys, and returns once the
//! port answers. Dropping the node stops it. The binary is `$MILEVERSE_ANVIL`, or the one
//! `scripts/contracts.sh` installs from npm under `contracts/node_modules`.
//!
//! Also here: anvil's time and balance controls, which tests use to reach a quarter's end,
//! a vesting cliff or a claim window's close without waiting.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use alloy::providers::{DynProvider, Provider};
use alloy::signers::local::PrivateKeySigner;

use crate::{Address, Error, U256, connect, signer};

/// How long anvil may take to print its banner (the npm wrapper starts Node first).
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long anvil may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// The keys anvil derives from its default mnemonic ("test test … junk"), used if its
/// banner cannot be read for them.
const DEFAULT_KEYS: [&str; 10] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

/// A running anvil; stopped on drop.
#[derive(Debug)]
pub struct DevNode {
    child: Child,
    address: SocketAddr,
    keys: Vec<PrivateKeySigner>,
}

/// What anvil's banner tells before it serves.
struct Banner {
    address: SocketAddr,
    keys: Vec<String>,
}

impl DevNode {
    /// Starts anvil from [`binary`]'s location.
    pub fn start() -> Result<Self, Error> {
        Self::start_binary(&binary()?)
    }

    /// Starts anvil from [`binary`]'s location on 127.0.0.1 port `port` (0: a free one).
    pub fn start_on_port(port: u16) -> Result<Self, Error> {
        Self::start_binary_on_port(&binary()?, port)
    }

    /// Starts the anvil at `binary` on 127.0.0.1, on a free port.
    pub fn start_binary(binary: &Path) -> Result<Self, Error> {
        Self::start_binary_on_port(binary, 0)
    }

    /// Starts the anvil at `binary` on 127.0.0.1 port `port` (0: a free one).
    pub fn start_binary_on_port(binary: &Path, port: u16) -> Result<Self, Error> {
        let mut child = Command::new(binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take();
        // The node owns the child from here on, so a failed start still stops it.
        let mut node = DevNode {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            keys: Vec::new(),
        };
        let stdout = stdout.ok_or_else(|| Error::AnvilStart("no stdout".to_string()))?;
        let banner = read_banner(stdout)?;
        node.address = banner.address;
        node.keys = dev_keys(&banner.keys)?;
        wait_until_answering(node.address)?;
        Ok(node)
    }

    /// The JSON-RPC endpoint, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The ten funded dev accounts' keys, in anvil's order.
    pub fn keys(&self) -> &[PrivateKeySigner] {
        &self.keys
    }

    /// The dev accounts' addresses, in anvil's order.
    pub fn accounts(&self) -> Vec<Address> {
        self.keys.iter().map(PrivateKeySigner::address).collect()
    }

    /// A provider that signs with every dev key (the first by default) and `extra` keys.
    pub fn provider(&self, extra: &[PrivateKeySigner]) -> Result<DynProvider, Error> {
        let signers: Vec<PrivateKeySigner> = self.keys.iter().chain(extra).cloned().collect();
        // The dev node is plain HTTP on loopback: no CA of ours is needed.
        connect(&self.url(), &signers, &tls::ClientTls::system())
    }

    /// Asks anvil to exit (SIGTERM, which the npm wrapper passes on to the real binary),
    /// and kills it if it has not exited in time.
    fn stop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) with our own child's pid; it has not been reaped yet.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for DevNode {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where anvil is: `$MILEVERSE_ANVIL`, else the npm package's native binary, else its Node
/// wrapper in `node_modules/.bin` (the native one first: one process, and no wrapper to
/// outlive).
pub fn binary() -> Result<PathBuf, Error> {
    if let Some(path) = std::env::var_os("MILEVERSE_ANVIL") {
        return Ok(PathBuf::from(path));
    }
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/node_modules");
    let native = modules.join(format!("@foundry-rs/anvil-{}/bin/anvil", npm_platform()));
    let wrapper = modules.join(".bin/anvil");
    [native, wrapper]
        .into_iter()
        .find(|path| path.is_file())
        .ok_or_else(|| Error::AnvilMissing(modules.display().to_string()))
}

/// The npm platform package's suffix for this machine, e.g. `linux-amd64`.
fn npm_platform() -> String {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("{os}-{arch}")
}

/// Reads the banner up to "Listening on ADDRESS" on a thread, which then keeps draining
/// stdout: anvil logs every request there and would block on a full pipe.
fn read_banner(stdout: ChildStdout) -> Result<Banner, Error> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let banner = parse_banner(&mut reader);
        let _ = sender.send(banner);
        let _ = std::io::copy(&mut reader.into_inner(), &mut std::io::sink());
    });
    match receiver.recv_timeout(START_TIMEOUT) {
        Ok(Some(banner)) => Ok(banner),
        Ok(None) => Err(Error::AnvilStart("exited before listening".to_string())),
        Err(_) => Err(Error::AnvilStart(format!(
            "no address within {START_TIMEOUT:?}"
        ))),
    }
}

/// The listening address and the private keys from anvil's banner; `None` at end of
/// output without a "Listening on" line.
fn parse_banner<R: Read>(reader: &mut BufReader<R>) -> Option<Banner> {
    let mut keys = Vec::new();
    let mut in_keys = false;
    for line in reader.lines() {
        let line = line.ok()?;
        let line = line.trim();
        if let Some(address) = line.strip_prefix("Listening on ") {
            let address = address.trim().parse().ok()?;
            return Some(Banner { address, keys });
        }
        if line.starts_with("Private Keys") {
            in_keys = true;
        } else if in_keys && line.starts_with('(') {
            keys.extend(line.split_whitespace().nth(1).map(str::to_string));
        } else if in_keys && !line.is_empty() && !line.starts_with('=') {
            in_keys = false;
        }
    }
    None
}

/// The banner's keys, or anvil's defaults if it printed none.
fn dev_keys(printed: &[String]) -> Result<Vec<PrivateKeySigner>, Error> {
    if printed.is_empty() {
        return DEFAULT_KEYS.iter().map(|key| signer(key)).collect();
    }
    printed.iter().map(|key| signer(key)).collect()
}

/// Polls until the port accepts a connection (anvil prints its address once bound, so this
/// normally succeeds at once).
fn wait_until_answering(address: SocketAddr) -> Result<(), Error> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match TcpStream::connect_timeout(&address, Duration::from_secs(1)) {
            Ok(_) => return Ok(()),
            Err(error) if Instant::now() >= deadline => {
                return Err(Error::AnvilStart(format!(
                    "{address} does not answer: {error}"
                )));
            }
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Makes the next block's timestamp `timestamp` (Unix seconds; must be later than the
/// latest block's).
pub async fn set_next_block_timestamp<P: Provider>(
    provider: &P,
    timestamp: u64,
) -> Result<(), Error> {
    let _: serde_json::Value = provider
        .raw_request("evm_setNextBlockTimestamp".into(), (timestamp,))
        .await?;
    Ok(())
}

/// Mines one empty block (at the timestamp set before, if any).
pub async fn mine<P: Provider>(provider: &P) -> Result<(), Error> {
    let _: serde_json::Value = provider.raw_request("evm_mine".into(), ()).await?;
    Ok(())
}

/// Mines one empty block at `timestamp`.
pub async fn mine_at<P: Provider>(provider: &P, timestamp: u64) -> Result<(), Error> {
    set_next_block_timestamp(provider, timestamp).await?;
    mine(provider).await
}

/// Moves the chain's clock `seconds` forward (effective from the next block).
pub async fn increase_time<P: Provider>(provider: &P, seconds: u64) -> Result<(), Error> {
    let _: serde_json::Value = provider
        .raw_request("evm_increaseTime".into(), (seconds,))
        .await?;
    Ok(())
}

/// Sets `account`'s ether balance (to pay gas from a key that is not a dev account).
pub async fn set_balance<P: Provider>(
    provider: &P,
    account: Address,
    wei: U256,
) -> Result<(), Error> {
    let _: serde_json::Value = provider
        .raw_request("anvil_setBalance".into(), (account, wei))
        .await?;
    Ok(())
}

/// The latest block's timestamp.
pub async fn latest_timestamp<P: Provider>(provider: &P) -> Result<u64, Error> {
    let block = provider
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await?
        .ok_or(Error::NoBlock)?;
    Ok(block.header.timestamp)
}
