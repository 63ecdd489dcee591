//! ListVault and ShowVault (LIFECYCLE.md §2.1, §2.2).
//!
//! A vault of the simulator's own is rendered from what it holds at read
//! time: `billing.allocated` is the sum of its resources' sizes (GB),
//! `billing.used` the size of its backups that hold data (MB, the unit
//! upstream documents and the one the simulator's checkpoint items use for
//! the same backups), each resource's `backup_count` and `backup_size` the
//! same for that resource's backups, and its `protect_status` `protecting`
//! while one of them is being taken (`restoring` while one is being
//! restored: LIFECYCLE.md §3.5). So `used` is always the sum of the
//! resources' `backup_size`, and `backup_count` what ListBackups finds for
//! that vault and resource.
//!
//! The documents' two example vaults are served verbatim from
//! `seeds/vaults.json`: they hold no resources, so nothing the simulator does
//! can change what they show. Like every seed they live in the simulator's
//! project (API-CONTRACT §7); every other field is the documents'.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Page, Params, bad, in_enterprise_project, seed_time};
use crate::{
    error::ApiError,
    model::{Backup, ResourceKind, Vault},
    store::Store,
};

/// The documents' listed example vault (§2.1).
pub const DOCUMENTED_VAULT: &str = "a335f9e1-1628-4c64-a7be-38656e5ec19c";
/// The documents' shown example vault (§2.2), with a tag without value.
pub const DOCUMENTED_VAULT_SHOWN: &str = "2b076f26-391f-40fa-bf71-a798940faccf";

/// Who created the simulator's vaults (the documents' user).
const USER_ID: &str = "aa2999fa5ae640f28926f8fd79188934";

const OBJECT_TYPES: &[&str] = &[
    "server",
    "disk",
    "turbo",
    "workspace",
    "vmware",
    "rds",
    "file",
];

/// `billing.object_type` and `billing.spec_code` of a vault of `kind`.
fn object_type(kind: ResourceKind) -> (&'static str, &'static str) {
    match kind {
        ResourceKind::Server => ("server", "vault.backup.server.normal"),
        ResourceKind::Volume => ("disk", "vault.backup.volume.normal"),
        ResourceKind::SfsTurbo => ("turbo", "vault.backup.turbo.normal"),
    }
}

/// The vault's kind: its resources' (an empty vault protects servers).
fn vault_kind(v: &Vault) -> ResourceKind {
    v.resources.first().map_or(ResourceKind::Server, |r| r.kind)
}

/// Whether a backup in `status` occupies space in its vault: not before it
/// is taken, and not when taking it failed.
fn holds_data(status: &str) -> bool {
    !matches!(status, "protecting" | "waiting_protect" | "error")
}

/// What a vault holds of one resource.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// Backups, whatever their status.
    pub count: i64,
    /// Size of those that hold data, MB.
    pub size_mb: i64,
    /// Whether one is being taken.
    pub protecting: bool,
    /// Whether one is being restored.
    pub restoring: bool,
}

impl Held {
    /// The resource's `protect_status`: being backed up first (a restore
    /// waits for that, 2002, but a backup may start during a restore).
    fn protect_status(&self) -> &'static str {
        if self.protecting {
            "protecting"
        } else if self.restoring {
            "restoring"
        } else {
            "available"
        }
    }

    fn add(&mut self, b: &Backup, now: DateTime<Utc>) {
        let (status, _) = b.state(now);
        self.count += 1;
        if holds_data(status) {
            self.size_mb += b.resource_size * 1024;
        }
        if matches!(status, "protecting" | "waiting_protect") {
            self.protecting = true;
        }
        if matches!(status, "restoring" | "waiting_restore") {
            self.restoring = true;
        }
    }
}

impl Store {
    /// What vault `vault_id` holds of each resource at `now`, by resource ID.
    pub fn held(&self, vault_id: &str, now: DateTime<Utc>) -> HashMap<&str, Held> {
        let mut held: HashMap<&str, Held> = HashMap::new();
        for b in self
            .listing
            .iter()
            .filter_map(|id| self.backups.get(id))
            .filter(|b| b.vault_id == vault_id)
        {
            held.entry(b.resource_id.as_str()).or_default().add(b, now);
        }
        held
    }

    /// Upstream `Vault` JSON of one of the simulator's vaults at `now`.
    fn render_vault(&self, v: &Vault, now: DateTime<Utc>) -> Value {
        let kind = vault_kind(v);
        let (object, spec) = object_type(kind);
        let held = self.held(&v.id, now);
        // Its resources follow the vault's automatic backups if it has any.
        let auto_protect = self.backup_policy_of(&v.id).is_some();
        let resources: Vec<Value> = v
            .resources
            .iter()
            .map(|r| {
                let h = held.get(r.id.as_str()).copied().unwrap_or_default();
                json!({
                    "id": r.id,
                    "name": r.name,
                    "type": r.kind.type_name(),
                    "protect_status": h.protect_status(),
                    "size": r.size_gb,
                    "backup_size": h.size_mb,
                    "backup_count": h.count,
                    "auto_protect": auto_protect,
                    "extra_info": {"exclude_volumes": [], "include_volumes": []},
                })
            })
            .collect();
        let allocated: i64 = v.resources.iter().map(|r| r.size_gb).sum();
        let used: i64 = v
            .resources
            .iter()
            .filter_map(|r| held.get(r.id.as_str()))
            .map(|h| h.size_mb)
            .sum();
        // Capacity: room for twice what it protects, 100 GB at least.
        let size = (allocated * 2).max(100);
        let dialect = v.dialect;
        let tags: Vec<Value> = v
            .tags
            .iter()
            .map(|(key, value)| dialect.trim(json!({"key": key, "value": value})))
            .collect();
        dialect.trim(json!({
            "id": v.id,
            "name": v.name,
            "project_id": v.project_id,
            "provider_id": kind.provider_id(),
            "billing": dialect.trim(json!({
                "allocated": allocated,
                "charging_mode": "post_paid",
                "cloud_type": "public",
                "consistent_level": "crash_consistent",
                "frozen_scene": null,
                "object_type": object,
                "order_id": null,
                "product_id": "00301-225396-0--0",
                "protect_type": "backup",
                "size": size,
                "spec_code": spec,
                "status": "available",
                "storage_unit": null,
                "used": used,
                "is_multi_az": false,
            })),
            "resources": resources,
            "description": null,
            "tags": tags,
            "enterprise_project_id": dialect.default_eps(),
            "auto_bind": false,
            "bind_rules": {},
            "user_id": USER_ID,
            "created_at": dialect.time_style().render(v.created_at),
            "auto_expand": false,
            "smn_notify": true,
            "threshold": 80,
            "sys_lock_source_service": "",
            "locked": false,
            "availability_zone": v.resources.first().map_or("", |r| r.az.as_str()),
        }))
    }

    /// One of the documents' example vaults, if `id` is one in `project`.
    pub fn literal_vault(&self, project: &str, id: &str) -> Option<&Value> {
        self.literal_vaults
            .iter()
            .find(|v| v["id"] == id && v["project_id"] == project)
    }

    /// Every vault of `project` as JSON, the documents' examples included,
    /// oldest first (then by name).
    fn vaults_of(&self, project: &str, now: DateTime<Utc>) -> Vec<Value> {
        let mut out: Vec<(Option<DateTime<Utc>>, Value)> = self
            .vaults
            .values()
            .filter(|v| v.project_id == project)
            .map(|v| (Some(v.created_at), self.render_vault(v, now)))
            .chain(
                self.literal_vaults
                    .iter()
                    .filter(|v| v["project_id"] == project)
                    .map(|v| (seed_time(&v["created_at"]), v.clone())),
            )
            .collect();
        out.sort_by(|(ta, a), (tb, b)| {
            ta.cmp(tb)
                .then_with(|| a["name"].as_str().cmp(&b["name"].as_str()))
        });
        out.into_iter().map(|(_, v)| v).collect()
    }

    /// `{"vault": …}` or 404 `BackupService.6105`.
    pub fn show_vault(
        &self,
        project: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        if let Some(v) = self.vaults.get(id).filter(|v| v.project_id == project) {
            return Ok(json!({"vault": self.render_vault(v, now)}));
        }
        self.literal_vault(project, id)
            .map(|v| json!({"vault": v}))
            .ok_or_else(ApiError::vault_not_found)
    }

    /// One page of ListVault with every filter of LIFECYCLE.md §2.1;
    /// `count` is the number of all matches.
    pub fn list_vaults(
        &self,
        project: &str,
        raw: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        let q = VaultQuery::parse(raw)?;
        let matches: Vec<Value> = self
            .vaults_of(project, now)
            .into_iter()
            .filter(|v| q.matches(v, |p| self.policy_vaults(p)))
            .collect();
        let count = matches.len();
        Ok(json!({
            "vaults": q.page.of(matches),
            "count": count,
            "limit": q.page.limit,
            "offset": q.page.offset,
        }))
    }
}

/// A checked ListVault query.
struct VaultQuery {
    params: Params,
    page: Page,
}

impl VaultQuery {
    /// Checks every parameter upstream constrains: `limit`, `offset`, the
    /// enums `cloud_type`, `protect_type`, `object_type`, the `name` charset
    /// and `enterprise_project_id`. `status` is a free string upstream, so
    /// an unknown one simply matches nothing.
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let params = Params::parse(raw);
        let page = params.page()?;
        params.one_of("cloud_type", &["public", "hybrid"])?;
        params.one_of("protect_type", &["backup", "replication"])?;
        params.one_of("object_type", OBJECT_TYPES)?;
        params.enterprise_project()?;
        if let Some(n) = params.get("name")
            && !n.chars().all(|c| {
                c.is_ascii_alphanumeric()
                    || c == '_'
                    || c == '-'
                    || ('\u{4E00}'..='\u{9FA5}').contains(&c)
                    || ('\u{F900}'..='\u{FA2D}').contains(&c)
            })
        {
            return Err(bad("name"));
        }
        Ok(Self { params, page })
    }

    /// Whether vault `v` passes every filter; `bound` gives the vaults a
    /// policy is bound to.
    fn matches<'s>(&self, v: &Value, bound: impl Fn(&str) -> Vec<&'s str>) -> bool {
        fn text(v: &Value) -> &str {
            v.as_str().unwrap_or("")
        }
        let q = &self.params;
        let eq = |key: &str, have: &Value| q.get(key).is_none_or(|want| *have == want);
        let ids = q.list("id");
        let resource_ids = q.list("resource_ids");
        let billing = &v["billing"];
        eq("name", &v["name"])
            && eq("cloud_type", &billing["cloud_type"])
            && eq("protect_type", &billing["protect_type"])
            && eq("object_type", &billing["object_type"])
            && eq("status", &billing["status"])
            && eq("availability_zone", &v["availability_zone"])
            && in_enterprise_project(q.get("enterprise_project_id"), &v["enterprise_project_id"])
            && (ids.is_empty() || ids.contains(&text(&v["id"])))
            && (resource_ids.is_empty()
                || v["resources"]
                    .as_array()
                    .is_some_and(|rs| rs.iter().any(|r| resource_ids.contains(&text(&r["id"])))))
            && q.get("policy_id")
                .is_none_or(|p| bound(p).contains(&text(&v["id"])))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{
        lifecycle::DAILY_POLICY,
        seed::{self, PROJECT, SERVER, VAULT},
    };

    fn list(store: &Store, q: &str) -> Value {
        store.list_vaults(PROJECT, Some(q), Utc::now()).unwrap()
    }

    fn ids(page: &Value) -> Vec<&str> {
        page["vaults"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn bad_values_are_9900_and_unknown_parameters_are_ignored() {
        let store = seed::store(20);
        let now = Utc::now();
        for bad in [
            "limit=0",
            "limit=1001",
            "offset=-1",
            "cloud_type=private",
            "protect_type=hybrid",
            "object_type=tape",
            "enterprise_project_id=",
            "name=a%20b",
            "name=a.b",
        ] {
            let e = store.list_vaults(PROJECT, Some(bad), now).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.code),
                (400, "BackupService.9900"),
                "{bad}"
            );
        }
        let all = list(&store, "");
        assert_eq!(list(&store, "no_such_parameter=1"), all);
        // status is a free string: an unknown one matches nothing.
        assert_eq!(list(&store, "status=bogus")["count"], 0);
        // The name charset includes CJK.
        assert_eq!(list(&store, "name=%E5%A4%87%E4%BB%BD")["count"], 0);
    }

    #[test]
    fn every_filter_applies_and_count_is_every_match() {
        let store = seed::store(20);
        let all = list(&store, "");
        // The seeded vault, four of the fleet, the documents' two.
        assert_eq!(all["count"], 7);
        assert_eq!(
            (all["limit"].as_u64(), all["offset"].as_u64()),
            (Some(1000), Some(0))
        );
        assert!(ids(&all).contains(&DOCUMENTED_VAULT));
        assert!(ids(&all).contains(&DOCUMENTED_VAULT_SHOWN));

        let page = list(&store, "limit=2&offset=1");
        assert_eq!(page["count"], 7, "the total, not the page");
        assert_eq!(ids(&page), ids(&all)[1..3]);
        assert!(
            list(&store, "offset=7")["vaults"]
                .as_array()
                .unwrap()
                .is_empty()
        );

        assert_eq!(ids(&list(&store, "name=vault-be94")), [VAULT]);
        assert_eq!(list(&store, "name=vault")["count"], 0, "exact names");
        assert_eq!(ids(&list(&store, "object_type=disk")).len(), 1);
        assert_eq!(ids(&list(&store, "object_type=turbo")).len(), 1);
        assert_eq!(list(&store, "object_type=server")["count"], 5);
        assert_eq!(list(&store, "cloud_type=public")["count"], 7);
        assert_eq!(list(&store, "cloud_type=hybrid")["count"], 0);
        assert_eq!(list(&store, "protect_type=replication")["count"], 0);
        assert_eq!(list(&store, "status=available")["count"], 7);
        assert_eq!(list(&store, "enterprise_project_id=0")["count"], 7);
        assert_eq!(
            list(&store, "enterprise_project_id=all_granted_eps")["count"],
            7
        );
        assert_eq!(list(&store, "enterprise_project_id=other")["count"], 0);
        let two = format!("id={VAULT},{DOCUMENTED_VAULT}");
        assert_eq!(list(&store, &two)["count"], 2);
        let repeated = format!("id={VAULT}&id={DOCUMENTED_VAULT}&limit=1");
        assert_eq!(list(&store, &repeated)["count"], 2);
        assert_eq!(
            ids(&list(&store, &format!("resource_ids=nope,{SERVER}"))),
            [VAULT]
        );
        assert_eq!(list(&store, "availability_zone=az1.dc1")["count"], 1);
        // Bound to the daily policy: every vault of the simulator's own but
        // the volumes' (the count policy's).
        let daily = list(&store, &format!("policy_id={DAILY_POLICY}"));
        assert_eq!(daily["count"], 4);
        assert!(!ids(&daily).contains(&DOCUMENTED_VAULT));
        assert_eq!(list(&store, "policy_id=nope")["count"], 0);
        // Filters combine; paging applies to the matches.
        let servers = list(
            &store,
            &format!("object_type=server&policy_id={DAILY_POLICY}&limit=1&offset=1"),
        );
        assert_eq!(servers["count"], 3);
        assert_eq!(servers["vaults"].as_array().unwrap().len(), 1);
        // Another project sees none of them.
        assert_eq!(
            store.list_vaults("other", None, Utc::now()).unwrap()["count"],
            0
        );
    }

    #[test]
    fn billing_and_resources_follow_the_backups_held() {
        let mut store = seed::store(0);
        let t0 = Utc::now();
        let vault =
            |store: &Store, now| store.show_vault(PROJECT, VAULT, now).unwrap()["vault"].clone();
        let v = vault(&store, t0);
        assert_eq!(v["billing"]["allocated"], 40, "one 40 GB server");
        // The example backup of that server is available: 40 GB, in MB.
        assert_eq!(v["billing"]["used"], 40 * 1024);
        let r = &v["resources"][0];
        assert_eq!(r["id"], SERVER);
        assert_eq!(r["size"], 40);
        assert_eq!(r["backup_count"], 1);
        assert_eq!(r["backup_size"], 40 * 1024);
        assert_eq!(r["protect_status"], "available");
        assert_eq!(r["auto_protect"], true, "the vault has a backup policy");

        // A checkpoint being taken: protecting, counted, not yet holding data.
        let body = json!({"checkpoint": {"vault_id": VAULT}});
        store
            .create_checkpoint(PROJECT, &body, t0, Duration::from_secs(60))
            .unwrap();
        let v = vault(&store, t0);
        let r = &v["resources"][0];
        assert_eq!(
            (r["protect_status"].as_str(), r["backup_count"].as_i64()),
            (Some("protecting"), Some(2))
        );
        assert_eq!(v["billing"]["used"], 40 * 1024);
        // Once taken, it holds 40 GB more.
        let later = t0 + chrono::Duration::seconds(61);
        let v = vault(&store, later);
        assert_eq!(v["resources"][0]["protect_status"], "available");
        assert_eq!(v["billing"]["used"], 2 * 40 * 1024);
        assert_eq!(v["resources"][0]["backup_size"], 2 * 40 * 1024);

        // A failed one is counted but holds nothing.
        let body =
            json!({"checkpoint": {"vault_id": VAULT, "parameters": {"name": "sim-error-x"}}});
        store
            .create_checkpoint(PROJECT, &body, later, Duration::ZERO)
            .unwrap();
        let v = vault(&store, later);
        assert_eq!(v["resources"][0]["backup_count"], 3);
        assert_eq!(v["billing"]["used"], 2 * 40 * 1024);
    }

    #[test]
    fn used_is_the_sum_of_the_resources_and_counts_match_the_backups() {
        let store = seed::store(400);
        let now = Utc::now();
        for v in store.vaults.values() {
            let shown = &store.show_vault(PROJECT, &v.id, now).unwrap()["vault"];
            let resources = shown["resources"].as_array().unwrap();
            let sum: i64 = resources
                .iter()
                .map(|r| r["backup_size"].as_i64().unwrap())
                .sum();
            assert_eq!(shown["billing"]["used"].as_i64(), Some(sum), "{}", v.name);
            let allocated: i64 = resources.iter().map(|r| r["size"].as_i64().unwrap()).sum();
            assert_eq!(shown["billing"]["allocated"].as_i64(), Some(allocated));
            for r in resources {
                let q = crate::query::ListQuery::parse(Some(&format!(
                    "vault_id={}&resource_id={}",
                    v.id,
                    r["id"].as_str().unwrap()
                )))
                .unwrap();
                let backups = store.list(PROJECT, &q, now).unwrap();
                assert_eq!(backups["count"], r["backup_count"], "{}", v.name);
                let data: i64 = backups["backups"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|b| holds_data(b["status"].as_str().unwrap()))
                    .map(|b| b["resource_size"].as_i64().unwrap() * 1024)
                    .sum();
                assert_eq!(r["backup_size"].as_i64(), Some(data));
                let protecting = backups["backups"].as_array().unwrap().iter().any(|b| {
                    matches!(b["status"].as_str(), Some("protecting" | "waiting_protect"))
                });
                assert_eq!(
                    r["protect_status"] == "protecting",
                    protecting,
                    "{}",
                    r["id"]
                );
            }
        }
    }

    #[test]
    fn the_documents_vaults_are_served_as_documented() {
        let store = seed::store(0);
        let now = Utc::now();
        let shown = store
            .show_vault(PROJECT, DOCUMENTED_VAULT_SHOWN, now)
            .unwrap();
        let v = &shown["vault"];
        assert_eq!(v["name"], "sdk-vault1595581958");
        assert_eq!(v["auto_bind"], true);
        assert_eq!(v["billing"]["size"], 40);
        assert_eq!(v["billing"]["product_id"], Value::Null);
        assert_eq!(v["enterprise_project_id"], "0");
        assert_eq!(v["created_at"], "2020-07-24T09:12:49.491874");
        assert_eq!(v["tags"], json!([{"key": "fds", "value": null}]));
        let listed = store.show_vault(PROJECT, DOCUMENTED_VAULT, now).unwrap();
        assert_eq!(listed["vault"]["billing"]["size"], 100);
        assert_eq!(listed["vault"]["tags"], json!([]));
        // Only in the simulator's project.
        assert_eq!(
            store
                .show_vault("other", DOCUMENTED_VAULT, now)
                .unwrap_err()
                .code,
            "BackupService.6105"
        );
    }

    #[test]
    fn otc_shaped_vaults_carry_otcs_quirks() {
        let store = seed::store(0);
        let now = Utc::now();
        let all = store.list_vaults(PROJECT, None, now).unwrap();
        let vaults = all["vaults"].as_array().unwrap();
        let otc: Vec<&Value> = vaults
            .iter()
            .filter(|v| v["enterprise_project_id"] == json!(0))
            .collect();
        assert_eq!(otc.len(), 1, "one vault in OTC's shape");
        let v = otc[0];
        assert!(v["created_at"].as_str().unwrap().ends_with("+00:00"));
        let billing = v["billing"].as_object().unwrap();
        for absent in ["order_id", "storage_unit", "frozen_scene"] {
            assert!(!billing.contains_key(absent), "{absent}");
        }
        assert!(!v.as_object().unwrap().contains_key("description"));
        assert!(
            v["tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t.get("value").is_none())
        );
        // The others are Huawei's: nulls written out, naive timestamps.
        let huawei = store.show_vault(PROJECT, VAULT, now).unwrap();
        let v = &huawei["vault"];
        assert_eq!(v["billing"]["order_id"], Value::Null);
        assert!(
            v["billing"]
                .as_object()
                .unwrap()
                .contains_key("storage_unit")
        );
        assert_eq!(v["description"], Value::Null);
        assert_eq!(v["created_at"].as_str().unwrap().len(), 26);
    }

    #[test]
    fn a_missing_vault_is_6105() {
        let e = seed::store(0)
            .show_vault(PROJECT, "nope", Utc::now())
            .unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.code, e.message.as_str()),
            (404, "BackupService.6105", "The vault does not exist.")
        );
    }

    #[test]
    fn holding_data_is_neither_before_nor_after_a_failure() {
        for (status, holds) in [
            ("available", true),
            ("restoring", true),
            ("deleting", true),
            ("protecting", false),
            ("waiting_protect", false),
            ("error", false),
        ] {
            assert_eq!(holds_data(status), holds, "{status}");
        }
    }
}
