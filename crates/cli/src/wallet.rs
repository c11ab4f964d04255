//! `mileverse wallet`: a member's Ethereum wallet on their own device (TT-1). The mnemonic
//! is made here and kept in a file only the user can read; nothing is sent anywhere.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chain::wallet::{Wallet, recover_message_signer};

#[derive(clap::Subcommand)]
pub enum WalletCommand {
    /// Make a new wallet: a BIP-39 mnemonic saved to --file (mode 0600); prints the address
    /// and, once, the words to write down.
    New {
        #[command(flatten)]
        file: WalletFile,
        /// 12 or 24 words.
        #[arg(long, default_value_t = 12)]
        words: usize,
    },
    /// Print the wallet's address.
    Show {
        #[command(flatten)]
        file: WalletFile,
    },
    /// Sign a message (EIP-191, as `personal_sign`); prints the 65-byte signature in hex.
    Sign {
        #[command(flatten)]
        file: WalletFile,
        message: String,
    },
    /// Check that `signature` over `message` was made by `address`; exit 0 only if so.
    Verify {
        #[arg(long)]
        address: String,
        #[arg(long)]
        signature: String,
        message: String,
    },
}

#[derive(clap::Args)]
pub struct WalletFile {
    /// The wallet file (its mnemonic); defaults to $HOME/.mileverse/wallet.
    #[arg(long)]
    file: Option<PathBuf>,
}

impl WalletFile {
    fn path(&self) -> anyhow::Result<PathBuf> {
        if let Some(path) = &self.file {
            return Ok(path.clone());
        }
        let home = std::env::var_os("HOME").context("no --file and no $HOME")?;
        Ok(Path::new(&home).join(".mileverse").join("wallet"))
    }

    fn load(&self) -> anyhow::Result<Wallet> {
        let path = self.path()?;
        let phrase = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the wallet {}", path.display()))?;
        Ok(Wallet::from_phrase(&phrase)?)
    }
}

pub fn run(command: WalletCommand) -> anyhow::Result<ExitCode> {
    match command {
        WalletCommand::New { file, words } => {
            let path = file.path()?;
            let wallet = Wallet::generate(words)?;
            write_private(&path, wallet.phrase())?;
            println!("address: {}", wallet.address());
            println!("saved to {} (readable by you only)", path.display());
            println!("recovery words (write them down; anyone with them owns the wallet):");
            println!("{}", wallet.phrase());
        }
        WalletCommand::Show { file } => println!("{}", file.load()?.address()),
        WalletCommand::Sign { file, message } => {
            let signature = file.load()?.sign_message(message.as_bytes())?;
            println!("0x{}", hex::encode(signature));
        }
        WalletCommand::Verify {
            address,
            signature,
            message,
        } => return verify(&address, &signature, &message),
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(address: &str, signature: &str, message: &str) -> anyhow::Result<ExitCode> {
    let expected: chain::Address = address.trim().parse().context("not an address")?;
    let bytes = hex::decode(signature.trim().trim_start_matches("0x")).context("not hex")?;
    let signer = recover_message_signer(message.as_bytes(), &bytes)?;
    if signer == expected {
        println!("ok: signed by {signer}");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("bad: signed by {signer}, not {expected}");
        Ok(ExitCode::FAILURE)
    }
}

/// Creates `path` (never overwriting) readable by its owner only, and syncs it: a key or
/// mnemonic that was reported saved must survive a crash.
pub(crate) fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok(())
}
