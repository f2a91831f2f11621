//! The PostgreSQL adapter: the only module that speaks tokio-postgres. Short-lived connections
//! with a connect timeout; answers come back as plain Rust values. With a CA, the connection
//! requires TLS and checks the server's certificate and name (libpq's `verify-full`).

use crate::secrets::exposure::Redacted;
use anyhow::{Context, Result};
use std::time::Duration;
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Config, NoTls, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

/// Where and as whom to connect; `Debug` shows no password.
#[derive(Clone)]
pub struct PgTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub dbname: String,
    /// The CA (and optionally a client certificate): TLS, verify-full.
    pub tls: Option<crate::tls::ClientTls>,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &Redacted)
            .field("dbname", &self.dbname)
            .field("tls", &self.tls)
            .finish()
    }
}

impl PgTarget {
    /// `postgresql://user@host:port/db`, without the password; with TLS, libpq's
    /// `sslmode=verify-full` and `sslrootcert` (the CA's path) too.
    pub fn url(&self, ca_path: Option<&std::path::Path>) -> String {
        let base = format!(
            "postgresql://{}@{}:{}/{}",
            self.user, self.host, self.port, self.dbname
        );
        match ca_path.filter(|_| self.tls.is_some()) {
            Some(p) => format!("{base}?sslmode=verify-full&sslrootcert={}", p.display()),
            None => base,
        }
    }
}

/// Connects with `tls` (bounded by `limit`) and drives the connection in the background.
async fn connect_with<T>(
    cfg: &Config,
    tls: T,
    limit: Duration,
    what: &str,
    how: &str,
) -> Result<Client>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let (client, conn) = tokio::time::timeout(limit, cfg.connect(tls))
        .await
        .with_context(|| format!("connect to PostgreSQL at {what}: timed out"))?
        .with_context(|| format!("connect to PostgreSQL at {what}{how}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

pub struct Pg {
    client: Client,
    what: String,
}

impl Pg {
    pub async fn connect(t: &PgTarget, timeout: Duration) -> Result<Pg> {
        let mut cfg = Config::new();
        cfg.host(&t.host)
            .port(t.port)
            .user(&t.user)
            .password(&t.password)
            .dbname(&t.dbname)
            .application_name("pgha")
            .connect_timeout(timeout);
        let what = format!("{}:{}", t.host, t.port);
        let limit = timeout + Duration::from_secs(1);
        let client = match &t.tls {
            None => connect_with(&cfg, NoTls, limit, &what, "").await?,
            Some(tls) => {
                cfg.ssl_mode(SslMode::Require);
                let make = MakeRustlsConnect::new(super::tls::client_config(tls)?);
                connect_with(&cfg, make, limit, &what, " (TLS)").await?
            }
        };
        Ok(Pg { client, what })
    }

    pub async fn is_in_recovery(&self) -> Result<bool> {
        let row = self
            .client
            .query_one("select pg_is_in_recovery()", &[])
            .await
            .with_context(|| format!("pg_is_in_recovery() on {}", self.what))?;
        Ok(row.get(0))
    }

    /// Runs statements (no result rows wanted).
    pub async fn batch(&self, sql: &str) -> Result<()> {
        self.client
            .batch_execute(sql)
            .await
            .with_context(|| format!("run SQL on {}", self.what))
    }

    /// First column of the first row, as text (`NULL` → None).
    pub async fn query_text(&self, sql: &str) -> Result<Option<String>> {
        let row = self
            .client
            .query_one(sql, &[])
            .await
            .with_context(|| format!("query on {}", self.what))?;
        Ok(row.get(0))
    }

    /// Every column of the first row, as f64 (`float8` columns; `NULL` → None).
    pub async fn row_f64s(&self, sql: &str) -> Result<Vec<Option<f64>>> {
        let row = self
            .client
            .query_one(sql, &[])
            .await
            .with_context(|| format!("query on {}", self.what))?;
        Ok((0..row.len())
            .map(|i| row.get::<_, Option<f64>>(i))
            .collect())
    }

    /// First column of every row, as i64.
    pub async fn query_i64s(&self, sql: &str) -> Result<Vec<i64>> {
        let rows = self
            .client
            .query(sql, &[])
            .await
            .with_context(|| format!("query on {}", self.what))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Inserts one row with a parameter and returns the first column of the answer.
    pub async fn insert_returning(&self, sql: &str, value: i64) -> Result<i64> {
        let row = self
            .client
            .query_one(sql, &[&value])
            .await
            .with_context(|| format!("insert on {}", self.what))?;
        Ok(row.get(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_with_tls_names_verify_full_and_the_ca() {
        let mut t = PgTarget {
            host: "127.0.0.1".into(),
            port: 5432,
            user: "postgres".into(),
            password: "secret".into(),
            dbname: "postgres".into(),
            tls: None,
        };
        let ca = std::path::Path::new("/s/tls/ca.crt");
        assert_eq!(
            t.url(Some(ca)),
            "postgresql://postgres@127.0.0.1:5432/postgres"
        );
        t.tls = Some(crate::tls::ClientTls::default());
        assert_eq!(
            t.url(Some(ca)),
            "postgresql://postgres@127.0.0.1:5432/postgres?sslmode=verify-full&sslrootcert=/s/tls/ca.crt"
        );
        assert!(!t.url(None).contains("secret"));
    }

    #[test]
    fn debug_shows_no_password_or_key() {
        let t = PgTarget {
            host: "127.0.0.1".into(),
            port: 5432,
            user: "postgres".into(),
            password: "pw-secret".into(),
            dbname: "postgres".into(),
            tls: Some(crate::tls::ClientTls {
                ca: Some("CA-PEM".into()),
                identity: Some(("CRT-PEM".into(), "KEY-PEM".into())),
            }),
        };
        let shown = format!("{t:?}");
        assert!(
            !shown.contains("pw-secret") && !shown.contains("KEY-PEM"),
            "{shown}"
        );
        assert!(shown.contains("password: [redacted]"), "{shown}");
        assert!(
            shown.contains("user: \"postgres\"") && shown.contains("CRT-PEM"),
            "{shown}"
        );
    }
}
