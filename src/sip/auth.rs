//! Digest authentication of our INVITEs (RFC 2617 / RFC 8760: MD5 and SHA-256, `qop=auth`) on
//! 401/407, wrapping `ezk-sip-auth` and bounding how often we try, so a wrong password ends the
//! call instead of looping on fresh nonces.

use super::message::{Request, Response};
use ezk_sip_auth::{
    ClientAuthenticator, DigestAuthenticator, DigestCredentials, DigestUser, RequestParts,
    ResponseParts,
};
use ezk_sip_types::Headers;

/// Authenticated attempts we make for one call before declaring the credentials wrong
/// (a proxy that rejects a password usually sends a fresh nonce each time).
const MAX_ATTEMPTS: u32 = 3;

/// Why we stop answering challenges; the call then ends with the 401/407.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No password configured.
    NoCredentials,
    /// The challenge cannot be answered, or our answer was refused with the same nonce.
    Refused(String),
    /// Too many challenges in a row.
    TooManyAttempts,
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthError::NoCredentials => f.write_str("no credentials configured"),
            AuthError::Refused(why) => write!(f, "credentials refused: {why}"),
            AuthError::TooManyAttempts => f.write_str("too many authentication attempts"),
        }
    }
}

/// Per-call digest state (nonce, nonce count), so retries reuse what the server handed out.
pub struct Auth {
    inner: Option<DigestAuthenticator>,
    attempts: u32,
    /// `[sip.outbound] realm`: when set, challenges of any other realm are refused, so a
    /// stranger in the path cannot harvest a digest of the trunk password.
    realm: Option<String>,
}

impl Auth {
    /// Credentials are optional: without a password every challenge fails the call.
    /// With `realm`, only challenges of that realm are answered.
    pub fn new(username: &str, password: Option<&str>, realm: Option<&str>) -> Self {
        let inner = password.map(|pw| {
            let mut creds = DigestCredentials::new();
            creds.set_default(DigestUser::new(username, pw.as_bytes().to_vec()));
            DigestAuthenticator::new(creds)
        });
        Auth {
            inner,
            attempts: 0,
            realm: realm.filter(|r| !r.is_empty()).map(str::to_owned),
        }
    }

    /// Drops the credentials and every answer held: after a redirect no Authorization
    /// header may travel to the new target, and its challenges end the call.
    pub fn forget(&mut self) {
        self.inner = None;
    }

    /// A 401/407 arrived for `request`: Ok means "send the request again, authorised".
    pub fn on_challenge(
        &mut self,
        request: &Request,
        response: &Response,
    ) -> Result<(), AuthError> {
        let Some(inner) = self.inner.as_mut() else {
            return Err(AuthError::NoCredentials);
        };
        if let Some(want) = &self.realm {
            let realms = challenge_realms(response);
            if realms.is_empty() || realms.iter().any(|r| r != want) {
                return Err(AuthError::Refused(format!(
                    "challenge for realm {realms:?}, only {want:?} is answered"
                )));
            }
        }
        if self.attempts >= MAX_ATTEMPTS {
            return Err(AuthError::TooManyAttempts);
        }
        self.attempts += 1;
        inner
            .handle_rejection(
                RequestParts {
                    line: &request.line,
                    headers: &request.headers,
                    body: &request.body,
                },
                ResponseParts {
                    line: &response.line,
                    headers: &response.headers,
                    body: &response.body,
                },
            )
            .map_err(|e| AuthError::Refused(e.to_string()))
    }

    /// Add Authorization / Proxy-Authorization for the answers we hold (none before a challenge).
    pub fn authorize(&mut self, headers: &mut Headers) {
        if let Some(inner) = self.inner.as_mut() {
            inner.authorize_request(headers);
        }
    }
}

/// The `realm` parameters of every WWW-Authenticate and Proxy-Authenticate header of a
/// challenge (a quoted string; a malformed one yields nothing, which refuses it).
pub fn challenge_realms(response: &Response) -> Vec<String> {
    let mut out = Vec::new();
    for name in [
        ezk_sip_types::Name::WWW_AUTHENTICATE,
        ezk_sip_types::Name::PROXY_AUTHENTICATE,
    ] {
        for value in response.headers.get_raw(&name) {
            out.extend(realm_of(value));
        }
    }
    out
}

/// The realm of one challenge header value, e.g. `Digest realm="x", nonce="y"`.
fn realm_of(value: &str) -> Option<String> {
    let lower = value.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower.get(from..)?.find("realm") {
        let start = from + at;
        from = start + 5;
        // A whole parameter name: preceded by a space, a comma or the scheme's end.
        let before = lower[..start].chars().next_back();
        if !matches!(before, Some(' ' | ',' | '\t')) {
            continue;
        }
        let rest = value.get(from..)?.trim_start();
        let Some(rest) = rest.strip_prefix('=') else {
            continue;
        };
        let rest = rest.trim_start().strip_prefix('"')?;
        let end = rest.find('"')?;
        return Some(rest[..end].to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::realm_of;

    #[test]
    fn realm_is_read_from_challenges() {
        assert_eq!(
            realm_of("Digest realm=\"sip.test\", nonce=\"n\"").as_deref(),
            Some("sip.test")
        );
        assert_eq!(
            realm_of("Digest nonce=\"realm=x\", realm = \"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(realm_of("Digest nonce=\"n\""), None);
        assert_eq!(realm_of("Digest realm=\"unterminated"), None);
        assert_eq!(realm_of("Digest xrealm=\"x\""), None);
    }
}
