//! The witness's two local files: the state (round trip, atomic replacement, refusal of a
//! file it did not write) and the key (only its owner may read it).

use std::fs;
use std::path::Path;

use ports::chain::AnchorCheckpoint;
use witness::node::default_state_file;
use witness::{WitnessError, WitnessState};

const KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

#[test]
fn the_state_file_round_trips() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("witness.state.json");
    assert_eq!(WitnessState::load(&path).unwrap(), None, "no file yet");
    let states = [
        WitnessState::default(),
        WitnessState {
            operator_public_key: Some([5; 32]),
            last_cosigned: None,
        },
        WitnessState {
            operator_public_key: Some([5; 32]),
            last_cosigned: Some(AnchorCheckpoint {
                height: 12,
                tree_size: 340,
                root: [0xcd; 32],
            }),
        },
    ];
    for state in states {
        state.save(&path).unwrap();
        assert_eq!(WitnessState::load(&path).unwrap(), Some(state));
        let names: Vec<String> = fs::read_dir(directory.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["witness.state.json"], "no temporary file is left");
    }
    let text = fs::read_to_string(&path).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["version"], 1);
    assert_eq!(json["last_cosigned"]["height"], 12);
    assert_eq!(json["last_cosigned"]["root"], "cd".repeat(32));
}

#[test]
fn a_state_file_it_did_not_write_is_refused() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("state.json");
    let cases = [
        ("not json", "{".to_string()),
        ("another version", r#"{"version": 2}"#.to_string()),
        (
            "a short root",
            r#"{"version": 1, "operator_public_key": null,
                "last_cosigned": {"height": 1, "tree_size": 2, "root": "abcd"}}"#
                .to_string(),
        ),
        (
            "a bad key",
            r#"{"version": 1, "operator_public_key": "zz", "last_cosigned": null}"#.to_string(),
        ),
        (
            "too large",
            format!("{{\"pad\": \"{}\"}}", "x".repeat(70_000)),
        ),
    ];
    for (name, text) in cases {
        fs::write(&path, text).unwrap();
        let error = WitnessState::load(&path).unwrap_err();
        assert!(
            matches!(error, WitnessError::State { .. }),
            "{name}: {error}"
        );
    }
}

fn write_key(path: &Path, text: &str, mode: u32) {
    fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = mode;
}

#[test]
fn the_key_file_must_be_private_and_hold_a_key() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("witness.key");
    let expected = chain::signer(KEY).unwrap().address();

    write_key(&path, &format!("{KEY}\n"), 0o600);
    let signer = witness::keyfile::load_key(&path).unwrap();
    assert_eq!(signer.address(), expected);
    write_key(&path, KEY.trim_start_matches("0x"), 0o400);
    assert_eq!(
        witness::keyfile::load_key(&path).unwrap().address(),
        expected
    );

    #[cfg(unix)]
    for mode in [0o644, 0o640, 0o604, 0o660] {
        write_key(&path, KEY, mode);
        let error = witness::keyfile::load_key(&path).unwrap_err();
        assert!(
            error.to_string().contains("chmod 600"),
            "mode {mode:o}: {error}"
        );
    }

    write_key(&path, "not a key", 0o600);
    let error = witness::keyfile::load_key(&path).unwrap_err();
    assert!(matches!(error, WitnessError::Key { .. }), "{error}");
    write_key(&path, &KEY.replace('5', "g"), 0o600);
    let error = witness::keyfile::load_key(&path).unwrap_err().to_string();
    assert!(!error.contains("9e98"), "the key is never quoted: {error}");
    let error = witness::keyfile::load_key(&directory.path().join("missing")).unwrap_err();
    assert!(matches!(error, WitnessError::Key { .. }), "{error}");
}

#[test]
fn the_state_file_defaults_to_beside_the_key() {
    assert_eq!(
        default_state_file(Path::new("/etc/witness/key.hex")),
        Path::new("/etc/witness/key.hex.state.json")
    );
}
