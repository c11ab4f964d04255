//! Time-based one-time codes (RFC 6238) with a 30 s step and T0 = 0: with HMAC-SHA256 and
//! 8 digits, the last 8 digits of a pay code; with HMAC-SHA1 and 6 digits, what an
//! authenticator app shows (operators' second factor). Pure functions: the time is an
//! argument, so the app, the server and the tests compute the same code from the same secret
//! and second.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Length of one time step (RFC 6238's X).
pub const STEP_S: u64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 8;
const MODULUS: u32 = 100_000_000;

/// The time step holding `unix_s` (RFC 6238's T with T0 = 0).
pub fn step_of(unix_s: u64) -> u64 {
    unix_s / STEP_S
}

/// The first second after `step`.
pub fn step_end_s(step: u64) -> u64 {
    step.saturating_add(1).saturating_mul(STEP_S)
}

/// The 8-digit code of the step holding `unix_s`.
pub fn totp(secret: &[u8], unix_s: u64) -> u32 {
    totp_at_step(secret, step_of(unix_s))
}

/// The 8-digit code of a step: HOTP (RFC 4226) of the step counter with HMAC-SHA256.
pub fn totp_at_step(secret: &[u8], step: u64) -> u32 {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&step.to_be_bytes());
    truncate(&mac.finalize().into_bytes()) % MODULUS
}

/// Digits of an authenticator app's code (operators' second factor).
pub const AUTHENTICATOR_DIGITS: u32 = 6;
const AUTHENTICATOR_MODULUS: u32 = 1_000_000;

/// The 6-digit code an authenticator app shows for `step`: HOTP of the step counter with
/// HMAC-SHA1, RFC 6238's default and the one every authenticator app implements.
pub fn authenticator_code_at_step(secret: &[u8], step: u64) -> u32 {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&step.to_be_bytes());
    truncate(&mac.finalize().into_bytes()) % AUTHENTICATOR_MODULUS
}

/// The code as 6 digits with leading zeros.
pub fn format_authenticator_code(code: u32) -> String {
    format!(
        "{:0width$}",
        code % AUTHENTICATOR_MODULUS,
        width = AUTHENTICATOR_DIGITS as usize
    )
}

/// Dynamic truncation (RFC 4226 §5.3): the low nibble of the last byte picks 4 bytes.
fn truncate(digest: &[u8]) -> u32 {
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ])
}

/// The code as 8 digits with leading zeros.
pub fn format_code(code: u32) -> String {
    format!("{:0width$}", code % MODULUS, width = DIGITS as usize)
}

/// Base32 (RFC 4648 §6) without padding: the form authenticator apps take a secret in.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut text = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits: u32 = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            text.push(char::from(ALPHABET[((buffer >> bits) & 0x1f) as usize]));
        }
    }
    if bits > 0 {
        text.push(char::from(
            ALPHABET[((buffer << (5 - bits)) & 0x1f) as usize],
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authenticator_codes_match_rfc_6238_sha1_vectors() {
        // RFC 6238 Appendix B, SHA1 column (8 digits there; an app shows the last 6).
        let secret = b"12345678901234567890";
        let vectors: [(u64, &str); 6] = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (unix_s, eight) in vectors {
            let code = authenticator_code_at_step(secret, step_of(unix_s));
            assert_eq!(format_authenticator_code(code), eight[2..], "T = {unix_s}");
        }
    }

    #[test]
    fn base32_matches_rfc_4648_vectors_without_padding() {
        let vectors: [(&str, &str); 7] = [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ];
        for (input, expected) in vectors {
            assert_eq!(base32(input.as_bytes()), expected, "base32({input:?})");
        }
    }

    #[test]
    fn steps_are_30_seconds_from_the_epoch() {
        assert_eq!(step_of(0), 0);
        assert_eq!(step_of(29), 0);
        assert_eq!(step_of(30), 1);
        assert_eq!(step_end_s(0), 30);
        assert_eq!(step_end_s(u64::MAX), u64::MAX, "no overflow");
        assert_eq!(format_code(123), "00000123");
    }
}
