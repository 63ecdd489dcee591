//! The simulator's in-memory store: vaults, checkpoints and backups, the reads
//! the REST routes need, and CreateCheckpoint with upstream's validation.
//! The reads of vaults, policies and operation logs are in `lifecycle/`.
//!
//! One owner (a `RwLock` held only for synchronous work, never across an await).
//! Status is computed from each backup's [`Lifecycle`] at read time, so nothing
//! runs in the background and a checkpoint becomes `available` on schedule.

use std::{
    collections::{HashMap, VecDeque},
    time::Duration,
};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{
    error::ApiError,
    model::{Backup, Checkpoint, Lifecycle, Resource, ResourceKind, TimeStyle, Vault},
    query::{ListQuery, SortKey},
};

/// Checkpoints whose `parameters.name` starts with this end in `error`.
pub const FAIL_PREFIX: &str = "sim-error";

/// Most checkpoints kept of those created at run time: a create loop must not
/// grow the simulator without bound. Beyond it the oldest finished one goes,
/// with its backups (the seeded objects never do).
pub const MAX_CREATED: usize = 10_000;

/// Everything the simulator knows.
#[derive(Debug)]
pub struct Store {
    /// Vaults by ID.
    pub vaults: HashMap<String, Vault>,
    /// Checkpoints by ID.
    pub checkpoints: HashMap<String, Checkpoint>,
    /// Backups (top-level and children) by ID.
    pub backups: HashMap<String, Backup>,
    /// Top-level backup IDs, newest first: the default listing order.
    pub listing: Vec<String>,
    /// CSBS checkpoint items served verbatim (the document's example).
    pub literal_items: HashMap<String, Value>,
    /// Vaults served verbatim (the documents' examples, which hold nothing).
    pub literal_vaults: Vec<Value>,
    /// Backup and replication policies, each with the vaults it is bound to.
    pub policies: Vec<Value>,
    /// Operation logs served verbatim (the documents' examples); every other
    /// one is a backup's, rendered from it.
    pub literal_logs: Vec<Value>,
    /// Restores and deletions upstream accepted, oldest first (their
    /// operation logs outlive the deleted backups).
    pub tasks: Vec<super::lifecycle::tasks::Task>,
    /// Checkpoints created at run time, oldest first: the only ones evicted.
    created: VecDeque<String>,
    /// [`MAX_CREATED`], smaller in tests.
    max_created: usize,
}

impl Default for Store {
    fn default() -> Self {
        Self {
            vaults: HashMap::new(),
            checkpoints: HashMap::new(),
            backups: HashMap::new(),
            listing: Vec::new(),
            literal_items: HashMap::new(),
            literal_vaults: Vec::new(),
            policies: Vec::new(),
            literal_logs: Vec::new(),
            tasks: Vec::new(),
            created: VecDeque::new(),
            max_created: MAX_CREATED,
        }
    }
}

impl Store {
    /// Adds a top-level backup and its children, keeping `listing` newest first.
    pub fn insert_backup(&mut self, backup: Backup, children: Vec<Backup>) {
        let at = self
            .listing
            .partition_point(|id| self.backups[id].created_at > backup.created_at);
        self.listing.insert(at, backup.id.clone());
        for child in children {
            self.backups.insert(child.id.clone(), child);
        }
        self.backups.insert(backup.id.clone(), backup);
    }

    /// Checkpoints created at run time and still kept.
    pub fn created_count(&self) -> usize {
        self.created.len()
    }

    /// Whether every backup of checkpoint `id` has finished at `now`.
    fn finished(&self, id: &str, now: DateTime<Utc>) -> bool {
        self.checkpoints.get(id).is_none_or(|cp| {
            cp.resources.iter().all(|(_, top)| {
                let top = self.backups.get(top);
                top.into_iter()
                    .chain(
                        top.iter()
                            .flat_map(|b| &b.children)
                            .filter_map(|c| self.backups.get(c)),
                    )
                    .all(|b| b.state(now).0 != "protecting")
            })
        })
    }

    /// Makes room for one more created checkpoint: at the cap, forgets the
    /// oldest finished one with its backups (and so its CSBS checkpoint
    /// items). `Err` when every kept one is still running: refusing the create
    /// keeps the bound without pulling a backup from under its watcher.
    fn make_room(&mut self, now: DateTime<Utc>) -> Result<(), ApiError> {
        while self.created.len() >= self.max_created {
            // Every create takes the same time, so the oldest is normally the
            // first finished and the scan stops at once.
            let Some(at) = self.created.iter().position(|id| self.finished(id, now)) else {
                return Err(ApiError::too_many_running(self.max_created));
            };
            let Some(id) = self.created.remove(at) else {
                break;
            };
            self.evict(&id);
        }
        Ok(())
    }

    /// Forgets checkpoint `id` and its backups.
    fn evict(&mut self, id: &str) {
        let Some(cp) = self.checkpoints.remove(id) else {
            return;
        };
        let mut tops = Vec::with_capacity(cp.resources.len());
        for (_, top) in &cp.resources {
            if let Some(b) = self.backups.remove(top) {
                for child in &b.children {
                    self.backups.remove(child);
                }
            }
            tops.push(top.as_str());
        }
        self.listing.retain(|b| !tops.contains(&b.as_str()));
    }

    fn backup_in(&self, project: &str, id: &str) -> Option<&Backup> {
        self.backups.get(id).filter(|b| b.project_id == project)
    }

    /// `{"checkpoint": …}` or 404 `BackupService.6217`.
    pub fn checkpoint(
        &self,
        project: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        let cp = self
            .checkpoints
            .get(id)
            .filter(|c| c.project_id == project)
            .ok_or_else(|| ApiError::checkpoint_not_found(id))?;
        Ok(json!({"checkpoint": cp.render(|b| self.backups.get(b).map(|b| b.state(now).0))}))
    }

    /// `{"backup": …}` with its children, or 404 `BackupService.6200`.
    pub fn backup(&self, project: &str, id: &str, now: DateTime<Utc>) -> Result<Value, ApiError> {
        let b = self
            .backup_in(project, id)
            .ok_or_else(|| ApiError::backup_not_found(id))?;
        let children = b
            .children
            .iter()
            .filter_map(|c| self.backups.get(c))
            .map(|c| c.render(now, vec![], false, self.policy_of(c)))
            .collect();
        Ok(json!({"backup": b.render(now, children, false, self.policy_of(b))}))
    }

    /// `{"checkpoint_item": …}` or 404 `CSBS.3001`.
    pub fn checkpoint_item(
        &self,
        project: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        if let Some(item) = self.literal_items.get(id)
            && project == super::seed::PROJECT
        {
            return Ok(item.clone());
        }
        let b = self
            .backup_in(project, id)
            .filter(|b| b.parent_id.is_none())
            .ok_or_else(|| ApiError::checkpoint_item_not_found(id))?;
        let volumes: Vec<&Backup> = b
            .children
            .iter()
            .filter_map(|c| self.backups.get(c))
            .collect();
        Ok(json!({"checkpoint_item": b.render_checkpoint_item(now, &volumes)}))
    }

    /// One page of ListBackups; `count` is the number of all matches.
    pub fn list(
        &self,
        project: &str,
        q: &ListQuery,
        now: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        let candidates: Vec<&Backup> = match &q.parent_id {
            Some(parent) => self
                .backup_in(project, parent)
                .map(|p| {
                    p.children
                        .iter()
                        .filter_map(|c| self.backups.get(c))
                        .collect()
                })
                .unwrap_or_default(),
            None => self.listing.iter().map(|id| &self.backups[id]).collect(),
        };
        let mut matches: Vec<(&Backup, &'static str)> = candidates
            .into_iter()
            .filter(|b| b.project_id == project)
            .map(|b| (b, b.state(now).0))
            .filter(|(b, status)| q.matches(b, status))
            .filter(|(b, _)| {
                q.kept_by_count
                    .is_none_or(|want| self.kept_by_count(b) == Some(want))
            })
            .collect();
        // `listing` is already newest first, so the default order needs no sort.
        if !q.is_default_order() {
            matches.sort_by(|(a, sa), (b, sb)| {
                for (key, desc) in &q.sort {
                    let ord = match key {
                        SortKey::CreatedAt | SortKey::UpdatedAt | SortKey::ProtectedAt => {
                            a.created_at.cmp(&b.created_at)
                        }
                        SortKey::Name => a.name.cmp(&b.name),
                        SortKey::Status => sa.cmp(sb),
                        SortKey::Id => a.id.cmp(&b.id),
                    };
                    let ord = if *desc { ord.reverse() } else { ord };
                    if ord.is_ne() {
                        return ord;
                    }
                }
                a.id.cmp(&b.id)
            });
        }
        let count = matches.len();
        let start = match &q.marker {
            Some(m) => {
                matches
                    .iter()
                    .position(|(b, _)| &b.id == m)
                    .ok_or_else(|| ApiError::parameter(&format!("marker {m} does not exist")))?
                    + 1
            }
            None => 0,
        } + q.offset;
        let page: Vec<Value> = matches
            .iter()
            .skip(start)
            .take(q.limit)
            .map(|(b, _)| b.render(now, vec![], q.show_replication, self.policy_of(b)))
            .collect();
        Ok(json!({
            "backups": page,
            "count": count,
            "offset": q.offset,
            "limit": q.limit,
        }))
    }

    /// CreateCheckpoint: validates like upstream, then starts one backup per
    /// resource (servers get one child per disk), each `protecting` for `duration`.
    pub fn create_checkpoint(
        &mut self,
        project: &str,
        body: &Value,
        now: DateTime<Utc>,
        duration: Duration,
    ) -> Result<Value, ApiError> {
        let input = CreateInput::parse(body)?;
        if self.literal_vault(project, &input.vault_id).is_some() {
            // The documents' example vaults hold no resources.
            return Err(match input.resource_ids.first() {
                Some(id) => ApiError::resource_not_in_vault(id),
                None => ApiError::no_resource(),
            });
        }
        let vault = self
            .vaults
            .get(&input.vault_id)
            .filter(|v| v.project_id == project)
            .ok_or_else(ApiError::vault_not_found)?
            .clone();
        let targets: Vec<Resource> = if input.resource_ids.is_empty() {
            vault.resources.clone()
        } else {
            let mut picked = Vec::new();
            for id in &input.resource_ids {
                let r = vault
                    .resources
                    .iter()
                    .find(|r| &r.id == id)
                    .ok_or_else(|| ApiError::resource_not_in_vault(id))?;
                if !picked.iter().any(|p: &Resource| p.id == r.id) {
                    picked.push(r.clone());
                }
            }
            picked
        };
        if targets.is_empty() {
            return Err(ApiError::no_resource());
        }
        self.make_room(now)?;
        let fails = input
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with(FAIL_PREFIX));
        let checkpoint_id = uuid::Uuid::new_v4().to_string();
        let tag = &checkpoint_id[..4];
        let name = input
            .name
            .clone()
            .unwrap_or_else(|| format!("manualbk_{tag}"));
        let lifecycle = Lifecycle::Running {
            started: now,
            duration,
            fails,
        };
        let mut resources = Vec::new();
        for r in targets {
            let backup_id = uuid::Uuid::new_v4().to_string();
            let children: Vec<Backup> = r
                .disks
                .iter()
                .map(|d| Backup {
                    id: uuid::Uuid::new_v4().to_string(),
                    parent_id: Some(backup_id.clone()),
                    name: format!("{name}_{}", &d.id[..4]),
                    resource_id: d.id.clone(),
                    resource_name: r.name.clone(),
                    kind: ResourceKind::Volume,
                    resource_size: d.size_gb,
                    bootable: d.bootable,
                    snapshot_id: Some(uuid::Uuid::new_v4().to_string()),
                    busy: None,
                    children: vec![],
                    ..new_backup(
                        project,
                        &vault.id,
                        &checkpoint_id,
                        &r,
                        &input,
                        &name,
                        now,
                        &lifecycle,
                    )
                })
                .collect();
            let backup = Backup {
                id: backup_id.clone(),
                children: children.iter().map(|c| c.id.clone()).collect(),
                ..new_backup(
                    project,
                    &vault.id,
                    &checkpoint_id,
                    &r,
                    &input,
                    &name,
                    now,
                    &lifecycle,
                )
            };
            self.insert_backup(backup, children);
            resources.push((r, backup_id));
        }
        let checkpoint = Checkpoint {
            id: checkpoint_id.clone(),
            project_id: project.to_owned(),
            vault_id: vault.id.clone(),
            vault_name: vault.name.clone(),
            created_at: now,
            extra_info: Some((
                name,
                input.description.clone().unwrap_or_default(),
                input.retention.unwrap_or(-1),
            )),
            resources,
        };
        self.checkpoints.insert(checkpoint_id.clone(), checkpoint);
        self.created.push_back(checkpoint_id.clone());
        self.checkpoint(project, &checkpoint_id, now)
    }
}

#[allow(clippy::too_many_arguments)]
fn new_backup(
    project: &str,
    vault_id: &str,
    checkpoint_id: &str,
    r: &Resource,
    input: &CreateInput,
    name: &str,
    now: DateTime<Utc>,
    lifecycle: &Lifecycle,
) -> Backup {
    Backup {
        id: String::new(),
        project_id: project.to_owned(),
        vault_id: vault_id.to_owned(),
        checkpoint_id: checkpoint_id.to_owned(),
        parent_id: None,
        name: name.to_owned(),
        description: input.description.clone(),
        resource_id: r.id.clone(),
        resource_name: r.name.clone(),
        kind: r.kind,
        provider_id: r.kind.provider_id(),
        resource_az: r.az.clone(),
        resource_size: r.size_gb,
        image_type: "backup",
        created_at: now,
        time_style: TimeStyle::Naive,
        lifecycle: lifecycle.clone(),
        children: vec![],
        auto_trigger: input.auto_trigger,
        incremental: input.incremental,
        bootable: false,
        snapshot_id: None,
        busy: None,
        encrypted: false,
        numeric_eps: false,
    }
}

/// The parts of a CreateCheckpoint body the simulator acts on, checked with
/// upstream's rules (REFERENCE.md §2.1).
#[derive(Debug, Default)]
struct CreateInput {
    vault_id: String,
    name: Option<String>,
    description: Option<String>,
    auto_trigger: bool,
    incremental: bool,
    retention: Option<i64>,
    /// From `resources` and `resource_details`, in order.
    resource_ids: Vec<String>,
}

impl CreateInput {
    fn parse(body: &Value) -> Result<Self, ApiError> {
        let cp = body
            .get("checkpoint")
            .and_then(Value::as_object)
            .ok_or_else(|| ApiError::parameter("checkpoint is required"))?;
        let vault_id = cp
            .get("vault_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::parameter("checkpoint.vault_id is required"))?
            .to_owned();
        let mut input = CreateInput {
            vault_id,
            incremental: true,
            ..Default::default()
        };
        let Some(params) = cp.get("parameters") else {
            return Ok(input);
        };
        let params = params
            .as_object()
            .ok_or_else(|| ApiError::parameter("parameters must be an object"))?;
        let text = |k: &str| -> Result<Option<String>, ApiError> {
            match params.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ApiError::parameter(&format!(
                    "parameters.{k} must be a string"
                ))),
            }
        };
        let flag = |k: &str, default: bool| -> Result<bool, ApiError> {
            match params.get(k) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Bool(b)) => Ok(*b),
                Some(_) => Err(ApiError::parameter(&format!(
                    "parameters.{k} must be a boolean"
                ))),
            }
        };
        input.name = text("name")?;
        if let Some(n) = &input.name
            && !((1..=64).contains(&n.len())
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
        {
            return Err(ApiError::parameter("parameters.name is invalid"));
        }
        input.description = text("description")?;
        if input
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 255)
        {
            return Err(ApiError::parameter("parameters.description is too long"));
        }
        input.auto_trigger = flag("auto_trigger", false)?;
        input.incremental = flag("incremental", true)?;
        text("policy_id")?;
        if let Some(days) = params
            .get("retention_duration_days")
            .filter(|v| !v.is_null())
        {
            let days = days
                .as_i64()
                .filter(|d| *d == -1 || (1..=36500).contains(d))
                .ok_or_else(|| {
                    ApiError::parameter("parameters.retention_duration_days is invalid")
                })?;
            if input.auto_trigger {
                return Err(ApiError::parameter(
                    "parameters.retention_duration_days is not allowed with auto_trigger",
                ));
            }
            input.retention = Some(days);
        }
        if let Some(list) = params.get("resources").filter(|v| !v.is_null()) {
            for r in list
                .as_array()
                .ok_or_else(|| ApiError::parameter("parameters.resources must be an array"))?
            {
                let id = r
                    .as_str()
                    .ok_or_else(|| ApiError::parameter("parameters.resources must hold strings"))?;
                input.resource_ids.push(id.to_owned());
            }
        }
        if let Some(list) = params.get("resource_details").filter(|v| !v.is_null()) {
            let list = list.as_array().ok_or_else(|| {
                ApiError::parameter("parameters.resource_details must be an array")
            })?;
            if list.len() > 256 {
                return Err(ApiError::parameter(
                    "parameters.resource_details has more than 256 items",
                ));
            }
            for r in list {
                let id = r
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty());
                let kind = r.get("type").and_then(Value::as_str);
                let (Some(id), Some(kind)) = (id, kind) else {
                    return Err(ApiError::parameter("resource_details need id and type"));
                };
                if !super::query::RESOURCE_TYPES.contains(&kind) {
                    return Err(ApiError::parameter("resource_details type is invalid"));
                }
                input.resource_ids.push(id.to_owned());
            }
        }
        Ok(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed;

    /// The seeded store (no fleet) keeping at most `cap` created checkpoints.
    fn store(cap: usize) -> Store {
        Store {
            max_created: cap,
            ..seed::store(0)
        }
    }

    /// Creates a checkpoint of the seeded vault; its ID and its backups' IDs
    /// (top-level and children).
    fn create(
        store: &mut Store,
        now: DateTime<Utc>,
        takes: Duration,
    ) -> Result<(String, Vec<String>), ApiError> {
        let body = json!({"checkpoint": {"vault_id": seed::VAULT}});
        let cp = store.create_checkpoint(seed::PROJECT, &body, now, takes)?;
        let id = cp["checkpoint"]["id"].as_str().unwrap().to_owned();
        let mut backups = Vec::new();
        for (_, top) in &store.checkpoints[&id].resources {
            backups.push(top.clone());
            backups.extend(store.backups[top].children.iter().cloned());
        }
        Ok((id, backups))
    }

    fn gone(store: &Store, (id, backups): &(String, Vec<String>), now: DateTime<Utc>) -> bool {
        let p = seed::PROJECT;
        store.checkpoint(p, id, now).is_err()
            && backups.iter().all(|b| {
                store.backup(p, b, now).is_err()
                    && store.checkpoint_item(p, b, now).is_err()
                    && !store.listing.contains(b)
            })
    }

    /// `scheduled_operation_id` names the policy of each automatic backup
    /// (children too) and matches its operation log's `policy_id`;
    /// `existed_quantity_based_retention_backups` splits the automatic
    /// backups by how their policy keeps them and leaves out manual ones.
    #[test]
    fn automatic_backups_name_their_policy_and_filter_by_its_retention() {
        use crate::lifecycle::{COUNT_POLICY, DAILY_POLICY};
        let s = seed::store(200);
        let now = Utc::now();
        let page = |q: &str| {
            let q = ListQuery::parse(Some(q)).unwrap();
            s.list(seed::PROJECT, &q, now).unwrap()
        };
        let all = page("limit=1000");
        let backups = all["backups"].as_array().unwrap();
        let policy = |b: &Value| b["scheduled_operation_id"].as_str().map(str::to_owned);
        let (auto, manual): (Vec<&Value>, Vec<&Value>) = backups
            .iter()
            .partition(|b| b["extend_info"]["auto_trigger"] == true);
        assert!(!auto.is_empty() && !manual.is_empty());
        assert!(
            manual
                .iter()
                .all(|b| b.get("scheduled_operation_id").is_none())
        );
        assert!(auto.iter().all(|b| policy(b).is_some()));
        let ids = |v: &Value| -> Vec<String> {
            v["backups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["id"].as_str().unwrap().to_owned())
                .collect()
        };
        let by_count = page("existed_quantity_based_retention_backups=true&limit=1000");
        let by_days = page("existed_quantity_based_retention_backups=False&limit=1000");
        let (by_count, by_days) = (ids(&by_count), ids(&by_days));
        assert!(!by_count.is_empty() && !by_days.is_empty());
        for b in &auto {
            let id = b["id"].as_str().unwrap().to_owned();
            let kept_by_count = policy(b).as_deref() == Some(COUNT_POLICY);
            assert_eq!(by_count.contains(&id), kept_by_count, "{id}");
            assert_eq!(by_days.contains(&id), !kept_by_count, "{id}");
            if !kept_by_count {
                assert_eq!(policy(b).as_deref(), Some(DAILY_POLICY));
            }
            // Its operation log names the same policy.
            let log = s.backup_log(s.backups.get(id.as_str()).unwrap(), now);
            assert_eq!(log["policy_id"].as_str().map(str::to_owned), policy(b));
        }
        assert_eq!(by_count.len() + by_days.len(), auto.len());
        // A server backup's disk children carry the policy too.
        let shown = s.backup(seed::PROJECT, seed::BACKUP, now).unwrap();
        assert_eq!(shown["backup"]["scheduled_operation_id"], DAILY_POLICY);
        assert_eq!(
            shown["backup"]["children"][0]["scheduled_operation_id"],
            DAILY_POLICY
        );
        let bad =
            ListQuery::parse(Some("existed_quantity_based_retention_backups=yes")).unwrap_err();
        assert_eq!(bad.code, "BackupService.9900");
    }

    #[test]
    fn the_oldest_finished_created_checkpoints_go_with_their_backups() {
        let mut s = store(3);
        let seeded = (s.checkpoints.len(), s.backups.len(), s.listing.len());
        let now = Utc::now();
        let made: Vec<_> = (0..5)
            .map(|_| create(&mut s, now, Duration::ZERO).unwrap())
            .collect();
        assert_eq!(s.created_count(), 3);
        assert!(gone(&s, &made[0], now) && gone(&s, &made[1], now));
        for kept in &made[2..] {
            assert!(s.checkpoint(seed::PROJECT, &kept.0, now).is_ok());
            assert!(kept.1.iter().all(|b| s.backups.contains_key(b)));
        }
        let per_create = made[0].1.len();
        assert_eq!(s.checkpoints.len(), seeded.0 + 3);
        assert_eq!(s.backups.len(), seeded.1 + 3 * per_create);
        // The documents' examples are never evicted.
        assert!(s.checkpoint(seed::PROJECT, seed::CHECKPOINT, now).is_ok());
        assert!(s.backup(seed::PROJECT, seed::BACKUP, now).is_ok());
        assert!(
            s.checkpoint_item(seed::PROJECT, seed::CHECKPOINT_ITEM, now)
                .is_ok()
        );
        assert!(s.listing.len() >= seeded.2);
    }

    #[test]
    fn running_checkpoints_are_kept_and_a_create_beyond_them_is_refused() {
        let mut s = store(2);
        let t0 = Utc::now();
        let hour = Duration::from_secs(3600);
        let running = create(&mut s, t0, hour).unwrap();
        let done = create(&mut s, t0, Duration::ZERO).unwrap();
        // The oldest is still running: the finished one after it goes.
        let third = create(&mut s, t0, hour).unwrap();
        assert!(gone(&s, &done, t0));
        assert!(s.checkpoint(seed::PROJECT, &running.0, t0).is_ok());
        // Every kept one is running: refused, nothing created.
        let before = (s.checkpoints.len(), s.backups.len());
        let refused = create(&mut s, t0, hour).unwrap_err();
        assert_eq!(
            (refused.status, refused.code),
            (http::StatusCode::BAD_REQUEST, "BackupService.8300")
        );
        assert_eq!((s.checkpoints.len(), s.backups.len()), before);
        // Once they finish, creates go on and the oldest goes first.
        let later = t0 + chrono::TimeDelta::hours(2);
        create(&mut s, later, hour).unwrap();
        assert!(gone(&s, &running, later));
        assert!(s.checkpoint(seed::PROJECT, &third.0, later).is_ok());
        assert_eq!(s.created_count(), 2);
    }

    #[test]
    fn the_documents_example_vaults_hold_nothing_to_back_up() {
        let mut s = seed::store(0);
        let now = Utc::now();
        let mut create = |project: &str, body: Value| {
            s.create_checkpoint(project, &body, now, Duration::ZERO)
                .unwrap_err()
                .code
        };
        let vault = crate::lifecycle::DOCUMENTED_VAULT;
        assert_eq!(
            create(seed::PROJECT, json!({"checkpoint": {"vault_id": vault}})),
            "BackupService.0001"
        );
        assert_eq!(
            create(
                seed::PROJECT,
                json!({"checkpoint": {"vault_id": vault, "parameters": {"resources": [seed::SERVER]}}})
            ),
            "BackupService.6135"
        );
        assert_eq!(
            create("other", json!({"checkpoint": {"vault_id": vault}})),
            "BackupService.6105"
        );
    }

    #[test]
    fn the_real_cap_holds_under_a_create_loop() {
        let mut s = seed::store(0);
        let now = Utc::now();
        for _ in 0..MAX_CREATED + 3 {
            create(&mut s, now, Duration::ZERO).unwrap();
        }
        assert_eq!(s.created_count(), MAX_CREATED);
        assert_eq!(
            s.checkpoints.len(),
            MAX_CREATED + seed::store(0).checkpoints.len()
        );
    }
}
