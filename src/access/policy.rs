//! The authorization policy (`--authz-policy`, contract §8): which callers may
//! call which methods on which projects.
//!
//! ```yaml
//! rules:
//!   - callers: ["spiffe://cluster.local/ns/backup/sa/*", "reporting-job"]
//!     projects: ["4229d7a45436489f8c3dc2b1d35d4987"]   # or ["*"]
//!     methods: ["read"]     # or "write", "cbr.gateway.v1.BackupService/*",
//!                           # "cbr.gateway.v1.CheckpointService/CreateCheckpoint"
//! ```
//!
//! A call is allowed when one rule matches its caller, its project and its
//! method; with a policy file, anything else is refused (default deny).
//! Method groups come from the one table of RPCs ([`crate::rpcs`]): `read` is
//! every method that changes nothing upstream, `write` every one that does.
//! A caller pattern is an identity, or a prefix ending in `*` (`*` alone
//! matches every caller, `anonymous` included). Everything in the file is
//! checked when it loads — unknown keys, unknown methods, malformed project
//! IDs — so a typo is an error, not a rule that silently matches nothing.

use crate::rpcs::{self, Access, Rpc};

/// The parsed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `None`: no policy file, every call is allowed (start-up refuses that
    /// where it would be unsafe, see [`super::check_exposure`]).
    rules: Option<Vec<Rule>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    callers: Vec<Pattern>,
    /// `None`: every project.
    projects: Option<Vec<String>>,
    /// Bit `i` set: `rpcs::ALL[i]` is allowed.
    methods: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    Prefix(String),
}

impl Pattern {
    fn matches(&self, identity: &str) -> bool {
        match self {
            Pattern::Exact(e) => e == identity,
            Pattern::Prefix(p) => identity.starts_with(p.as_str()),
        }
    }
}

/// The policy file's shape.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    rules: Vec<RuleFile>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    callers: Vec<String>,
    projects: Vec<String>,
    methods: Vec<String>,
}

impl Policy {
    /// No policy: every call is allowed.
    pub fn open() -> Self {
        Self { rules: None }
    }

    /// Whether a policy file governs calls.
    pub fn is_enforced(&self) -> bool {
        self.rules.is_some()
    }

    /// Parses a policy file; the error names the rule and what is wrong.
    pub fn parse(yaml: &[u8]) -> Result<Self, String> {
        let file: File = serde_yaml_ng::from_slice(yaml).map_err(|e| {
            format!("not a policy (a `rules:` list of callers, projects, methods): {e}")
        })?;
        let mut rules = Vec::with_capacity(file.rules.len());
        for (i, rule) in file.rules.into_iter().enumerate() {
            let at = |what: String| format!("rules[{i}]: {what}");
            if rule.callers.is_empty() || rule.projects.is_empty() || rule.methods.is_empty() {
                return Err(at(
                    "callers, projects and methods must each list at least one entry".into(),
                ));
            }
            let callers = rule
                .callers
                .iter()
                .map(|c| pattern(c).map_err(&at))
                .collect::<Result<Vec<_>, _>>()?;
            let projects = if rule.projects.iter().any(|p| p == "*") {
                if rule.projects.len() > 1 {
                    return Err(at(
                        "projects: \"*\" cannot be combined with project IDs".into()
                    ));
                }
                None
            } else {
                for p in &rule.projects {
                    if !crate::domain::is_valid_id(p) {
                        return Err(at(format!(
                            "projects: {p:?} is not a project ID ({}), or \"*\"",
                            crate::domain::ID_RULE
                        )));
                    }
                }
                Some(rule.projects)
            };
            let mut methods = 0;
            for m in &rule.methods {
                methods |= method_bits(m).map_err(&at)?;
            }
            rules.push(Rule {
                callers,
                projects,
                methods,
            });
        }
        Ok(Self { rules: Some(rules) })
    }

    /// Whether `identity` may call `rpc` on at least one project: checked
    /// before the request is even read, so a caller with no business with a
    /// method costs nothing more.
    pub fn may_call(&self, identity: &str, rpc: &Rpc) -> bool {
        self.matching(identity, rpc).next().is_some()
    }

    /// Whether `identity` may call `rpc` on `project`.
    pub fn allows(&self, identity: &str, rpc: &Rpc, project: &str) -> bool {
        self.matching(identity, rpc).any(|r| {
            r.projects
                .as_ref()
                .is_none_or(|ps| ps.iter().any(|p| p == project))
        })
    }

    /// The rules matching `identity` and `rpc`; with no policy, one rule
    /// allowing everything.
    fn matching<'a>(&'a self, identity: &'a str, rpc: &Rpc) -> impl Iterator<Item = &'a Rule> + 'a {
        const EVERYTHING: &Rule = &Rule {
            callers: Vec::new(),
            projects: None,
            methods: u64::MAX,
        };
        let bit = bit_of(rpc);
        let (open, rules) = match &self.rules {
            None => (Some(EVERYTHING), &[][..]),
            Some(rules) => (None, rules.as_slice()),
        };
        open.into_iter().chain(
            rules.iter().filter(move |r| {
                r.methods & bit != 0 && r.callers.iter().any(|c| c.matches(identity))
            }),
        )
    }
}

fn pattern(raw: &str) -> Result<Pattern, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("callers: an entry is empty".into());
    }
    match raw.strip_suffix('*') {
        Some(prefix) if !prefix.contains('*') => Ok(Pattern::Prefix(prefix.to_owned())),
        Some(_) => Err(format!("callers: {raw:?}: `*` may only end a pattern")),
        None if raw.contains('*') => Err(format!("callers: {raw:?}: `*` may only end a pattern")),
        None => Ok(Pattern::Exact(raw.to_owned())),
    }
}

/// The bit of `rpc` in a rule's method set.
fn bit_of(rpc: &Rpc) -> u64 {
    rpcs::ALL
        .iter()
        .position(|r| r.path == rpc.path)
        .map_or(0, |i| 1 << i)
}

/// The methods one `methods` entry names.
fn method_bits(entry: &str) -> Result<u64, String> {
    let entry = entry.trim();
    let group = |access: Access| {
        rpcs::ALL
            .iter()
            .enumerate()
            .filter(|(_, r)| r.access == access)
            .fold(0u64, |bits, (i, _)| bits | 1 << i)
    };
    let bits = match entry {
        "read" => group(Access::Read),
        "write" => group(Access::Write),
        _ => {
            let (service, method) = entry.split_once('/').ok_or_else(|| {
                format!("methods: {entry:?} is not read, write, Service/* or Service/Method")
            })?;
            rpcs::ALL
                .iter()
                .enumerate()
                .filter(|(_, r)| r.access != Access::Open)
                .filter(|(_, r)| r.service == service && (method == "*" || r.method == method))
                .fold(0u64, |bits, (i, _)| bits | 1 << i)
        }
    };
    if bits == 0 {
        return Err(format!(
            "methods: {entry:?} names no method the gateway serves"
        ));
    }
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpcs::{CREATE_CHECKPOINT, GET_BACKUP, STREAM_BACKUPS, WATCH_CHECKPOINT};

    const P1: &str = "4229d7a45436489f8c3dc2b1d35d4987";

    #[test]
    fn the_table_fits_the_method_bits() {
        assert!(rpcs::ALL.len() <= 64);
    }

    #[test]
    fn rules_match_caller_project_and_method() {
        let policy = Policy::parse(
            format!(
                r#"
rules:
  - callers: ["spiffe://cluster.local/ns/backup/sa/*", "reporting-job"]
    projects: ["{P1}"]
    methods: ["read"]
  - callers: ["spiffe://cluster.local/ns/backup/sa/creator"]
    projects: ["*"]
    methods: ["cbr.gateway.v1.CheckpointService/CreateCheckpoint"]
"#
            )
            .as_bytes(),
        )
        .unwrap();
        assert!(policy.is_enforced());
        let reader = "spiffe://cluster.local/ns/backup/sa/reader";
        assert!(policy.allows(reader, &GET_BACKUP, P1));
        assert!(policy.allows(reader, &STREAM_BACKUPS, P1));
        assert!(policy.allows(reader, &WATCH_CHECKPOINT, P1));
        assert!(!policy.allows(reader, &GET_BACKUP, "otherproject"));
        assert!(!policy.may_call(reader, &CREATE_CHECKPOINT));
        assert!(policy.allows("reporting-job", &GET_BACKUP, P1));
        assert!(!policy.may_call("reporting-job-2", &GET_BACKUP));
        let creator = "spiffe://cluster.local/ns/backup/sa/creator";
        assert!(policy.allows(creator, &CREATE_CHECKPOINT, "anyproject"));
        assert!(
            policy.allows(creator, &GET_BACKUP, P1),
            "also matches the prefix rule"
        );
        assert!(!policy.may_call("anonymous", &GET_BACKUP));
    }

    #[test]
    fn no_file_allows_everything_and_an_empty_one_nothing() {
        assert!(Policy::open().allows("anonymous", &CREATE_CHECKPOINT, P1));
        let empty = Policy::parse(b"rules: []").unwrap();
        assert!(!empty.may_call("anonymous", &GET_BACKUP));
        let star =
            Policy::parse(b"rules: [{callers: ['*'], projects: ['*'], methods: [read, write]}]")
                .unwrap();
        assert!(star.allows("anonymous", &CREATE_CHECKPOINT, P1));
    }

    #[test]
    fn mistakes_are_errors_naming_the_rule() {
        for (yaml, says) in [
            (
                "rules: [{callers: [a], projects: ['*'], methods: [reed]}]",
                "rules[0]: methods",
            ),
            (
                "rules: [{callers: [a], projects: ['*'], methods: ['cbr.gateway.v1.BackupService/Nope']}]",
                "names no method",
            ),
            (
                "rules: [{callers: [a], projects: ['../x'], methods: [read]}]",
                "not a project ID",
            ),
            (
                "rules: [{callers: ['a*b'], projects: ['*'], methods: [read]}]",
                "may only end",
            ),
            (
                "rules: [{callers: [], projects: ['*'], methods: [read]}]",
                "at least one",
            ),
            (
                "rules: [{callers: [a], projects: ['*', p], methods: [read]}]",
                "cannot be combined",
            ),
            (
                "rules: [{callers: [a], project: ['*'], methods: [read]}]",
                "unknown field",
            ),
            (
                "rules: [{callers: [a], projects: ['*'], methods: ['grpc.health.v1.Health/*']}]",
                "names no method",
            ),
            ("nope", "rules"),
        ] {
            let err = Policy::parse(yaml.as_bytes()).unwrap_err();
            assert!(err.contains(says), "{yaml}: {err}");
        }
    }
}
