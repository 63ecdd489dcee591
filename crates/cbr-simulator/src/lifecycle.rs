//! Vaults, policies and operation logs (LIFECYCLE.md §2, §5, §6): what users
//! read to find a vault, its policies, and what CBR did.
//!
//! Nothing here is stored twice. A vault's billing and its resources' counts
//! are computed from the backups it holds at read time; every top-level backup
//! is one `backup` operation log (one per resource of a checkpoint), whose
//! status and progress follow the backup's lifecycle, and whose ID is the
//! backup's ID with fixed bits flipped, so a log is found again from its ID
//! alone and goes when its backup is evicted. Policies and the documents'
//! example vaults and operation logs are fixed seeds (`seeds/*.json`), served
//! verbatim.
//!
//! One file per resource ([`vaults`], [`policies`], [`operation_logs`]); this
//! one holds what their list calls share: the query string, checked as
//! upstream checks it (a bad value is 400 `BackupService.9900`), with unknown
//! parameters ignored as ListBackups ignores them.

pub mod operation_logs;
pub mod policies;
pub mod tasks;
pub mod vaults;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

pub use operation_logs::{DOCUMENTED_LOG, log_id};
pub use policies::{
    COUNT_POLICY, COUNT_POLICY_VAULT, DAILY_POLICY, DOCUMENTED_POLICY, REPLICATION_POLICY,
};
pub use vaults::{DOCUMENTED_VAULT, DOCUMENTED_VAULT_SHOWN};

use super::error::ApiError;

/// What every list call of these answers with a 400: upstream's code, the
/// parameter named.
fn bad(what: &str) -> ApiError {
    ApiError::parameter(&format!("invalid {what}"))
}

/// A list call's query string, decoded once.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

/// `limit` (1–1000, default 1000) and `offset` (≥ 0, default 0), echoed in
/// the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Most items answered.
    pub limit: usize,
    /// Items skipped.
    pub offset: usize,
}

impl Page {
    /// This page of `items`.
    pub fn of<T>(self, items: impl IntoIterator<Item = T>) -> Vec<T> {
        items
            .into_iter()
            .skip(self.offset)
            .take(self.limit)
            .collect()
    }
}

impl Params {
    /// Decodes a raw query string.
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`: comma-separated (the SDKs' `csv` format, and
    /// how `resource_ids` is documented) or in repeated keys alike.
    pub fn list(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split(','))
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// `limit` and `offset`, checked.
    pub fn page(&self) -> Result<Page, ApiError> {
        let limit = match self.get("limit") {
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|l| (1..=1000).contains(l))
                .ok_or_else(|| bad("limit"))?,
            None => 1000,
        };
        let offset = match self.get("offset") {
            Some(v) => v.parse::<usize>().map_err(|_| bad("offset"))?,
            None => 0,
        };
        Ok(Page { limit, offset })
    }

    /// `key`, which must be one of `allowed` when given.
    pub fn one_of(&self, key: &str, allowed: &[&str]) -> Result<Option<&str>, ApiError> {
        match self.get(key) {
            Some(v) if allowed.contains(&v) => Ok(Some(v)),
            Some(_) => Err(bad(key)),
            None => Ok(None),
        }
    }

    /// `key` as a time bound, strictly `YYYY-MM-DDTHH:MM:SSZ`: the only form
    /// upstream's filters take.
    pub fn time(&self, key: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.get(key)
            .map(|v| filter_time(v).ok_or_else(|| bad(key)))
            .transpose()
    }

    /// `enterprise_project_id`: an enterprise project ID or
    /// `all_granted_eps`; empty is refused, as ListBackups refuses it.
    pub fn enterprise_project(&self) -> Result<Option<&str>, ApiError> {
        match self.get("enterprise_project_id") {
            Some("") => Err(bad("enterprise_project_id")),
            other => Ok(other),
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` and nothing else (chrono alone would take
/// unpadded fields).
fn filter_time(v: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%SZ")
        .ok()
        .filter(|_| v.len() == 20)
        .map(|n| n.and_utc())
}

/// Whether an object in enterprise project `eps` (upstream writes the
/// default one as `"0"` or as the number `0`) passes the filter `want`.
fn in_enterprise_project(want: Option<&str>, eps: &Value) -> bool {
    want.is_none_or(|w| {
        w == "all_granted_eps"
            || match eps {
                Value::String(s) => s == w,
                Value::Number(n) => n.to_string() == w,
                _ => false,
            }
    })
}

/// A `Naive` or `Offset` timestamp of the seeds (both upstream styles).
fn seed_time(v: &Value) -> Option<DateTime<Utc>> {
    let s = v.as_str()?;
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.to_utc())
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pages_are_checked_and_applied() {
        let page = |q: &str| Params::parse(Some(q)).page();
        assert_eq!(
            Params::default().page().unwrap(),
            Page {
                limit: 1000,
                offset: 0
            }
        );
        assert_eq!(
            page("limit=2&offset=3").unwrap(),
            Page {
                limit: 2,
                offset: 3
            }
        );
        assert_eq!(page("limit=1000").unwrap().limit, 1000);
        for bad in [
            "limit=0",
            "limit=1001",
            "limit=x",
            "limit=",
            "offset=-1",
            "offset=1.5",
        ] {
            assert_eq!(page(bad).unwrap_err().code, "BackupService.9900", "{bad}");
        }
        let p = page("limit=2&offset=3").unwrap();
        assert_eq!(p.of(0..10), [3, 4]);
        assert_eq!(p.of(0..4), [3]);
        assert!(p.of(0..3).is_empty());
    }

    #[test]
    fn lists_take_commas_and_repeated_keys() {
        let q = Params::parse(Some("id=a%2Cb&id=c&id=&other=x"));
        assert_eq!(q.list("id"), ["a", "b", "c"]);
        assert!(q.list("nope").is_empty());
        assert_eq!(q.get("id"), Some("a,b"));
    }

    #[test]
    fn filter_times_are_strict() {
        let q = |v: &str| Params::parse(Some(&format!("t={v}"))).time("t");
        assert_eq!(
            q("2018-01-01T12:00:00Z").unwrap(),
            DateTime::from_timestamp(1_514_808_000, 0)
        );
        for bad in [
            "2018-01-01",
            "2018-1-01T12:00:00Z",
            "2018-01-01T12:00:00",
            "2018-01-01T12:00:00.5Z",
            "2018-01-01T12:00:00+00:00",
            "2018-01-01 12:00:00Z",
        ] {
            assert_eq!(q(bad).unwrap_err().code, "BackupService.9900", "{bad}");
        }
    }

    #[test]
    fn enterprise_projects_match_either_spelling_of_the_default() {
        assert!(in_enterprise_project(None, &json!("x")));
        assert!(in_enterprise_project(Some("0"), &json!("0")));
        assert!(in_enterprise_project(Some("0"), &json!(0)));
        assert!(in_enterprise_project(Some("all_granted_eps"), &json!(0)));
        assert!(!in_enterprise_project(Some("1f2e"), &json!("0")));
        assert!(!in_enterprise_project(Some("0"), &Value::Null));
        let empty = Params::parse(Some("enterprise_project_id="));
        assert_eq!(
            empty.enterprise_project().unwrap_err().code,
            "BackupService.9900"
        );
    }

    #[test]
    fn seed_times_in_both_styles() {
        let want = DateTime::parse_from_rfc3339("2020-07-24T09:12:49.492Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            seed_time(&json!("2020-07-24T09:12:49.492+00:00")),
            Some(want)
        );
        assert_eq!(seed_time(&json!("2020-07-24T09:12:49.492000")), Some(want));
        assert_eq!(seed_time(&json!(null)), None);
    }
}
