//! Where a credential may go, and how a value holding one prints: a password for a cluster pgha
//! did not make goes only over TLS (https), unless the operator passed
//! --allow-plaintext-credentials (`rest_credentials_allowed`, `etcd_credentials_allowed`); and a
//! secret field prints `[redacted]` in `Debug` (`Redacted`). Pure.

/// The flag that lets a password cross the network unencrypted.
pub const ALLOW_PLAINTEXT_FLAG: &str = "--allow-plaintext-credentials";

/// True when `url` is encrypted in transit: https (the only TLS scheme the REST API and etcd's
/// client URLs have).
pub fn encrypted(url: &str) -> bool {
    url.trim()
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

/// May --rest-user's password go by Basic auth to `member`'s `api_url`? Over https always, over
/// plain http only with `allow`.
pub fn rest_credentials_allowed(member: &str, api_url: &str, allow: bool) -> Result<(), String> {
    if allow || encrypted(api_url) {
        return Ok(());
    }
    Err(format!(
        "member {member} advertises its REST API at {api_url}, plain http, so --rest-user's password would cross the network unencrypted; serve Patroni's REST API over https, or pass {ALLOW_PLAINTEXT_FLAG}"
    ))
}

/// May --etcd-user's password go to the etcd endpoint `url` (etcd's gRPC Authenticate carries it
/// as it is)? Over https always, over plain http only with `allow`.
pub fn etcd_credentials_allowed(url: &str, allow: bool) -> Result<(), String> {
    if allow || encrypted(url) {
        return Ok(());
    }
    Err(format!(
        "etcd endpoint {url} is plain http, so --etcd-user's password would cross the network unencrypted; give --cacert (etcd over TLS), or pass {ALLOW_PLAINTEXT_FLAG}"
    ))
}

/// What a secret field shows in `Debug`: `[redacted]`. Types that hold a password or a private
/// key write their `Debug` by hand with it.
pub struct Redacted;

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A (user, password) pair as `Debug` shows it: the user, and the password redacted.
pub fn user_redacted(auth: &Option<(String, String)>) -> Option<(&str, Redacted)> {
    auth.as_ref().map(|(u, _)| (u.as_str(), Redacted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_over_https_and_over_http_only_when_allowed() {
        assert!(rest_credentials_allowed("pg1", "https://10.0.0.1:8008/patroni", false).is_ok());
        assert!(rest_credentials_allowed("pg1", "HTTPS://h:8008", false).is_ok());
        let why =
            rest_credentials_allowed("pg1", "http://10.0.0.1:8008/patroni", false).unwrap_err();
        assert_eq!(
            why,
            "member pg1 advertises its REST API at http://10.0.0.1:8008/patroni, plain http, so --rest-user's password would cross the network unencrypted; serve Patroni's REST API over https, or pass --allow-plaintext-credentials"
        );
        assert!(rest_credentials_allowed("pg1", "http://10.0.0.1:8008/patroni", true).is_ok());
        assert!(
            rest_credentials_allowed("pg1", "10.0.0.1:8008", false).is_err(),
            "no scheme is no TLS"
        );

        assert!(etcd_credentials_allowed("https://e1:2379", false).is_ok());
        let why = etcd_credentials_allowed("http://e1:2379", false).unwrap_err();
        assert!(
            why.starts_with("etcd endpoint http://e1:2379 is plain http"),
            "{why}"
        );
        assert!(
            why.ends_with("or pass --allow-plaintext-credentials"),
            "{why}"
        );
        assert!(etcd_credentials_allowed("http://e1:2379", true).is_ok());
    }
}
