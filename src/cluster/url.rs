//! `--redis URL`: where the cluster's Redis is, and how to log in.
//!
//! `redis://[[user]:password@]host[:port][/db]`, the form every Redis client
//! takes. Pure: a string in, a [`RedisUrl`] or a one-line error out.
//!
//! The host is resolved once, when the server starts (`std::net` name
//! lookups block, and the loop must never wait): a Redis that moves to
//! another address needs a restart of the node, or an IP address here.

use std::net::{SocketAddr, ToSocketAddrs};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisUrl {
    pub host: String,
    pub port: u16,
    /// `AUTH [user] password` after connecting (Redis 6 ACL users, or the
    /// classic `requirepass`).
    pub user: Option<String>,
    pub password: Option<String>,
    /// `SELECT db` (pub/sub ignores it; keys and streams honour it).
    pub db: u32,
}

impl RedisUrl {
    pub fn parse(url: &str) -> Result<RedisUrl, String> {
        let rest = url
            .strip_prefix("redis://")
            .ok_or_else(|| format!("--redis {url}: must start with redis://"))?;
        let (authority, path) = match rest.split_once('/') {
            Some((a, p)) => (a, p),
            None => (rest, ""),
        };
        let (login, hostport) = match authority.rsplit_once('@') {
            Some((l, h)) => (Some(l), h),
            None => (None, authority),
        };
        let (user, password) = match login {
            None => (None, None),
            Some(l) => match l.split_once(':') {
                Some((u, p)) => ((!u.is_empty()).then(|| u.to_string()), Some(p.to_string())),
                None => (Some(l.to_string()), None),
            },
        };
        // [::1]:6379, host:6379, host
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("--redis {url}: unclosed [ in the host"))?;
            let port = after.strip_prefix(':').unwrap_or("");
            (h, port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, p),
                None => (hostport, ""),
            }
        };
        if host.is_empty() {
            return Err(format!("--redis {url}: no host"));
        }
        let port = if port.is_empty() {
            6379
        } else {
            port.parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| format!("--redis {url}: bad port {port:?}"))?
        };
        let db = if path.is_empty() {
            0
        } else {
            path.parse::<u32>()
                .map_err(|_| format!("--redis {url}: the path must be a database number"))?
        };
        Ok(RedisUrl {
            host: host.to_string(),
            port,
            user,
            password,
            db,
        })
    }

    /// The address to connect to: resolved once, at start-up.
    pub fn resolve(&self) -> Result<SocketAddr, String> {
        let name = (self.host.as_str(), self.port);
        let mut addrs = name
            .to_socket_addrs()
            .map_err(|e| format!("--redis: cannot resolve {}: {e}", self.host))?;
        addrs
            .next()
            .ok_or_else(|| format!("--redis: {} has no address", self.host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_of_a_redis_url() {
        let u = RedisUrl::parse("redis://127.0.0.1:6380").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.db), ("127.0.0.1", 6380, 0));
        assert_eq!((u.user, u.password), (None, None));
        let u = RedisUrl::parse("redis://:s3cret@localhost/2").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.db), ("localhost", 6379, 2));
        assert_eq!(u.password.as_deref(), Some("s3cret"));
        assert_eq!(u.user, None);
        let u = RedisUrl::parse("redis://app:pw@[::1]:7000/1").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.db), ("::1", 7000, 1));
        assert_eq!(u.user.as_deref(), Some("app"));
        assert_eq!(u.password.as_deref(), Some("pw"));
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        for bad in [
            "http://x",
            "redis://",
            "redis://h:0",
            "redis://h:99999",
            "redis://h:x",
            "redis://h/x",
            "redis://[::1",
        ] {
            let e = RedisUrl::parse(bad).unwrap_err();
            assert!(e.starts_with("--redis"), "{bad}: {e}");
        }
    }

    #[test]
    fn loopback_resolves() {
        let u = RedisUrl::parse("redis://127.0.0.1:6379").unwrap();
        assert_eq!(u.resolve().unwrap().port(), 6379);
    }
}
