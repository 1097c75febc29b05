//! `swarm-hub access`: who may connect to the bus and as what. An inventory
//! of users (`users.json`) is the source; from it the command writes
//! `auth.conf`, the `authorization` block that `nats.conf` includes, with
//! one entry per user and the role's permissions (`swarm_common::roles`).
//! Passwords are generated, stored as bcrypt hashes, and handed over in a
//! file; certificates (for `verify_and_map`) come from a CA this command
//! makes. Every file is created 0600 in a 0700 directory.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use serde::{Deserialize, Serialize};
use swarm_common::AgentId;
use swarm_common::protocol::Millis;
use swarm_common::roles::{self, Role};
use swarm_common::time::now_ms;

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a user inventory this version reads: {reason}")]
    Inventory { path: PathBuf, reason: String },
    #[error("{0}")]
    Refused(String),
    #[error("cannot hash the password: {0}")]
    Hash(#[from] bcrypt::BcryptError),
    #[error("cannot make a certificate: {0}")]
    Cert(#[from] rcgen::Error),
}

pub type Result<T> = std::result::Result<T, AccessError>;

/// bcrypt cost: what `nats-server`'s own `mkpasswd` uses.
const BCRYPT_COST: u32 = 11;
const PASSWORD_LEN: usize = 32;
/// Certificates made here are for a deployment to try TLS with.
const CERT_DAYS: i64 = 825;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserEntry {
    pub name: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// bcrypt hash; absent for a user known by its certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    pub created: Millis,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Inventory {
    users: Vec<UserEntry>,
}

/// What `add` hands over to the operator.
#[derive(Debug, Clone, PartialEq)]
pub enum Secret {
    PasswordFile(PathBuf),
    Certificate { cert: PathBuf, key: PathBuf },
}

/// One access directory: `users.json`, `auth.conf`, `secrets/`, `tls/`.
pub struct Access {
    dir: PathBuf,
}

impl Access {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    pub fn auth_conf(&self) -> PathBuf {
        self.dir.join("auth.conf")
    }

    fn inventory_path(&self) -> PathBuf {
        self.dir.join("users.json")
    }

    pub fn tls_dir(&self) -> PathBuf {
        self.dir.join("tls")
    }

    pub fn users(&self) -> Result<Vec<UserEntry>> {
        Ok(self.load()?.users)
    }

    fn load(&self) -> Result<Inventory> {
        let path = self.inventory_path();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| AccessError::Inventory {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Inventory::default()),
            Err(source) => Err(AccessError::Io {
                what: "cannot read",
                path,
                source,
            }),
        }
    }

    fn save(&self, inventory: &Inventory) -> Result<()> {
        let json = serde_json::to_vec_pretty(inventory).map_err(|e| AccessError::Inventory {
            path: self.inventory_path(),
            reason: e.to_string(),
        })?;
        write_private(&self.inventory_path(), &json)?;
        write_private(&self.auth_conf(), render(&inventory.users).as_bytes())
    }

    /// Adds a user. An agent's user is `agent-<id>` (the id normalised by
    /// the agent-id rule, so no name can widen its subjects); others keep
    /// the name given. With `cert`, the user gets a certificate (its SAN is
    /// the user name, for `verify_and_map`) instead of a password.
    pub fn add(&self, role: Role, name: &str, cert: bool) -> Result<(UserEntry, Secret)> {
        let (user, agent) = match role {
            Role::Agent => {
                let id = AgentId::normalise(name)
                    .map_err(|e| AccessError::Refused(format!("agent name {name:?}: {e}")))?;
                (roles::agent_user(&id), Some(id.to_string()))
            }
            _ => (name.to_owned(), None),
        };
        roles::check_user_name(&user).map_err(AccessError::Refused)?;
        check_not_reserved(role, &user)?;
        let mut inventory = self.load()?;
        if inventory.users.iter().any(|u| u.name == user) {
            return Err(AccessError::Refused(format!(
                "user {user} exists; revoke it first to issue new credentials"
            )));
        }
        let (password_hash, secret) = if cert {
            let (cert, key) = self.issue_client_cert(&user)?;
            (None, Secret::Certificate { cert, key })
        } else {
            let password = new_password();
            let hash = bcrypt::hash_with_result(&password, BCRYPT_COST)?
                .format_for_version(bcrypt::Version::TwoA);
            let path = self.dir.join("secrets").join(format!("{user}.password"));
            write_private(&path, format!("{password}\n").as_bytes())?;
            (Some(hash), Secret::PasswordFile(path))
        };
        let entry = UserEntry {
            name: user,
            role: role.as_str().to_owned(),
            agent,
            password_hash,
            created: now_ms(),
        };
        inventory.users.push(entry.clone());
        self.save(&inventory)?;
        Ok((entry, secret))
    }

    /// Removes a user and its secret files.
    pub fn revoke(&self, name: &str) -> Result<UserEntry> {
        if RESERVED.contains(&name) {
            return Err(AccessError::Refused(format!(
                "{name} is not a user: its name is reserved for the TLS files"
            )));
        }
        let mut inventory = self.load()?;
        let Some(at) = inventory.users.iter().position(|u| u.name == name) else {
            return Err(AccessError::Refused(format!("no user {name}")));
        };
        let entry = inventory.users.remove(at);
        self.save(&inventory)?;
        for path in [
            self.dir.join("secrets").join(format!("{name}.password")),
            self.tls_dir().join(format!("{name}.pem")),
            self.tls_dir().join(format!("{name}-key.pem")),
        ] {
            let _ = fs::remove_file(path);
        }
        Ok(entry)
    }

    /// Makes the CA and the server's certificate for `hosts` (names or IP
    /// addresses), unless the CA exists, and writes the `tls` block that
    /// `deploy/nats.conf` includes (`tls.conf`); returns it.
    pub fn tls_init(&self, hosts: &[String]) -> Result<String> {
        let dir = self.tls_dir();
        let (ca_pem, ca_key) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
        if ca_pem.exists() {
            return Err(AccessError::Refused(format!(
                "a CA exists in {}; remove the directory to start over",
                dir.display()
            )));
        }
        let mut params = ca_params()?;
        validity(&mut params);
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        write_private(&ca_pem, cert.pem().as_bytes())?;
        write_private(&ca_key, key.serialize_pem().as_bytes())?;

        let issuer = Issuer::new(params, key);
        let mut server = CertificateParams::new(Vec::<String>::new())?;
        server.subject_alt_names = hosts
            .iter()
            .map(|h| match h.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => h.clone().try_into().map(SanType::DnsName),
            })
            .collect::<std::result::Result<_, _>>()?;
        server
            .distinguished_name
            .push(DnType::CommonName, "StreamSwarm NATS server");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        server.use_authority_key_identifier_extension = true;
        validity(&mut server);
        let server_key = KeyPair::generate()?;
        let server_cert = server.signed_by(&server_key, &issuer)?;
        let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server-key.pem"));
        write_private(&cert_path, server_cert.pem().as_bytes())?;
        write_private(&key_path, server_key.serialize_pem().as_bytes())?;
        // nats-server reads these paths from its working directory:
        // absolute ones work wherever it is started.
        let abs = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let block = format!(
            "# Written by `swarm-hub access tls-init`.\ntls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  # Mutual TLS: a client's certificate names its user (SAN).\n  verify_and_map: true\n  timeout: 2\n}}\n",
            abs(&cert_path).display(),
            abs(&key_path).display(),
            abs(&ca_pem).display()
        );
        write_private(&self.dir.join("tls.conf"), block.as_bytes())?;
        Ok(block)
    }

    fn issue_client_cert(&self, user: &str) -> Result<(PathBuf, PathBuf)> {
        let dir = self.tls_dir();
        let read = |path: PathBuf| {
            fs::read_to_string(&path).map_err(|source| AccessError::Io {
                what: "cannot read (run `swarm-hub access tls-init` first)",
                path,
                source,
            })
        };
        // The CA's name and key are all a signature needs: the stored CA
        // certificate is what clients and the server verify with.
        let ca_key = KeyPair::from_pem(&read(dir.join("ca-key.pem"))?)?;
        let issuer = Issuer::new(ca_params()?, ca_key);
        let mut params = CertificateParams::new(vec![user.to_owned()])?;
        params.distinguished_name.push(DnType::CommonName, user);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &issuer)?;
        let (cert_path, key_path) = (
            dir.join(format!("{user}.pem")),
            dir.join(format!("{user}-key.pem")),
        );
        write_private(&cert_path, cert.pem().as_bytes())?;
        write_private(&key_path, key.serialize_pem().as_bytes())?;
        Ok((cert_path, key_path))
    }
}

/// The CA's name and uses, the same each time they are needed.
fn ca_params() -> Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "StreamSwarm CA");
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(params)
}

fn validity(params: &mut CertificateParams) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(CERT_DAYS);
}

/// Names whose files are the CA's and the server's own (`tls/ca.pem`,
/// `tls/server-key.pem`): a user by that name would overwrite them, and
/// revoking it would delete them.
const RESERVED: [&str; 2] = ["ca", "server"];

/// Refuses names that clash: the CA's and server's files, and `agent-*`
/// for anyone but an agent (it is the agents' namespace).
fn check_not_reserved(role: Role, user: &str) -> Result<()> {
    if RESERVED.contains(&user) {
        return Err(AccessError::Refused(format!(
            "user name {user} is reserved (the TLS files of the CA and the server use it)"
        )));
    }
    if role != Role::Agent && user.starts_with("agent-") {
        return Err(AccessError::Refused(format!(
            "user name {user}: agent-* names are for agents (swarm-hub access add-agent)"
        )));
    }
    Ok(())
}

/// The `authorization` block for `nats.conf` to include.
pub fn render(users: &[UserEntry]) -> String {
    let mut out = String::from(
        "# Written by `swarm-hub access` from users.json; change it with that command.\nauthorization {\n  users = [\n",
    );
    for user in users {
        let role = Role::parse(&user.role).unwrap_or(Role::Viewer);
        let agent = user.agent.as_deref().and_then(|a| AgentId::parse(a).ok());
        let perms = roles::permissions(role, &user.name, agent.as_ref());
        out.push_str(&roles::render_user(
            &user.name,
            user.password_hash.as_deref(),
            &perms,
        ));
    }
    out.push_str("  ]\n}\n");
    out
}

fn new_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..PASSWORD_LEN)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Writes a file only its owner can read, in a directory only its owner
/// can enter; replaced atomically.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    swarm_common::fs::write_private(path, bytes).map_err(|(what, source)| AccessError::Io {
        what,
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn add_list_revoke_and_private_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let access = Access::new(dir.path());
        let (agent, secret) = access.add(Role::Agent, "Web.1 Prod", false).expect("add");
        assert_eq!(
            agent.name, "agent-web-1-prod",
            "normalised by the agent-id rule"
        );
        let Secret::PasswordFile(path) = secret else {
            panic!("a password file");
        };
        let password = fs::read_to_string(&path).expect("secret");
        let hash = agent.password_hash.clone().expect("hash");
        assert!(hash.starts_with("$2a$11$"));
        assert!(bcrypt::verify(password.trim(), &hash).expect("verify"));
        for file in [&path, &access.auth_conf(), &dir.path().join("users.json")] {
            let mode = fs::metadata(file).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", file.display());
        }
        access.add(Role::Operator, "alice", false).expect("add");
        assert!(access.add(Role::Operator, "alice", false).is_err());
        assert!(access.add(Role::Viewer, "bob.smith", false).is_err());
        let conf = fs::read_to_string(access.auth_conf()).expect("conf");
        assert!(conf.contains("\"swarm.metrics.web-1-prod\""), "{conf}");
        assert!(conf.contains("user: \"alice\""));
        assert!(!conf.contains(password.trim()), "never the password itself");

        access.revoke("agent-web-1-prod").expect("revoke");
        assert!(!path.exists());
        let names: Vec<String> = access
            .users()
            .expect("users")
            .into_iter()
            .map(|u| u.name)
            .collect();
        assert_eq!(names, ["alice"]);
        assert!(access.revoke("nobody").is_err());
    }

    #[test]
    fn reserved_names_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let access = Access::new(dir.path());
        for (role, name) in [
            (Role::Operator, "ca"),
            (Role::Viewer, "server"),
            (Role::Viewer, "agent-web-1"),
        ] {
            assert!(access.add(role, name, false).is_err(), "{name}");
        }
        assert!(access.revoke("ca").is_err());
    }

    #[test]
    fn hostile_agent_names_never_widen_an_agents_subjects() {
        let dir = tempfile::tempdir().expect("tempdir");
        let access = Access::new(dir.path());
        let long = "a".repeat(300);
        for name in [
            "db.prod.example.com",
            "*",
            ">",
            "web 1",
            "a.>",
            "x*y",
            long.as_str(),
            "",
        ] {
            match access.add(Role::Agent, name, false) {
                Err(e) => eprintln!("{name:?} refused: {e}"),
                Ok((user, _)) => {
                    let id = user.agent.clone().expect("agent id");
                    assert!(
                        id.bytes().all(|b| b.is_ascii_lowercase()
                            || b.is_ascii_digit()
                            || b == b'-'
                            || b == b'_'),
                        "{name:?} became {id:?}"
                    );
                    let agent = AgentId::parse(&id).expect("valid id");
                    let p = roles::permissions(Role::Agent, &user.name, Some(&agent));
                    for subject in p.publish.iter().chain(&p.subscribe) {
                        // Only the wildcards the role itself puts there.
                        let tokens: Vec<&str> = subject.split('.').collect();
                        assert!(
                            tokens.iter().filter(|t| **t == "*" || **t == ">").count() <= 1,
                            "{name:?}: {subject}"
                        );
                        assert!(
                            subject.contains(&id) || subject == "$SRV.PING.swarm-hub",
                            "{name:?}: {subject}"
                        );
                    }
                }
            }
        }
        // Names that normalise alike are one agent, not two.
        assert!(
            access
                .add(Role::Agent, "DB.prod.example.com", false)
                .is_err()
        );
    }
}
