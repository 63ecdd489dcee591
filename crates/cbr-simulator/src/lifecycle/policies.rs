//! ListPolicies and ShowPolicy (LIFECYCLE.md §6), and the vault ↔ policy
//! relation the other reads use.
//!
//! Upstream keeps the binding on the policy (`associated_vaults`), never on
//! the vault, so this is the one place that answers "which policies does
//! this vault have" (`GET /policies?vault_id=`, a vault's `auto_protect`, a
//! policy-triggered backup's `policy_id`) and "which vaults does this policy
//! have" (`GET /vaults?policy_id=`).
//!
//! The policies are seeds (`seeds/policies.json`), in the simulator's
//! project: the documents' `policy001` verbatim (bound to nothing), a daily
//! backup policy with every retention rule (advanced ones included) bound to
//! every vault of the simulator's own (seed.rs adds the generated fleet's),
//! and §6.4's replication policy bound to the example vault.

use serde_json::{Value, json};

use super::Params;
use crate::{error::ApiError, model::Backup, seed::PROJECT, store::Store};

/// The documents' example policy (`policy001`, bound to nothing).
pub const DOCUMENTED_POLICY: &str = "cbb3ce6f-3332-4e7c-b98e-77290d8471ff";
/// The simulator's daily backup policy, bound to every vault of its own: it
/// is what triggers their automatic backups.
pub const DAILY_POLICY: &str = "5c8b1c52-7a3e-4d3f-9a57-2f0e6a2b7c11";
/// The simulator's replication policy, bound to the example vault with a
/// destination vault.
pub const REPLICATION_POLICY: &str = "b1d4e2c0-0a8e-4cfa-bb6f-3cb9d0b1a001";
/// The simulator's backup policy that keeps a number of backups (seven), not
/// days' worth: bound to the fleet's volume vault, so that ListBackups'
/// `existed_quantity_based_retention_backups` has backups on both sides.
pub const COUNT_POLICY: &str = "e2a9c7d4-51b6-4f08-a3c2-8d7e6f5a4b10";
/// The fleet's vault [`COUNT_POLICY`] protects instead of the daily policy.
pub const COUNT_POLICY_VAULT: &str = "vault-volumes";

/// The IDs of the vaults policy `p` is bound to.
fn bound_vaults(p: &Value) -> impl Iterator<Item = &str> {
    p["associated_vaults"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["vault_id"].as_str())
}

impl Store {
    /// The enabled backup policy bound to vault `vault_id`: what triggers its
    /// automatic backups (a vault has at most one).
    pub fn backup_policy_of(&self, vault_id: &str) -> Option<&str> {
        self.policies
            .iter()
            .filter(|p| bound_vaults(p).any(|v| v == vault_id))
            .find(|p| p["operation_type"] == "backup" && p["enabled"] == true)
            .and_then(|p| p["id"].as_str())
    }

    /// The policy that triggered backup `b`: its vault's backup policy, for
    /// an automatic backup (upstream's `scheduled_operation_id`, and its
    /// operation log's `policy_id`).
    pub fn policy_of(&self, b: &Backup) -> Option<&str> {
        b.auto_trigger
            .then(|| self.backup_policy_of(&b.vault_id))
            .flatten()
    }

    /// Whether backup `b` is automatic and kept by its policy's count or
    /// forever (`Some(true)`), or for its policy's number of days
    /// (`Some(false)`); `None` for backups no policy keeps. ListBackups'
    /// `existed_quantity_based_retention_backups` filters on it.
    pub fn kept_by_count(&self, b: &Backup) -> Option<bool> {
        let policy = self.policy_of(b)?;
        let p = self.policies.iter().find(|p| p["id"] == policy)?;
        let days = p["operation_definition"]["retention_duration_days"]
            .as_i64()
            .unwrap_or(-1);
        Some(days <= 0)
    }

    /// The IDs of the vaults policy `policy_id` is bound to.
    pub fn policy_vaults(&self, policy_id: &str) -> Vec<&str> {
        self.policies
            .iter()
            .filter(|p| p["id"] == policy_id)
            .flat_map(bound_vaults)
            .collect()
    }

    /// ListPolicies: the `operation_type` (`backup` | `replication`) and
    /// `vault_id` filters; not paged upstream; `count` is every match.
    pub fn list_policies(&self, project: &str, raw: Option<&str>) -> Result<Value, ApiError> {
        let q = Params::parse(raw);
        let kind = q.one_of("operation_type", &["backup", "replication"])?;
        let vault = q.get("vault_id");
        let policies: Vec<&Value> = self
            .policies
            .iter()
            .filter(|_| project == PROJECT)
            .filter(|p| kind.is_none_or(|k| p["operation_type"] == k))
            .filter(|p| vault.is_none_or(|v| bound_vaults(p).any(|b| b == v)))
            .collect();
        Ok(json!({"policies": policies, "count": policies.len()}))
    }

    /// `{"policy": …}` or 404 `BackupService.6000`.
    pub fn show_policy(&self, project: &str, id: &str) -> Result<Value, ApiError> {
        self.policies
            .iter()
            .filter(|_| project == PROJECT)
            .find(|p| p["id"] == id)
            .map(|p| json!({"policy": p}))
            .ok_or_else(ApiError::policy_not_found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::{self, VAULT};

    fn ids(page: &Value) -> Vec<&str> {
        page["policies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn filters_by_type_and_vault() {
        let store = seed::store(0);
        let list = |q: &str| store.list_policies(PROJECT, Some(q)).unwrap();
        let all = list("");
        assert_eq!(all["count"], 4);
        assert_eq!(
            ids(&all),
            [
                DOCUMENTED_POLICY,
                DAILY_POLICY,
                REPLICATION_POLICY,
                COUNT_POLICY
            ]
        );
        assert_eq!(
            ids(&list("operation_type=backup")),
            [DOCUMENTED_POLICY, DAILY_POLICY, COUNT_POLICY]
        );
        assert_eq!(
            ids(&list("operation_type=replication")),
            [REPLICATION_POLICY]
        );
        let of_vault = list(&format!("vault_id={VAULT}"));
        assert_eq!(ids(&of_vault), [DAILY_POLICY, REPLICATION_POLICY]);
        assert_eq!(of_vault["count"], 2);
        assert_eq!(
            ids(&list(&format!(
                "vault_id={VAULT}&operation_type=replication"
            ))),
            [REPLICATION_POLICY]
        );
        assert_eq!(list("vault_id=nope")["count"], 0);
        // Unknown parameters are ignored; a bad type is 9900.
        assert_eq!(list("limit=1")["count"], 4);
        let e = store
            .list_policies(PROJECT, Some("operation_type=restore"))
            .unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (400, "BackupService.9900"));
        // Another project has none.
        assert_eq!(store.list_policies("other", None).unwrap()["count"], 0);
    }

    #[test]
    fn vaults_and_policies_point_at_each_other() {
        let store = seed::store(0);
        assert_eq!(store.backup_policy_of(VAULT), Some(DAILY_POLICY));
        // Every vault of the simulator's own has the daily policy but the
        // one the count policy protects.
        for v in store.vaults.values() {
            let policy = if v.name == COUNT_POLICY_VAULT {
                COUNT_POLICY
            } else {
                DAILY_POLICY
            };
            assert_eq!(store.backup_policy_of(&v.id), Some(policy), "{}", v.name);
            assert!(store.policy_vaults(policy).contains(&v.id.as_str()));
        }
        assert_eq!(store.policy_vaults(COUNT_POLICY).len(), 1);
        assert_eq!(store.policy_vaults(REPLICATION_POLICY), [VAULT]);
        assert!(store.policy_vaults(DOCUMENTED_POLICY).is_empty());
        assert_eq!(store.backup_policy_of("nope"), None);
    }

    #[test]
    fn the_documents_policy_is_served_verbatim() {
        let store = seed::store(0);
        let shown = store.show_policy(PROJECT, DOCUMENTED_POLICY).unwrap();
        let want: Value = serde_json::from_str(
            r#"{"policy":{"associated_vaults":[],"enabled":true,"id":"cbb3ce6f-3332-4e7c-b98e-77290d8471ff","name":"policy001",
              "operation_definition":{"day_backups":0,"month_backups":0,"retention_duration_days":1,"timezone":"UTC+08:00",
                                      "week_backups":0,"year_backups":0},
              "operation_type":"backup",
              "trigger":{"id":"d67269a6-5369-42d7-8150-5254bd446328","name":"default",
                "properties":{"pattern":["FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYHOUR=14;BYMINUTE=00"],
                              "start_time":"2019-05-08 06:57:05"},"type":"time"}}}"#,
        )
        .unwrap();
        assert_eq!(shown, want);
        // The others carry every field of the model.
        let daily = &store.show_policy(PROJECT, DAILY_POLICY).unwrap()["policy"];
        let def = &daily["operation_definition"];
        for k in [
            "max_backups",
            "retention_duration_days",
            "day_backups",
            "week_backups",
            "month_backups",
            "year_backups",
            "timezone",
            "full_backup_interval",
        ] {
            assert!(def[k].is_number() || def[k].is_string(), "{k}");
        }
        let rules = &def["advanced_retention_rules"];
        for k in [
            "weekly_retention_rules",
            "monthly_retention_rules",
            "yearly_retention_rules",
        ] {
            assert!(rules[k].is_object(), "{k}");
        }
        assert_eq!(daily["trigger"]["properties"]["start_window_minutes"], 60);
        assert_eq!(daily["policy_type"], "custom_policy");
        let replication = &store.show_policy(PROJECT, REPLICATION_POLICY).unwrap()["policy"];
        assert_eq!(
            replication["associated_vaults"],
            json!([{"vault_id": VAULT, "destination_vault_id": "0ca3eb86-8800-46da-9c37-9d657a825274"}])
        );
        assert_eq!(
            replication["operation_definition"]["destination_region"],
            "region2"
        );
    }

    #[test]
    fn a_missing_policy_is_6000() {
        let store = seed::store(0);
        for (project, id) in [(PROJECT, "nope"), ("other", DOCUMENTED_POLICY)] {
            let e = store.show_policy(project, id).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.code, e.message.as_str()),
                (404, "BackupService.6000", "The policy does not exist.")
            );
        }
    }
}
