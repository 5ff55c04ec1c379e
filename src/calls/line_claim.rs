//! One call per sound-device line: which lines are in use and by which call.
//!
//! Compiled in every build (it is a map and a guard) so the API can tell a line call
//! from a SIP call — touch tones are refused for the former — without feature gates
//! spread through the call side; only a build with the `alsa` feature ever claims one.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Lines in use: line name → the call carrying it. One call per line.
pub type BusyLines = Rc<RefCell<HashMap<String, String>>>;

/// Holds a line for a call; dropping it (the call's end, or its task dying) frees it.
pub struct LineClaim {
    busy: BusyLines,
    line: String,
}

impl LineClaim {
    /// Claims `line` for call `id`, or says which call already has it.
    pub fn claim(busy: &BusyLines, line: &str, id: &str) -> Result<LineClaim, String> {
        let mut map = busy.borrow_mut();
        if let Some(holder) = map.get(line) {
            return Err(holder.clone());
        }
        map.insert(line.to_string(), id.to_string());
        Ok(LineClaim {
            busy: busy.clone(),
            line: line.to_string(),
        })
    }
}

impl Drop for LineClaim {
    fn drop(&mut self) {
        self.busy.borrow_mut().remove(&self.line);
    }
}

/// True when call `id` carries one of the lines.
pub fn is_line_call(busy: &BusyLines, id: &str) -> bool {
    busy.borrow().values().any(|holder| holder == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_call_per_line_until_the_claim_is_dropped() {
        let busy = BusyLines::default();
        let claim = LineClaim::claim(&busy, "intercom", "c1").unwrap();
        assert_eq!(
            LineClaim::claim(&busy, "intercom", "c2").err(),
            Some("c1".into())
        );
        assert!(LineClaim::claim(&busy, "pa", "c2").is_ok_and(|c| is_line_call(&c.busy, "c2")));
        assert!(is_line_call(&busy, "c1") && !is_line_call(&busy, "c2"));
        drop(claim);
        assert!(!is_line_call(&busy, "c1"));
        assert!(LineClaim::claim(&busy, "intercom", "c3").is_ok());
    }
}
