//! `mileverse wallet`: the real binary makes a wallet file only its owner can read, refuses
//! to overwrite it, and signs messages whose signatures `wallet verify` (and the chain
//! crate) tie to the wallet's address and to nothing else.

use std::process::{Command, Output};

fn mileverse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mileverse"))
        .args(args)
        .output()
        .expect("run mileverse")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_wallet_is_made_kept_private_and_signs() {
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("keys/wallet");
    let file = file.to_str().unwrap();
    let made = mileverse(&["wallet", "new", "--file", file, "--words", "24"]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let text = stdout(&made);
    let address = text
        .lines()
        .next()
        .unwrap()
        .strip_prefix("address: ")
        .unwrap()
        .to_string();
    let phrase = std::fs::read_to_string(file).unwrap();
    assert_eq!(phrase.split_whitespace().count(), 24);
    assert!(
        text.contains(phrase.trim()),
        "the words are shown once for the backup"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let again = mileverse(&["wallet", "new", "--file", file]);
    assert!(
        !again.status.success(),
        "an existing wallet is never overwritten"
    );
    assert_eq!(std::fs::read_to_string(file).unwrap(), phrase);

    let shown = mileverse(&["wallet", "show", "--file", file]);
    assert_eq!(stdout(&shown).trim(), address);
    let signed = mileverse(&["wallet", "sign", "--file", file, "link my wallet"]);
    let signature = stdout(&signed).trim().to_string();
    assert_eq!(signature.len(), 2 + 130);

    let good = mileverse(&[
        "wallet",
        "verify",
        "--address",
        &address,
        "--signature",
        &signature,
        "link my wallet",
    ]);
    assert!(good.status.success(), "{}", stdout(&good));
    let other_message = mileverse(&[
        "wallet",
        "verify",
        "--address",
        &address,
        "--signature",
        &signature,
        "link my walle7",
    ]);
    assert!(!other_message.status.success());
    let recovered = chain::wallet::recover_message_signer(
        b"link my wallet",
        &hex::decode(signature.trim_start_matches("0x")).unwrap(),
    )
    .unwrap();
    assert_eq!(recovered.to_string(), address);
}
