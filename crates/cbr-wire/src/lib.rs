//! The upstream REST operations: each one's name, service, method and path
//! template, written once.
//!
//! The gateway builds its upstream URLs from these and labels its metrics
//! with their names; the simulator routes, counts and injects faults by the
//! same names. They are the wire the two share — with the signer, the only
//! thing they share — so an operation renamed or re-pathed here is renamed on
//! both sides at once, and a path the simulator serves differently from the
//! one the gateway calls cannot exist.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Which service an operation belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// Cloud Backup and Recovery, REST v3.
    Cbr,
    /// Cloud Server Backup Service, REST v1.
    Csbs,
    /// Identity and Access Management (token issuance).
    Iam,
}

impl Api {
    /// Short name, for logs and metrics labels (`cbr`, `csbs`, `iam`).
    pub fn name(self) -> &'static str {
        match self {
            Api::Cbr => "cbr",
            Api::Csbs => "csbs",
            Api::Iam => "iam",
        }
    }
}

/// One segment of a path template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// A literal segment.
    Lit(&'static str),
    /// A parameter, by name (`project_id`, `backup_id`, …).
    Param(&'static str),
}

/// One REST operation.
#[derive(Debug, PartialEq, Eq)]
pub struct Route {
    /// Its name in metrics, fault rules and counters (`get_backup`).
    pub name: &'static str,
    /// The service.
    pub api: Api,
    /// The HTTP method.
    pub method: &'static str,
    /// The path template, segment by segment.
    pub path: &'static [Part],
}

impl Route {
    /// The template as `/v3/{project_id}/backups/{backup_id}` (the syntax
    /// axum and the API documents use).
    pub fn template(&self) -> String {
        let mut out = String::new();
        for part in self.path {
            out.push('/');
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Param(p) => {
                    out.push('{');
                    out.push_str(p);
                    out.push('}');
                }
            }
        }
        out
    }

    /// The path's segments with `params` in place of the parameters, in
    /// order; `None` when their number differs from the template's. (Encoding
    /// and checking each segment is the caller's: see the gateway's
    /// `upstream::paths`.)
    pub fn segments<'a>(&'a self, params: &[&'a str]) -> Option<Vec<&'a str>> {
        let mut params = params.iter();
        let segments = self
            .path
            .iter()
            .map(|part| match part {
                Part::Lit(s) => Some(*s),
                Part::Param(_) => params.next().copied(),
            })
            .collect::<Option<Vec<_>>>()?;
        params.next().is_none().then_some(segments)
    }

    /// Whether `method` and the (already split) `segments` of a request's
    /// path are this operation. `HEAD` is its `GET`: servers answer it on
    /// every GET route.
    pub fn matches(&self, method: &str, segments: &[&str]) -> bool {
        let method = if method == "HEAD" { "GET" } else { method };
        method == self.method
            && segments.len() == self.path.len()
            && self
                .path
                .iter()
                .zip(segments)
                .all(|(part, seg)| match part {
                    Part::Lit(s) => s == seg,
                    Part::Param(_) => !seg.is_empty(),
                })
    }
}

use Part::{Lit, Param};

/// `POST /v3/{project_id}/checkpoints` (CBR).
pub static CREATE_CHECKPOINT: Route = Route {
    name: "create_checkpoint",
    api: Api::Cbr,
    method: "POST",
    path: &[Lit("v3"), Param("project_id"), Lit("checkpoints")],
};

/// `GET /v3/{project_id}/checkpoints/{checkpoint_id}` (CBR).
pub static GET_CHECKPOINT: Route = Route {
    name: "get_checkpoint",
    api: Api::Cbr,
    method: "GET",
    path: &[
        Lit("v3"),
        Param("project_id"),
        Lit("checkpoints"),
        Param("checkpoint_id"),
    ],
};

/// `GET /v3/{project_id}/backups` (CBR), one page.
pub static LIST_BACKUPS: Route = Route {
    name: "list_backups",
    api: Api::Cbr,
    method: "GET",
    path: &[Lit("v3"), Param("project_id"), Lit("backups")],
};

/// `GET /v3/{project_id}/backups/{backup_id}` (CBR).
pub static GET_BACKUP: Route = Route {
    name: "get_backup",
    api: Api::Cbr,
    method: "GET",
    path: &[
        Lit("v3"),
        Param("project_id"),
        Lit("backups"),
        Param("backup_id"),
    ],
};

/// `GET /v3/{project_id}/vaults` (CBR), one page.
pub static LIST_VAULTS: Route = Route {
    name: "list_vaults",
    api: Api::Cbr,
    method: "GET",
    path: &[Lit("v3"), Param("project_id"), Lit("vaults")],
};

/// `GET /v3/{project_id}/vaults/{vault_id}` (CBR).
pub static GET_VAULT: Route = Route {
    name: "get_vault",
    api: Api::Cbr,
    method: "GET",
    path: &[
        Lit("v3"),
        Param("project_id"),
        Lit("vaults"),
        Param("vault_id"),
    ],
};

/// `GET /v3/{project_id}/policies` (CBR).
pub static LIST_POLICIES: Route = Route {
    name: "list_policies",
    api: Api::Cbr,
    method: "GET",
    path: &[Lit("v3"), Param("project_id"), Lit("policies")],
};

/// `GET /v3/{project_id}/policies/{policy_id}` (CBR).
pub static GET_POLICY: Route = Route {
    name: "get_policy",
    api: Api::Cbr,
    method: "GET",
    path: &[
        Lit("v3"),
        Param("project_id"),
        Lit("policies"),
        Param("policy_id"),
    ],
};

/// `GET /v3/{project_id}/operation-logs` (CBR), one page.
pub static LIST_OPERATION_LOGS: Route = Route {
    name: "list_operation_logs",
    api: Api::Cbr,
    method: "GET",
    path: &[Lit("v3"), Param("project_id"), Lit("operation-logs")],
};

/// `GET /v3/{project_id}/operation-logs/{operation_log_id}` (CBR).
pub static GET_OPERATION_LOG: Route = Route {
    name: "get_operation_log",
    api: Api::Cbr,
    method: "GET",
    path: &[
        Lit("v3"),
        Param("project_id"),
        Lit("operation-logs"),
        Param("operation_log_id"),
    ],
};

/// `GET /v1/{project_id}/checkpoint_items/{checkpoint_item_id}` (CSBS).
pub static GET_CHECKPOINT_ITEM: Route = Route {
    name: "get_checkpoint_item",
    api: Api::Csbs,
    method: "GET",
    path: &[
        Lit("v1"),
        Param("project_id"),
        Lit("checkpoint_items"),
        Param("checkpoint_item_id"),
    ],
};

/// `POST /v3/auth/tokens` (IAM): a password login, answered with a token.
pub static IAM_TOKENS: Route = Route {
    name: "iam_tokens",
    api: Api::Iam,
    method: "POST",
    path: &[Lit("v3"), Lit("auth"), Lit("tokens")],
};

/// `GET /v3/projects?name={region}` (IAM): the caller's projects, here the
/// one of a region, as Huawei's SDKs find a region's project ID.
pub static IAM_PROJECTS: Route = Route {
    name: "iam_projects",
    api: Api::Iam,
    method: "GET",
    path: &[Lit("v3"), Lit("projects")],
};

/// `POST /v3/{project_id}/backups/{backup_id}/restore` (CBR): 202, with
/// `{"job_id"}` (the restore's operation log) or no body.
pub static RESTORE_BACKUP: Route = Route {
    name: "restore_backup",
    api: Api::Cbr,
    method: "POST",
    path: &[
        Lit("v3"),
        Param("project_id"),
        Lit("backups"),
        Param("backup_id"),
        Lit("restore"),
    ],
};

/// `DELETE /v3/{project_id}/backups/{backup_id}` (CBR): 204, then the
/// backup is `deleting` until it is gone.
pub static DELETE_BACKUP: Route = Route {
    name: "delete_backup",
    api: Api::Cbr,
    method: "DELETE",
    path: &[
        Lit("v3"),
        Param("project_id"),
        Lit("backups"),
        Param("backup_id"),
    ],
};

/// Every operation.
pub static ALL: &[&Route] = &[
    &CREATE_CHECKPOINT,
    &GET_CHECKPOINT,
    &LIST_BACKUPS,
    &GET_BACKUP,
    &RESTORE_BACKUP,
    &DELETE_BACKUP,
    &LIST_VAULTS,
    &GET_VAULT,
    &LIST_POLICIES,
    &GET_POLICY,
    &LIST_OPERATION_LOGS,
    &GET_OPERATION_LOG,
    &GET_CHECKPOINT_ITEM,
    &IAM_TOKENS,
    &IAM_PROJECTS,
];

/// The operation a request is, if any.
pub fn route_of(method: &str, path: &str) -> Option<&'static Route> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    ALL.iter()
        .copied()
        .find(|route| route.matches(method, &segments))
}

/// The operation named `name`.
pub fn by_name(name: &str) -> Option<&'static Route> {
    ALL.iter().copied().find(|route| route.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_find_their_operation() {
        let name = |m, p| route_of(m, p).map(|r| r.name);
        assert_eq!(name("POST", "/v3/p/checkpoints"), Some("create_checkpoint"));
        assert_eq!(name("GET", "/v3/p/checkpoints/c"), Some("get_checkpoint"));
        assert_eq!(name("GET", "/v3/p/backups"), Some("list_backups"));
        assert_eq!(name("GET", "/v3/p/backups/b"), Some("get_backup"));
        assert_eq!(name("HEAD", "/v3/p/backups/b"), Some("get_backup"));
        assert_eq!(name("DELETE", "/v3/p/backups/b"), Some("delete_backup"));
        assert_eq!(
            name("POST", "/v3/p/backups/b/restore"),
            Some("restore_backup")
        );
        assert_eq!(
            name("GET", "/v1/p/checkpoint_items/x"),
            Some("get_checkpoint_item")
        );
        assert_eq!(name("POST", "/v3/auth/tokens"), Some("iam_tokens"));
        assert_eq!(name("GET", "/v3/projects"), Some("iam_projects"));
        assert_eq!(name("GET", "/v3/p/vaults"), Some("list_vaults"));
        assert_eq!(name("GET", "/v3/p/vaults/v"), Some("get_vault"));
        assert_eq!(name("GET", "/v3/p/policies"), Some("list_policies"));
        assert_eq!(name("GET", "/v3/p/policies/x"), Some("get_policy"));
        assert_eq!(
            name("GET", "/v3/p/operation-logs"),
            Some("list_operation_logs")
        );
        assert_eq!(
            name("GET", "/v3/p/operation-logs/o"),
            Some("get_operation_log")
        );
        assert_eq!(name("HEAD", "/v3/p/checkpoints"), None);
        assert_eq!(name("GET", "/_simulator/stats"), None);
        assert_eq!(name("DELETE", "/v3/p/checkpoints/c"), None);
        assert_eq!(name("GET", "/v3//backups"), None);
    }

    #[test]
    fn templates_and_segments() {
        assert_eq!(
            GET_BACKUP.template(),
            "/v3/{project_id}/backups/{backup_id}"
        );
        assert_eq!(
            GET_BACKUP.segments(&["p", "b"]),
            Some(vec!["v3", "p", "backups", "b"])
        );
        assert_eq!(GET_BACKUP.segments(&["p"]), None);
        assert_eq!(GET_BACKUP.segments(&["p", "b", "x"]), None);
        let mut names: Vec<_> = ALL.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len(), "names are unique");
        assert_eq!(by_name("list_backups"), Some(&LIST_BACKUPS));
        // Methods are standard tokens: clients parse them without allocating
        // and a typo cannot become an extension method.
        for route in ALL {
            assert!(
                ["GET", "POST", "PUT", "DELETE"].contains(&route.method),
                "{}",
                route.name
            );
        }
    }
}
