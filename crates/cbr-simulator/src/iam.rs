//! IAM password logins, as Keystone v3 and Huawei IAM answer them
//! (REFERENCE.md §5.1): `POST /v3/auth/tokens` with a password identity and a
//! project scope; 201 with the token in `X-Subject-Token` and its expiry in the
//! body. Issued tokens are remembered so that [`super::auth`] accepts them as
//! `X-Auth-Token` until they expire.

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    str::FromStr,
    sync::Mutex,
    time::Duration,
};

use axum::{
    Json,
    body::Body,
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use cbr_signer as signing;

/// Most issued tokens remembered: a login loop must not grow the simulator
/// without bound. Beyond it the oldest are forgotten (they then fail as
/// unknown tokens, as revoked ones do).
pub const MAX_ISSUED: usize = 10_000;

/// How long an expired token is still recognised (and answered with
/// "token expires") before it is forgotten.
const REMEMBER_EXPIRED: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// Project name reported when the scope names none.
const DEFAULT_PROJECT_NAME: &str = "cn-north-4";

/// An IAM user, from `--sim-iam-users DOMAIN:USER:PASSWORD`. `Debug` hides the
/// password.
#[derive(Clone, PartialEq, Eq)]
pub struct IamUser {
    /// Account (domain) name.
    pub domain: String,
    /// IAM user name.
    pub user: String,
    /// Password.
    pub password: String,
}

impl fmt::Debug for IamUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IamUser({}:{}:<redacted>)", self.domain, self.user)
    }
}

impl FromStr for IamUser {
    type Err = String;
    /// `domain:user:password`; the password may itself contain `:`.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(d), Some(u), Some(p)) if !d.is_empty() && !u.is_empty() && !p.is_empty() => {
                Ok(IamUser {
                    domain: d.to_owned(),
                    user: u.to_owned(),
                    password: p.to_owned(),
                })
            }
            _ => Err("expected DOMAIN:USER:PASSWORD".into()),
        }
    }
}

/// What the simulator remembers of an issued token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The project the token is scoped to, if any.
    pub project_id: Option<String>,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// The tokens IAM issued, bounded.
#[derive(Debug, Default)]
struct IssuedTokens {
    by_token: HashMap<String, Issued>,
    /// Tokens, oldest first. Every token of one IAM lives as long as the
    /// others, so the oldest is also the first to expire: forgetting from the
    /// front forgets the expired first, then the oldest, in O(1).
    order: VecDeque<String>,
}

impl IssuedTokens {
    /// Remembers `token`, first forgetting tokens expired for longer than
    /// [`REMEMBER_EXPIRED`], then the oldest while `cap` are kept.
    fn insert(&mut self, token: String, issued: Issued, now: DateTime<Utc>, cap: usize) {
        while let Some(oldest) = self.order.front() {
            let forgotten = self.by_token.get(oldest).is_none_or(|t| {
                // A token valid "for ever" (a huge lifetime) is never forgotten
                // for its age.
                t.expires_at
                    .checked_add_signed(REMEMBER_EXPIRED)
                    .is_some_and(|until| until <= now)
            });
            if !forgotten && self.order.len() < cap {
                break;
            }
            if let Some(oldest) = self.order.pop_front() {
                self.by_token.remove(&oldest);
            }
        }
        self.order.push_back(token.clone());
        self.by_token.insert(token, issued);
    }

    fn len(&self) -> usize {
        self.by_token.len()
    }
}

/// The simulated IAM: its users and the tokens it issued.
pub struct Iam {
    users: Vec<IamUser>,
    lifetime: Duration,
    issued: Mutex<IssuedTokens>,
    /// [`MAX_ISSUED`], smaller in tests.
    max_issued: usize,
}

impl fmt::Debug for Iam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iam")
            .field("users", &self.users)
            .field("lifetime", &self.lifetime)
            .field("issued", &self.lock().len())
            .finish()
    }
}

impl Iam {
    /// An IAM with these users, issuing tokens valid for `lifetime`.
    pub fn new(users: &[IamUser], lifetime: Duration) -> Self {
        Self {
            users: users.to_vec(),
            lifetime,
            issued: Mutex::new(IssuedTokens::default()),
            max_issued: MAX_ISSUED,
        }
    }

    /// Whether any user is configured (then CBR calls must authenticate).
    pub fn enabled(&self) -> bool {
        !self.users.is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IssuedTokens> {
        self.issued.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The issued token `token`, expired or not, if this IAM issued it.
    pub fn lookup(&self, token: &str) -> Option<Issued> {
        self.lock().by_token.get(token).cloned()
    }

    /// Tokens remembered now.
    pub fn issued_count(&self) -> usize {
        self.lock().len()
    }

    /// Forgets every issued token, as if IAM had revoked them (a password
    /// change does that); returns how many there were.
    pub fn revoke_all(&self) -> usize {
        let mut issued = self.lock();
        let n = issued.len();
        *issued = IssuedTokens::default();
        n
    }

    /// Answers `POST /v3/auth/tokens`.
    pub fn create_token(&self, body: &[u8], now: DateTime<Utc>) -> Response {
        let login = match Login::parse(body) {
            Ok(login) => login,
            Err(why) => return keystone_error(StatusCode::BAD_REQUEST, "Bad Request", &why),
        };
        let known = self.users.iter().any(|u| {
            // Every user is compared in full so the answer's timing does not
            // tell which part was wrong.
            let domain = u.domain == login.domain;
            let user = u.user == login.user;
            let password =
                signing::constant_time_eq(u.password.as_bytes(), login.password.as_bytes());
            domain & user & password
        });
        if !known {
            return keystone_error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "The username or password is wrong.",
            );
        }
        let lifetime = chrono::TimeDelta::from_std(self.lifetime).unwrap_or(chrono::TimeDelta::MAX);
        let expires_at = now
            .checked_add_signed(lifetime)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let token = new_token();
        self.lock().insert(
            token.clone(),
            Issued {
                project_id: login.project_id.clone(),
                expires_at,
            },
            now,
            self.max_issued,
        );
        let mut doc = json!({
            "expires_at": format_time(expires_at),
            "issued_at": format_time(now),
            "methods": ["password"],
            "user": {
                "name": login.user,
                "domain": {"name": login.domain},
            },
        });
        if let Some(id) = &login.project_id {
            doc["project"] = json!({
                "id": id,
                "name": login.project_name.as_deref().unwrap_or(DEFAULT_PROJECT_NAME),
            });
        }
        let mut response = (StatusCode::CREATED, Json(json!({ "token": doc }))).into_response();
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&token) {
            headers.insert("x-subject-token", v);
        }
        if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().simple().to_string()) {
            headers.insert("x-iam-trace-id", v);
        }
        response
    }
}

/// The time format of IAM's `expires_at`: `2026-11-24T10:00:00.000000Z`.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// An opaque token shaped like IAM's (`MII…`).
fn new_token() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("MII{a}{b}")
}

/// A Keystone-style error answer.
fn keystone_error(status: StatusCode, title: &str, message: &str) -> Response<Body> {
    let body = json!({"error": {"code": status.as_u16(), "message": message, "title": title}});
    let mut response = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().simple().to_string()) {
        response.headers_mut().insert("x-iam-trace-id", v);
    }
    response
}

/// The parts of a password login the simulator reads.
#[derive(Debug)]
struct Login {
    domain: String,
    user: String,
    password: String,
    project_id: Option<String>,
    project_name: Option<String>,
}

impl Login {
    /// `{"auth":{"identity":{"methods":["password"],"password":{"user":{"domain":
    /// {"name":…},"name":…,"password":…}}},"scope":{"project":{"id":…}}}}`.
    /// `Err` carries a message for a 400 answer.
    fn parse(body: &[u8]) -> Result<Self, String> {
        let doc: Value = serde_json::from_slice(body)
            .map_err(|_| "The request body is not valid JSON.".to_owned())?;
        let auth = doc
            .get("auth")
            .filter(|v| v.is_object())
            .ok_or("Expecting to find auth in request body.")?;
        let identity = auth
            .get("identity")
            .filter(|v| v.is_object())
            .ok_or("Expecting to find identity in auth.")?;
        let password_method = identity
            .get("methods")
            .and_then(Value::as_array)
            .is_some_and(|m| m.iter().any(|v| v == "password"));
        if !password_method {
            return Err("Expecting the password method in identity.methods.".into());
        }
        let user = identity
            .pointer("/password/user")
            .filter(|v| v.is_object())
            .ok_or("Expecting to find password.user in identity.")?;
        let text = |v: &Value, path: &str| {
            v.pointer(path)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let domain = text(user, "/domain/name").ok_or("Expecting to find user.domain.name.")?;
        let name = text(user, "/name").ok_or("Expecting to find user.name.")?;
        let password = text(user, "/password").ok_or("Expecting to find user.password.")?;
        let (project_id, project_name) = match auth.pointer("/scope/project") {
            None => (None, None),
            Some(p) => {
                let id = text(p, "/id");
                let name = text(p, "/name");
                match (id, name) {
                    (Some(id), name) => (Some(id), name),
                    // The simulator has one project; a scope by name (a region
                    // name, as Huawei's examples use) selects it.
                    (None, Some(name)) => (Some(super::seed::PROJECT.to_owned()), Some(name)),
                    (None, None) => {
                        return Err("Expecting scope.project.id or scope.project.name.".into());
                    }
                }
            }
        };
        Ok(Login {
            domain,
            user: name,
            password,
            project_id,
            project_name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(domain: &str, user: &str, password: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "domain": {"name": domain}, "name": user, "password": password}}},
            "scope": {"project": {"id": "p1"}}}}))
        .unwrap()
    }

    #[test]
    fn users_parse_and_hide_their_password() {
        let u: IamUser = "acme:alice:pa:ss".parse().unwrap();
        assert_eq!(
            (u.domain.as_str(), u.user.as_str(), u.password.as_str()),
            ("acme", "alice", "pa:ss")
        );
        assert!(!format!("{u:?}").contains("pa:ss"));
        for bad in ["acme:alice", "acme::pw", ":alice:pw", "acme:alice:", "x"] {
            assert!(bad.parse::<IamUser>().is_err(), "{bad}");
        }
    }

    #[test]
    fn logins_issue_remembered_tokens() {
        let iam = Iam::new(&["acme:alice:pw".parse().unwrap()], Duration::from_secs(60));
        assert!(iam.enabled());
        let now = Utc::now();
        let r = iam.create_token(&body("acme", "alice", "pw"), now);
        assert_eq!(r.status(), StatusCode::CREATED);
        let token = r.headers()["x-subject-token"].to_str().unwrap().to_owned();
        assert!(token.starts_with("MII") && token.len() == 67, "{token}");
        let issued = iam.lookup(&token).unwrap();
        assert_eq!(issued.project_id.as_deref(), Some("p1"));
        assert_eq!(issued.expires_at, now + chrono::TimeDelta::seconds(60));

        for (d, u, p) in [
            ("acme", "alice", "nope"),
            ("other", "alice", "pw"),
            ("acme", "bob", "pw"),
        ] {
            let r = iam.create_token(&body(d, u, p), now);
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{d}:{u}");
        }
        for bad in [
            &b"{"[..],
            b"{}",
            br#"{"auth":{"identity":{"methods":["token"]}}}"#,
        ] {
            let r = iam.create_token(bad, now);
            assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        }
        assert!(!Iam::new(&[], Duration::ZERO).enabled());
    }

    fn login(iam: &Iam, now: DateTime<Utc>) -> String {
        let r = iam.create_token(&body("acme", "alice", "pw"), now);
        assert_eq!(r.status(), StatusCode::CREATED);
        r.headers()["x-subject-token"].to_str().unwrap().to_owned()
    }

    #[test]
    fn issued_tokens_are_capped_oldest_first() {
        let iam = Iam::new(&["acme:alice:pw".parse().unwrap()], Duration::from_secs(60));
        let now = Utc::now();
        let tokens: Vec<String> = (0..MAX_ISSUED + 5).map(|_| login(&iam, now)).collect();
        assert_eq!(iam.issued_count(), MAX_ISSUED);
        assert!(tokens[..5].iter().all(|t| iam.lookup(t).is_none()));
        assert!(tokens[5..].iter().all(|t| iam.lookup(t).is_some()));
        assert_eq!(iam.revoke_all(), MAX_ISSUED);
        assert_eq!(iam.issued_count(), 0);
    }

    #[test]
    fn long_expired_tokens_are_forgotten_before_the_cap() {
        let iam = Iam {
            max_issued: 3,
            ..Iam::new(&["acme:alice:pw".parse().unwrap()], Duration::from_secs(60))
        };
        let t0 = Utc::now();
        let old = login(&iam, t0);
        // Expired, but recently: still recognised (and answered "token expires").
        let later = t0 + chrono::TimeDelta::seconds(61);
        let recent = login(&iam, later);
        assert!(iam.lookup(&old).is_some());
        // Expired for longer than REMEMBER_EXPIRED: forgotten at the next login,
        // though the cap is not reached.
        let much_later = later + REMEMBER_EXPIRED + chrono::TimeDelta::seconds(61);
        let newest = login(&iam, much_later);
        assert!(iam.lookup(&old).is_none());
        assert!(iam.lookup(&recent).is_none());
        assert!(iam.lookup(&newest).is_some());
        assert_eq!(iam.issued_count(), 1);
        // At the cap the oldest go, one per login.
        let more: Vec<String> = (0..3).map(|_| login(&iam, much_later)).collect();
        assert_eq!(iam.issued_count(), 3);
        assert!(iam.lookup(&newest).is_none());
        assert!(more.iter().all(|t| iam.lookup(t).is_some()));
    }

    #[test]
    fn tokens_valid_for_ever_do_not_overflow() {
        let iam = Iam::new(&["acme:alice:pw".parse().unwrap()], Duration::MAX);
        let now = Utc::now();
        let a = login(&iam, now);
        let b = login(&iam, now);
        assert!(iam.lookup(&a).is_some() && iam.lookup(&b).is_some());
    }

    #[test]
    fn times_have_microseconds_and_z() {
        let t = DateTime::parse_from_rfc3339("2026-11-24T10:00:00.5Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format_time(t), "2026-11-24T10:00:00.500000Z");
    }
}
