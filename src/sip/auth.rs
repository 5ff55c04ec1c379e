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
}

impl Auth {
    /// Credentials are optional: without a password every challenge fails the call.
    pub fn new(username: &str, password: Option<&str>) -> Self {
        let inner = password.map(|pw| {
            let mut creds = DigestCredentials::new();
            creds.set_default(DigestUser::new(username, pw.as_bytes().to_vec()));
            DigestAuthenticator::new(creds)
        });
        Auth { inner, attempts: 0 }
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
