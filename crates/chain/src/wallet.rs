//! A member's Ethereum wallet, made and kept on the device (TT-1): a BIP-39 mnemonic, the
//! first account of the standard Ethereum path (`m/44'/60'/0'/0/0`, what MetaMask and
//! most wallets derive), and EIP-191 message signatures (`personal_sign`), with which a
//! member proves to the platform that an address is theirs. Nothing here talks to a
//! server: the mnemonic never leaves the device.

use alloy::primitives::{Address, Signature};
use alloy::signers::SignerSync;
use alloy::signers::local::coins_bip39::{English, Mnemonic};
use alloy::signers::local::{MnemonicBuilder, PrivateKeySigner};

use crate::Error;

/// The word counts BIP-39 allows that we offer: 12 (128 bits) or 24 (256 bits).
pub const WORD_COUNTS: [usize; 2] = [12, 24];

/// A wallet: its mnemonic phrase and the signer of its first account.
pub struct Wallet {
    phrase: String,
    signer: PrivateKeySigner,
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the phrase or the key.
        write!(formatter, "Wallet({})", self.signer.address())
    }
}

impl Wallet {
    /// A new wallet from fresh randomness (the operating system's generator).
    pub fn generate(word_count: usize) -> Result<Wallet, Error> {
        if !WORD_COUNTS.contains(&word_count) {
            return Err(Error::Key(format!(
                "a mnemonic has 12 or 24 words, not {word_count}"
            )));
        }
        let mnemonic = Mnemonic::<English>::new_with_count(&mut rand::rngs::OsRng, word_count)
            .map_err(|error| Error::Key(error.to_string()))?;
        Wallet::from_phrase(&mnemonic.to_phrase())
    }

    /// The wallet of an existing phrase (whitespace between words is normalized).
    pub fn from_phrase(phrase: &str) -> Result<Wallet, Error> {
        let phrase = phrase.split_whitespace().collect::<Vec<_>>().join(" ");
        let signer = MnemonicBuilder::<English>::default()
            .phrase(phrase.as_str())
            .index(0)
            .and_then(|builder| builder.build())
            .map_err(|error| Error::Key(error.to_string()))?;
        Ok(Wallet { phrase, signer })
    }

    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The phrase, for the member to write down once. Handle with care.
    pub fn phrase(&self) -> &str {
        &self.phrase
    }

    /// The first account's key, to send transactions from the wallet (claims). Handle with
    /// care.
    pub fn signer(&self) -> &PrivateKeySigner {
        &self.signer
    }

    /// An EIP-191 signature of `message` (65 bytes: r, s, v as 27 or 28).
    pub fn sign_message(&self, message: &[u8]) -> Result<[u8; 65], Error> {
        let signature = self.signer.sign_message_sync(message)?;
        Ok(signature.as_bytes())
    }
}

/// The address that signed `message` with EIP-191, from a 65-byte signature.
pub fn recover_message_signer(message: &[u8], signature: &[u8]) -> Result<Address, Error> {
    let signature =
        Signature::from_raw(signature).map_err(|error| Error::Signature(error.to_string()))?;
    signature
        .recover_address_from_msg(message)
        .map_err(|error| Error::Signature(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The well-known development mnemonic and its first account (Hardhat, anvil).
    const TEST_PHRASE: &str = "test test test test test test test test test test test junk";
    const TEST_ADDRESS: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

    #[test]
    fn the_standard_path_gives_the_well_known_address() {
        let wallet = Wallet::from_phrase(TEST_PHRASE).unwrap();
        assert_eq!(wallet.address().to_checksum(None), TEST_ADDRESS);
        let spaced =
            Wallet::from_phrase(&format!("  {}  ", TEST_PHRASE.replace(' ', "   "))).unwrap();
        assert_eq!(spaced.address(), wallet.address());
    }

    #[test]
    fn new_wallets_are_random_and_valid() {
        for words in WORD_COUNTS {
            let a = Wallet::generate(words).unwrap();
            let b = Wallet::generate(words).unwrap();
            assert_eq!(a.phrase().split(' ').count(), words);
            assert_ne!(a.address(), b.address());
            let again = Wallet::from_phrase(a.phrase()).unwrap();
            assert_eq!(again.address(), a.address());
        }
        assert!(Wallet::generate(13).is_err());
        assert!(Wallet::from_phrase("not a valid mnemonic phrase at all").is_err());
        // A wrong checksum word.
        assert!(Wallet::from_phrase(&TEST_PHRASE.replace("junk", "test")).is_err());
    }

    #[test]
    fn signatures_recover_to_the_signer_only_for_their_message() {
        let wallet = Wallet::from_phrase(TEST_PHRASE).unwrap();
        let signature = wallet.sign_message(b"mileverse: link 0xf39f").unwrap();
        assert!(signature[64] == 27 || signature[64] == 28);
        let signer = recover_message_signer(b"mileverse: link 0xf39f", &signature).unwrap();
        assert_eq!(signer, wallet.address());
        let other = recover_message_signer(b"mileverse: link 0xf39e", &signature).unwrap();
        assert_ne!(other, wallet.address());
        assert!(recover_message_signer(b"x", &signature[..64]).is_err());
        assert!(
            format!("{wallet:?}").contains("0x"),
            "Debug shows the address only"
        );
        assert!(!format!("{wallet:?}").contains("junk"));
    }
}
