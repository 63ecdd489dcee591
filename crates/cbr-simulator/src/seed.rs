//! What the simulator starts with: the API documents' example objects under their
//! own IDs, plus a deterministic generated fleet so that filters and paging have
//! something real to work on.
//!
//! The documents' objects the simulator serves verbatim (a CSBS checkpoint
//! item, two vaults, policies, operation logs) are JSON files in `seeds/`,
//! all in [`PROJECT`]; the vaults, checkpoints and backups it acts on are
//! built here.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    lifecycle::{COUNT_POLICY, COUNT_POLICY_VAULT, DAILY_POLICY},
    model::{
        Backup, Checkpoint, Dialect, Disk, Lifecycle, Resource, ResourceKind, TimeStyle, Vault,
    },
    store::Store,
};

/// The documents' example project: the simulator's default project.
pub const PROJECT: &str = "4229d7a45436489f8c3dc2b1d35d4987";
/// The documents' example vault.
pub const VAULT: &str = "3b5816b5-f29c-4172-9d9a-76c719a659ce";
/// The documents' example server.
pub const SERVER: &str = "94eba8b2-acc9-4d82-badc-127144cc5526";
/// The documents' example checkpoint.
pub const CHECKPOINT: &str = "8b0851a8-adf3-4f4c-a914-dead08bf9664";
/// The documents' example backup.
pub const BACKUP: &str = "6df2b54c-dd62-4059-a07c-1b8f24f2725d";
/// The documents' example disk backup (child of [`BACKUP`]).
pub const CHILD_BACKUP: &str = "5d822633-2bbf-4af8-a16e-5ab1c7705235";
/// The documents' example CSBS checkpoint item.
pub const CHECKPOINT_ITEM: &str = "90c1d5fa-1b9f-4aeb-b2f4-81c806e98190";

/// The generated fleet's newest backup is this old; the rest go back from here.
const FLEET_ANCHOR: &str = "2026-11-01T00:00:00Z";

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.to_utc())
        .unwrap_or_default()
}

/// A store holding the seed objects and `fleet_size` generated backups.
pub fn store(fleet_size: usize) -> Store {
    store_in(fleet_size, 0)
}

/// The store of the simulator's `region`th region (0: the first): the same
/// seed objects, and a fleet of its own — other backups (another random
/// sequence) and fewer of them (a quarter less per region after the
/// first), so that each region's data is told apart at a glance.
pub fn store_in(fleet_size: usize, region: usize) -> Store {
    let mut store = Store::default();
    let size = fleet_size - (fleet_size * region.min(3)) / 4;
    // The fleet fills an empty listing in order; the (older) seeds then find
    // their place in it.
    generate_fleet(&mut store, size, region as u64);
    seed_documents(&mut store);
    seed_lifecycle(&mut store);
    store
}

/// A JSON array of `seeds/`.
fn seeds(text: &str) -> Vec<Value> {
    serde_json::from_str(text).unwrap_or_default()
}

/// The documents' vaults, policies and operation logs; the daily policy is
/// bound to every vault of the simulator's own, so that each one's automatic
/// backups have the policy that triggered them.
fn seed_lifecycle(store: &mut Store) {
    store.literal_vaults = seeds(include_str!("seeds/vaults.json"));
    store.literal_logs = seeds(include_str!("seeds/operation_logs.json"));
    store.policies = seeds(include_str!("seeds/policies.json"));
    let mut own: Vec<&Vault> = store.vaults.values().filter(|v| v.id != VAULT).collect();
    own.sort_by(|a, b| a.name.cmp(&b.name));
    let (by_count, daily): (Vec<&Vault>, Vec<&Vault>) =
        own.into_iter().partition(|v| v.name == COUNT_POLICY_VAULT);
    let bind = |vaults: Vec<&Vault>| -> Vec<Value> {
        vaults
            .iter()
            .map(|v| serde_json::json!({"vault_id": v.id}))
            .collect()
    };
    let (by_count, daily) = (bind(by_count), bind(daily));
    for (policy, vaults) in [(DAILY_POLICY, daily), (COUNT_POLICY, by_count)] {
        if let Some(bound) = store
            .policies
            .iter_mut()
            .find(|p| p["id"] == policy)
            .and_then(|p| p["associated_vaults"].as_array_mut())
        {
            bound.extend(vaults);
        }
    }
}

fn seed_documents(store: &mut Store) {
    let server = Resource {
        id: SERVER.into(),
        name: "ecs-1f0f-0002".into(),
        kind: ResourceKind::Server,
        size_gb: 40,
        az: "az1.dc1".into(),
        disks: vec![Disk {
            id: "eccbcfdd-f843-4bbb-b2c0-a5ce861f9376".into(),
            size_gb: 40,
            bootable: true,
        }],
    };
    store.vaults.insert(
        VAULT.into(),
        Vault {
            id: VAULT.into(),
            name: "vault-be94".into(),
            project_id: PROJECT.into(),
            resources: vec![server.clone()],
            created_at: at("2020-02-05T10:38:34.209782Z"),
            tags: vec![("owner".into(), Some("simulator".into()))],
            dialect: Dialect::Huawei,
        },
    );
    store.checkpoints.insert(
        CHECKPOINT.into(),
        Checkpoint {
            id: CHECKPOINT.into(),
            project_id: PROJECT.into(),
            vault_id: VAULT.into(),
            vault_name: "vault-be94".into(),
            created_at: at("2019-05-10T07:59:12.037+00:00"),
            extra_info: None,
            resources: vec![(server.clone(), BACKUP.into())],
        },
    );
    let backup = Backup {
        id: BACKUP.into(),
        project_id: PROJECT.into(),
        vault_id: VAULT.into(),
        checkpoint_id: CHECKPOINT.into(),
        parent_id: None,
        name: "backup_name".into(),
        description: Some("backup_description".into()),
        resource_id: SERVER.into(),
        resource_name: "ecs-1f0f-0002".into(),
        kind: ResourceKind::Server,
        provider_id: ResourceKind::Server.provider_id(),
        resource_az: "az1.dc1".into(),
        resource_size: 40,
        image_type: "backup",
        created_at: at("2019-05-10T07:59:12.085+00:00"),
        time_style: TimeStyle::Offset,
        lifecycle: Lifecycle::Fixed("available"),
        children: vec![CHILD_BACKUP.into()],
        auto_trigger: true,
        incremental: false,
        bootable: false,
        snapshot_id: None,
        busy: None,
        encrypted: false,
        numeric_eps: true,
    };
    let child = Backup {
        id: CHILD_BACKUP.into(),
        parent_id: Some(BACKUP.into()),
        name: "autobk_a843_ecs-1f0f-0002".into(),
        description: None,
        resource_id: "eccbcfdd-f843-4bbb-b2c0-a5ce861f9376".into(),
        kind: ResourceKind::Volume,
        created_at: at("2019-05-10T07:59:59.451+00:00"),
        children: vec![],
        bootable: true,
        snapshot_id: Some("5230a977-1a94-4092-8edd-519303a44cda".into()),
        busy: None,
        encrypted: true,
        numeric_eps: false,
        ..backup.clone()
    };
    store.insert_backup(backup, vec![child]);
    let item: serde_json::Value =
        serde_json::from_str(include_str!("seeds/checkpoint_item.json")).unwrap_or_default();
    store.literal_items.insert(CHECKPOINT_ITEM.into(), item);
}

/// SplitMix64: a tiny deterministic generator, so every run has the same fleet.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn uuid(&mut self) -> String {
        let hi = self.next().to_be_bytes();
        let lo = self.next().to_be_bytes();
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&hi);
        bytes[8..].copy_from_slice(&lo);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }
}

/// Vaults of the generated fleet: name, resource mix, and whose documents
/// their JSON follows (one in OTC's, for its quirks).
const FLEET_VAULTS: &[(&str, ResourceKind, Dialect)] = &[
    ("vault-servers-prod", ResourceKind::Server, Dialect::Huawei),
    ("vault-servers-test", ResourceKind::Server, Dialect::Otc),
    ("vault-volumes", ResourceKind::Volume, Dialect::Huawei),
    ("vault-sfs-turbo", ResourceKind::SfsTurbo, Dialect::Huawei),
];
/// When the fleet's first vault was created; the others a day apart.
const FLEET_VAULTS_CREATED: &str = "2020-03-01T08:00:00.123456Z";
const RESOURCES_PER_VAULT: usize = 20;
const AZS: &[&str] = &["cn-north-4a", "cn-north-4b", "cn-north-4c"];

fn generate_fleet(store: &mut Store, fleet_size: usize, region: u64) {
    let mut rng = Rng(0x00C0_FFEE_CB12_2026 ^ region.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut vaults = Vec::new();
    for (n, (name, kind, dialect)) in FLEET_VAULTS.iter().enumerate() {
        let resources = (0..RESOURCES_PER_VAULT)
            .map(|i| {
                let disks = if *kind == ResourceKind::Server {
                    (0..1 + rng.below(3))
                        .map(|d| Disk {
                            id: rng.uuid(),
                            size_gb: if d == 0 { 40 } else { 100 },
                            bootable: d == 0,
                        })
                        .collect()
                } else {
                    vec![]
                };
                Resource {
                    id: rng.uuid(),
                    name: format!("{}-{i:04}", name.trim_start_matches("vault-")),
                    kind: *kind,
                    size_gb: [40, 100, 200, 500][usize::try_from(rng.below(4)).unwrap_or(0)],
                    az: AZS[i % AZS.len()].into(),
                    disks,
                }
            })
            .collect();
        let mut tags = vec![("owner".to_owned(), Some("simulator".to_owned()))];
        if *dialect == Dialect::Otc {
            // OTC's documents show a tag without a value.
            tags.push(("scratch".into(), None));
        }
        let vault = Vault {
            id: rng.uuid(),
            name: (*name).into(),
            project_id: PROJECT.into(),
            resources,
            created_at: at(FLEET_VAULTS_CREATED)
                + chrono::Duration::days(i64::try_from(n).unwrap_or(0)),
            tags,
            dialect: *dialect,
        };
        vaults.push(vault);
    }
    let anchor = at(FLEET_ANCHOR);
    let mut backups = Vec::with_capacity(fleet_size);
    for i in 0..fleet_size {
        let vault = &vaults[i % vaults.len()];
        let r =
            &vault.resources[usize::try_from(rng.below(RESOURCES_PER_VAULT as u64)).unwrap_or(0)];
        let minutes = i64::try_from(i).unwrap_or(i64::MAX / 60).saturating_mul(13);
        let created = anchor
            - chrono::Duration::minutes(minutes)
            - chrono::Duration::seconds(i64::try_from(rng.below(600)).unwrap_or(0));
        let status = match rng.below(100) {
            0..=89 => "available",
            90..=93 => "error",
            94..=95 => "deleting",
            96..=97 => "restoring",
            98 => "waiting_protect",
            _ => "protecting",
        };
        let auto = rng.below(4) != 0;
        let tag = format!("{:04x}", rng.below(0x10000));
        let checkpoint_id = rng.uuid();
        let id = rng.uuid();
        let backup = Backup {
            id: id.clone(),
            project_id: PROJECT.into(),
            vault_id: vault.id.clone(),
            checkpoint_id: checkpoint_id.clone(),
            parent_id: None,
            name: if auto {
                format!("autobk_{tag}_{}", r.name)
            } else {
                format!("manualbk_{tag}")
            },
            description: None,
            resource_id: r.id.clone(),
            resource_name: r.name.clone(),
            kind: r.kind,
            provider_id: r.kind.provider_id(),
            resource_az: r.az.clone(),
            resource_size: r.size_gb,
            image_type: if rng.below(20) == 0 {
                "replication"
            } else {
                "backup"
            },
            created_at: created,
            time_style: TimeStyle::Naive,
            lifecycle: Lifecycle::Fixed(status),
            children: vec![],
            auto_trigger: auto,
            incremental: rng.below(3) != 0,
            bootable: false,
            snapshot_id: None,
            busy: None,
            encrypted: false,
            numeric_eps: false,
        };
        let children: Vec<Backup> = r
            .disks
            .iter()
            .map(|d| Backup {
                id: rng.uuid(),
                parent_id: Some(id.clone()),
                name: format!("{}_{}", backup.name, &d.id[..4]),
                resource_id: d.id.clone(),
                kind: ResourceKind::Volume,
                resource_size: d.size_gb,
                bootable: d.bootable,
                snapshot_id: Some(rng.uuid()),
                busy: None,
                ..backup.clone()
            })
            .collect();
        let backup = Backup {
            children: children.iter().map(|c| c.id.clone()).collect(),
            ..backup
        };
        store.checkpoints.insert(
            checkpoint_id.clone(),
            Checkpoint {
                id: checkpoint_id,
                project_id: PROJECT.into(),
                vault_id: vault.id.clone(),
                vault_name: vault.name.clone(),
                created_at: created,
                extra_info: Some((backup.name.clone(), String::new(), -1)),
                resources: vec![(r.clone(), id)],
            },
        );
        backups.push((backup, children));
    }
    // Generated newest first, so appending keeps `listing` sorted without shifting.
    for (backup, children) in backups {
        store.listing.push(backup.id.clone());
        for c in children {
            store.backups.insert(c.id.clone(), c);
        }
        store.backups.insert(backup.id.clone(), backup);
    }
    for v in vaults {
        store.vaults.insert(v.id.clone(), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fleet_is_deterministic_and_sorted() {
        let a = store(500);
        let b = store(500);
        assert_eq!(a.listing, b.listing);
        assert_eq!(a.listing.len(), 501);
        assert!(
            a.listing
                .windows(2)
                .all(|w| a.backups[&w[0]].created_at >= a.backups[&w[1]].created_at)
        );
        assert!(a.backups.contains_key(BACKUP) && a.backups.contains_key(CHILD_BACKUP));
        assert_eq!(a.vaults.len(), 1 + FLEET_VAULTS.len());
    }

    #[test]
    fn the_documents_seeds_load_and_the_daily_policy_binds_every_own_vault() {
        let s = store(0);
        assert_eq!(s.literal_vaults.len(), 2);
        assert_eq!(s.literal_logs.len(), 7);
        assert_eq!(s.policies.len(), 4);
        for v in s.literal_vaults.iter().chain(&s.literal_logs) {
            assert_eq!(v["project_id"], PROJECT, "every seed is in the project");
        }
        let daily = s.policies.iter().find(|p| p["id"] == DAILY_POLICY).unwrap();
        let bound: Vec<&str> = daily["associated_vaults"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["vault_id"].as_str().unwrap())
            .collect();
        assert_eq!(bound[0], VAULT);
        // Every vault but the one kept by count.
        assert_eq!(bound.len(), s.vaults.len() - 1);
        assert!(
            s.vaults
                .values()
                .all(|v| bound.contains(&v.id.as_str()) == (v.name != COUNT_POLICY_VAULT))
        );
        // The fleet's vault IDs do not depend on its size.
        let mut big: Vec<String> = store(50).vaults.into_keys().collect();
        let mut small: Vec<String> = s.vaults.into_keys().collect();
        big.sort();
        small.sort();
        assert_eq!(big, small);
    }
}
