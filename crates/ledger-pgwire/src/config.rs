//! Connection settings from a `postgres://` URL.

use std::net::{IpAddr, SocketAddr};

use percent_encoding::percent_decode_str;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    /// Try TLS, fall back to plain TCP when the server offers none (libpq's default).
    Prefer,
    /// `require` and the `verify-*` modes.
    Require,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub database: String,
    pub ssl_mode: SslMode,
    pub application_name: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("database", &self.database)
            .field("ssl_mode", &self.ssl_mode)
            .finish()
    }
}

impl Config {
    /// Parses `postgres[ql]://[user[:password]@]host[:port][/database][?sslmode=…&…]`.
    pub fn from_url(url: &str) -> Result<Config, String> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or("the database URL must start with postgres://")?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hostport) = authority.rsplit_once('@').unwrap_or(("", authority));
        let (user, password) = match userinfo.split_once(':') {
            Some((u, p)) => (decode(u)?, Some(decode(p)?)),
            None => (decode(userinfo)?, None),
        };
        let (host, port) = split_host_port(hostport)?;
        let mut config = Config {
            host: decode(host)?,
            port: port.unwrap_or(5432),
            user,
            password,
            database: decode(database)?,
            ssl_mode: SslMode::Prefer,
            application_name: "promptledger".into(),
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value)?;
            match key {
                "sslmode" => {
                    config.ssl_mode = match value.as_str() {
                        "disable" => SslMode::Disable,
                        "allow" | "prefer" => SslMode::Prefer,
                        _ => SslMode::Require,
                    }
                }
                "user" => config.user = value,
                "password" => config.password = Some(value),
                "dbname" => config.database = value,
                "host" => config.host = value,
                "port" => config.port = value.parse().map_err(|_| format!("invalid port `{value}`"))?,
                "application_name" => config.application_name = value,
                _ => {}
            }
        }
        if config.user.is_empty() {
            config.user = "postgres".into();
        }
        if config.database.is_empty() {
            config.database = config.user.clone();
        }
        Ok(config)
    }

    /// The server's address when the host is an IP address; a name needs a
    /// resolver, which sandboxed runtimes may not grant.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        let ip: IpAddr = self.host.parse().ok()?;
        Some(SocketAddr::new(ip, self.port))
    }
}

fn split_host_port(hostport: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or("unclosed [ in the database host")?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    let port = port.map(|p| p.parse().map_err(|_| format!("invalid port `{p}`"))).transpose()?;
    Ok((host, port))
}

fn decode(s: &str) -> Result<String, String> {
    percent_decode_str(s).decode_utf8().map(|s| s.into_owned()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_part_of_a_url() {
        let c =
            Config::from_url("postgres://app:p%40ss@10.0.0.5:6543/ledger?sslmode=disable&application_name=x").unwrap();
        assert_eq!((c.host.as_str(), c.port, c.user.as_str()), ("10.0.0.5", 6543, "app"));
        assert_eq!(c.password.as_deref(), Some("p@ss"));
        assert_eq!((c.database.as_str(), c.ssl_mode, c.application_name.as_str()), ("ledger", SslMode::Disable, "x"));
        assert_eq!(c.socket_addr(), Some("10.0.0.5:6543".parse().unwrap()));
    }

    #[test]
    fn defaults_follow_libpq() {
        let c = Config::from_url("postgresql://db.internal").unwrap();
        assert_eq!((c.port, c.user.as_str(), c.database.as_str()), (5432, "postgres", "postgres"));
        assert_eq!(c.ssl_mode, SslMode::Prefer);
        assert_eq!(c.socket_addr(), None, "a host name needs a resolver");
        let v6 = Config::from_url("postgres://u@[fd12::1]:5433/d?sslmode=require").unwrap();
        assert_eq!(v6.socket_addr(), Some("[fd12::1]:5433".parse().unwrap()));
        assert_eq!(v6.ssl_mode, SslMode::Require);
    }

    #[test]
    fn rejects_other_schemes_and_hides_the_password() {
        assert!(Config::from_url("mysql://x").is_err());
        let c = Config::from_url("postgres://u:secret@127.0.0.1/d").unwrap();
        assert!(!format!("{c:?}").contains("secret"));
    }
}
