//! Time-based one-time codes (RFC 6238) with HMAC-SHA256, a 30 s step, 8 digits and T0 = 0:
//! the last 8 digits of a pay code. Pure functions: the time is an argument, so the app, the
//! server and the tests compute the same code from the same secret and second.

use hmac::{Hmac, Mac};
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
    let digest = mac.finalize().into_bytes();
    // Dynamic truncation (RFC 4226 §5.3): the low nibble of the last byte picks 4 bytes.
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let word = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    word % MODULUS
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
