//! `registrations.json` in `[calls] state_dir`: the registrar's bindings, so the devices
//! registered to the box stay reachable across a restart (a SIM gateway re-registers
//! only every hour or so). Written whole, through a temporary file and a rename, after a
//! REGISTER changed them; read once at start. A missing or unreadable file means no
//! bindings (logged), never a refusal to start.

use super::registrar::Contact;
use std::collections::HashMap;
use std::path::Path;

/// The file's name inside the state directory.
pub const FILE_NAME: &str = "registrations.json";

/// Bindings saved by an earlier run; empty when there are none or the file is unusable.
pub fn load(path: &Path) -> HashMap<String, Vec<Contact>> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return HashMap::new(),
        Err(e) => {
            log::warn!(
                "registrar: cannot read {}: {e}; no bindings restored",
                path.display()
            );
            return HashMap::new();
        }
    };
    match serde_json::from_slice(&text) {
        Ok(b) => b,
        Err(e) => {
            log::warn!(
                "registrar: {} is not valid ({e}); no bindings restored",
                path.display()
            );
            HashMap::new()
        }
    }
}

/// Saves `bindings`, replacing the file atomically; a failure is logged (the bindings
/// still work until the next restart).
pub fn save(path: &Path, bindings: &HashMap<String, Vec<Contact>>) {
    let tmp = path.with_extension("json.tmp");
    let result = serde_json::to_vec_pretty(bindings)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&tmp, bytes))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        log::warn!("registrar: cannot save {}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_survive_a_save_and_a_load_and_garbage_loads_as_none() {
        let dir = std::env::temp_dir().join(format!("sipgw-bindings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(FILE_NAME);
        let mut b = HashMap::new();
        b.insert(
            "2001".to_string(),
            vec![Contact {
                uri: "sip:2001@10.0.0.7:5062".into(),
                expires_at: 1_900_000_000,
                call_id: "abc".into(),
                cseq: 7,
                source: Some("10.0.0.7:5062".parse().unwrap()),
            }],
        );
        save(&path, &b);
        assert_eq!(load(&path), b);
        std::fs::write(&path, b"{not json").unwrap();
        assert!(load(&path).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(load(&path).is_empty());
    }
}
