//! `mileverse chain`: the real binary against a real anvil. A key is made, the genesis
//! deployed and the bridge funded, a member's wallet gets gas money and MVC, a reward
//! quarter is funded, and the member claims exactly their share; `chain node` serves until
//! it is told to stop.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chain::contracts::{Anchor, MVC, RewardDistributor};
use chain::operations::parse_amount;
use chain::{Address, DeploymentFile, DevNode, U256};

/// 0.5% of the Sale allocation, in wei.
const POOL_WEI: u128 = 4_500_000 * 1_000_000_000_000_000_000;

fn mileverse<S: AsRef<str>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mileverse"))
        .args(args.iter().map(AsRef::as_ref))
        .output()
        .expect("run mileverse")
}

/// Runs `mileverse args…`, requires success, and returns its standard output.
fn run<S: AsRef<str>>(args: &[S]) -> String {
    let output = mileverse(args);
    let shown: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    assert!(
        output.status.success(),
        "mileverse {shown:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The rest of the first output line that starts with `prefix`.
fn line_after(text: &str, prefix: &str) -> String {
    text.lines()
        .find_map(|line| line.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{text}"))
        .trim()
        .to_string()
}

/// An amount printed as `… 123.000000000000000000 MVC`, in wei.
fn printed_amount(text: &str, prefix: &str) -> U256 {
    let rest = line_after(text, prefix);
    let number = rest.strip_suffix(" MVC").expect("an amount in MVC");
    assert_eq!(number.split('.').nth(1).map(str::len), Some(18), "{number}");
    parse_amount(number).unwrap()
}

fn unix_now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn path(directory: &Path, name: &str) -> String {
    directory.join(name).to_str().unwrap().to_string()
}

#[test]
fn keys_are_private_files_that_are_never_overwritten_and_never_printed() {
    let directory = tempfile::tempdir().unwrap();
    let key = path(directory.path(), "keys/platform.key");
    let made = run(&["chain", "keygen", "--key", &key]);
    let address = line_after(&made, "address ");
    let text = std::fs::read_to_string(&key).unwrap();
    let secret = text.trim().trim_start_matches("0x");
    assert_eq!(secret.len(), 64);
    assert!(!made.contains(secret), "the key is not printed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(
        !mileverse(&["chain", "keygen", "--key", &key])
            .status
            .success()
    );
    assert_eq!(std::fs::read_to_string(&key).unwrap(), text);
    let shown = run(&["chain", "address", "--key", &key]);
    assert_eq!(line_after(&shown, "address "), address);
    assert!(!shown.contains(secret));
}

/// A dev node and the files the commands share: a funded dev key, the admin's key, the
/// deployment file and a member's wallet.
struct Flow {
    node: DevNode,
    directory: tempfile::TempDir,
}

impl Flow {
    fn start() -> Flow {
        let flow = Flow {
            node: DevNode::start().expect("anvil starts"),
            directory: tempfile::tempdir().unwrap(),
        };
        let dev_key = flow.node.keys()[0].to_bytes().to_string();
        std::fs::write(flow.file("dev.key"), dev_key).unwrap();
        flow
    }

    fn file(&self, name: &str) -> String {
        path(self.directory.path(), name)
    }

    /// `mileverse chain COMMAND --rpc URL ARGS…`.
    fn chain(&self, command: &[&str], args: &[&str]) -> String {
        let rpc = self.node.url();
        run(&[&["chain"], command, &["--rpc", &rpc], args].concat())
    }

    fn fund_eth(&self, to: &str, eth: &str) {
        let key = self.file("dev.key");
        self.chain(&["fund-eth"], &["--key", &key, "--to", to, "--eth", eth]);
    }

    fn transfer(&self, to: &str, mvc: &str) {
        let (key, deployment) = (self.file("admin.key"), self.file("deployment.json"));
        let args = ["--key", &key, "--deployment", &deployment];
        self.chain(
            &["transfer"],
            &[&args[..], &["--to", to, "--mvc", mvc]].concat(),
        );
    }

    fn balance(&self, address: Address) -> U256 {
        let (deployment, address) = (self.file("deployment.json"), address.to_string());
        let args = ["--deployment", &deployment, "--address", &address];
        let shown = self.chain(&["balance"], &args);
        printed_amount(&format!("balance {shown}"), "balance ")
    }

    /// `chain rewards claim|claimable` for quarter 0 with the member's wallet.
    fn claim_args(&self, what: &str) -> Vec<String> {
        let rpc = self.node.url();
        let (deployment, wallet) = (self.file("deployment.json"), self.file("wallet"));
        let args = [
            "chain",
            "rewards",
            what,
            "--rpc",
            &rpc,
            "--deployment",
            &deployment,
        ];
        let more = ["--quarter", "0", "--wallet", &wallet];
        args.iter()
            .chain(&more)
            .map(|arg| arg.to_string())
            .collect()
    }

    /// Makes the admin's key, gives it gas money and deploys with three authorities.
    fn deploy(&self) -> DeploymentFile {
        let admin_key = self.file("admin.key");
        let made = run(&["chain", "keygen", "--key", &admin_key]);
        self.fund_eth(&line_after(&made, "address "), "100");
        let accounts = self.node.accounts();
        let authorities = format!("{},{},{}", accounts[5], accounts[6], accounts[7]);
        let out = self.file("deployment.json");
        let args = ["--key", &admin_key, "--authorities", &authorities];
        let more = ["--threshold", "2", "--out", &out];
        let deployed = self.chain(&["deploy"], &[&args[..], &more[..]].concat());
        assert!(deployed.contains("gas total "), "{deployed}");
        let deployment = DeploymentFile::read(Path::new(&out)).unwrap();
        let admin: Address = line_after(&made, "address ").parse().unwrap();
        assert_eq!((deployment.chain_id, deployment.admin), (31_337, admin));
        assert_eq!(
            deployment.reserved, admin,
            "dev default: the admin holds the treasuries"
        );
        deployment
    }
}

#[tokio::test]
async fn deploy_fund_and_claim_a_quarter_through_the_binary() {
    let flow = Flow::start();
    let deployment = flow.deploy();
    let provider = flow.node.provider(&[]).unwrap();
    let anchor = Anchor::new(deployment.anchor, provider.clone());
    assert_eq!(anchor.threshold().call().await.unwrap(), U256::from(2));
    assert_eq!(anchor.authorityCount().call().await.unwrap(), U256::from(3));
    assert_eq!(
        flow.balance(deployment.bridge),
        parse_amount("1000000").unwrap(),
        "the bridge holds its default funding"
    );

    // A member's wallet with gas money and MVC, and another holder.
    let made = run(&["wallet", "new", "--file", &flow.file("wallet")]);
    let member = line_after(&made, "address: ");
    flow.fund_eth(&member, "1");
    flow.transfer(&member, "1234.5");
    flow.transfer(&flow.node.accounts()[3].to_string(), "3000.25");
    let end = chain::devnode::latest_timestamp(&provider).await.unwrap();
    // The quarter's end must be in the past when it is funded.
    while unix_now_s() <= end + 1 {
        std::thread::sleep(Duration::from_millis(100));
    }
    let (key, deployment_path) = (flow.file("admin.key"), flow.file("deployment.json"));
    let args = ["--key", &key, "--deployment", &deployment_path];
    let end_text = end.to_string();
    let funded = flow.chain(
        &["rewards", "fund"],
        &[&args[..], &["--end", &end_text]].concat(),
    );
    assert_eq!(line_after(&funded, "quarter "), "0");

    let claimable = printed_amount(&run(&flow.claim_args("claimable")), "claimable ");
    let claimed_text = run(&flow.claim_args("claim"));
    let claimed = printed_amount(&claimed_text, "claimed ");
    assert!(line_after(&claimed_text, "tx 0x").len() > 60);
    assert_eq!(claimed, claimable);
    // The share from on-chain figures: floor(pool × balance at end / eligible supply).
    let member: Address = member.parse().unwrap();
    let expected = expected_share(&provider, &deployment, member, end).await;
    assert_eq!(claimed, expected);
    assert_eq!(
        flow.balance(member),
        parse_amount("1234.5").unwrap() + claimed
    );
    let again = mileverse(&flow.claim_args("claim"));
    let refusal = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success());
    assert!(refusal.contains("AlreadyClaimed"), "{refusal}");
}

/// `pool × balanceAt(member, end) / eligible`, rounded down, where eligible is the total
/// supply at `end` less the excluded accounts' balances at `end`.
async fn expected_share(
    provider: &chain::DynProvider,
    deployment: &DeploymentFile,
    member: Address,
    end: u64,
) -> U256 {
    let token = MVC::new(deployment.token, provider.clone());
    let rewards = RewardDistributor::new(deployment.rewards, provider.clone());
    let at = U256::from(end);
    let mut eligible = token.totalSupplyAt(at).call().await.unwrap();
    for excluded in rewards.excludedAccounts().call().await.unwrap() {
        eligible -= token.balanceAt(excluded, at).call().await.unwrap();
    }
    let quarter = rewards.quarterOf(U256::ZERO).call().await.unwrap();
    assert_eq!(quarter.eligibleSupply, eligible);
    let held = token.balanceAt(member, at).call().await.unwrap();
    assert_eq!(held, parse_amount("1234.5").unwrap());
    assert!(eligible > held, "another holder shares the pool");
    U256::from(POOL_WEI) * held / eligible
}

#[test]
fn chain_node_serves_until_terminated_and_stops_anvil() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mileverse"))
        .args(["chain", "node"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run mileverse chain node");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = String::new();
    while !banner.contains("dev key ") {
        let line = lines.next().expect("output").expect("a line");
        banner.push_str(&line);
        banner.push('\n');
    }
    let rpc = line_after(&banner, "rpc ");
    let dev_key = line_after(&banner, "dev key ");
    assert!(rpc.starts_with("http://127.0.0.1:"), "{rpc}");
    assert!(
        dev_key.starts_with("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"),
        "anvil's first well-known key: {dev_key}"
    );
    assert!(dev_key.contains("development"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let provider = chain::connect_reader(&rpc, &tls::ClientTls::system()).unwrap();
    let chain_id = runtime
        .block_on(chain::anchor::chain_id(&provider))
        .unwrap();
    assert_eq!(chain_id, 31_337);

    let terminated = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "chain node did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|line| line == "node stopped"), "{rest:?}");
    let address: std::net::SocketAddr = rpc.trim_start_matches("http://").parse().unwrap();
    assert!(
        std::net::TcpStream::connect(address).is_err(),
        "anvil still answers after the node stopped"
    );
}
