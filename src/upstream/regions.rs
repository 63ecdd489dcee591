//! Every region CBR serves, and its endpoints as Huawei's SDKs resolve them
//! (contract §10). For each service (CBR, CSBS, IAM) and region, the first
//! of:
//!
//! 1. `HUAWEICLOUD_SDK_REGION_{SERVICE}_{REGION_ID}` (the region ID upper-cased,
//!    `-` as `_`; several endpoints comma-separated: the first is used);
//! 2. the regions file, `HUAWEICLOUD_SDK_REGIONS_FILE` (else
//!    `~/.huaweicloud/regions.yaml` when it exists), in the SDKs' shape:
//!    `CBR: [{id: cn-north-4, endpoint: https://…}]` (`endpoints: [..]` too);
//! 3. the built-in table, from the official SDKs' region lists: CBR at
//!    `https://cbr.{region}.myhuaweicloud.com`, CSBS beside it, IAM at
//!    `https://iam.{region}.myhuaweicloud.com` except where the SDKs say
//!    otherwise (`eu-west-101` is on `.myhuaweicloud.eu`).
//!
//! A region named only by an override or the regions file (a dedicated or
//! private cloud) is known as well. `CBR_ENDPOINT`, `CSBS_ENDPOINT` and
//! `IAM_ENDPOINT` keep working for a single-region gateway: they are the
//! default region's endpoints, above everything else. The default region is
//! `HUAWEICLOUD_SDK_REGION`, else the region `CBR_ENDPOINT`'s host names
//! (`cbr.{region}.…`), else — an endpoint naming none, such as the built-in
//! simulator's — [`UNNAMED_REGION`].

use std::{collections::BTreeMap, path::Path};

use url::Url;

/// The regions CBR serves, from Huawei's Python SDK (`huaweicloudsdkcbr`
/// 3.1.x `CbrRegion`), sorted.
pub const BUILT_IN: &[&str] = &[
    "ae-ad-1",
    "af-north-1",
    "af-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "cn-east-2",
    "cn-east-3",
    "cn-east-4",
    "cn-east-5",
    "cn-north-1",
    "cn-north-11",
    "cn-north-12",
    "cn-north-2",
    "cn-north-4",
    "cn-north-9",
    "cn-south-1",
    "cn-south-2",
    "cn-south-4",
    "cn-southwest-2",
    "cn-southwest-3",
    "eu-west-0",
    "eu-west-101",
    "la-north-2",
    "la-south-2",
    "me-east-1",
    "my-kualalumpur-1",
    "na-mexico-1",
    "ru-moscow-1",
    "ru-northwest-2",
    "sa-brazil-1",
    "tr-west-1",
];

/// IAM endpoints that are not `https://iam.{region}.myhuaweicloud.com`
/// (`huaweicloudsdkiam` 3.1.x `IamRegion`).
const IAM_EXCEPTIONS: &[(&str, &str)] =
    &[("eu-west-101", "https://iam.eu-west-101.myhuaweicloud.eu")];

/// The default region's name when nothing names one: `CBR_ENDPOINT` points
/// at a host that names no region (the built-in simulator, a proxy).
pub const UNNAMED_REGION: &str = "default";

/// `region` as a `'static` string, for metrics labels: regions are a closed
/// set (the table's, checked before any client is built), so each is leaked
/// once and reused.
pub fn intern(region: &str) -> &'static str {
    static SEEN: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = seen.iter().find(|r| **r == region) {
        return known;
    }
    let leaked: &'static str = Box::leak(region.to_owned().into_boxed_str());
    seen.push(leaked);
    leaked
}

/// The three services a region has endpoints for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionService {
    /// CBR v3.
    Cbr,
    /// CSBS v1.
    Csbs,
    /// IAM v3.
    Iam,
}

impl RegionService {
    /// As the SDKs spell it in variables and the regions file.
    pub fn name(self) -> &'static str {
        match self {
            RegionService::Cbr => "CBR",
            RegionService::Csbs => "CSBS",
            RegionService::Iam => "IAM",
        }
    }

    const ALL: [RegionService; 3] = [RegionService::Cbr, RegionService::Csbs, RegionService::Iam];
}

/// Where an endpoint came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `CBR_ENDPOINT`, `CSBS_ENDPOINT`, `IAM_ENDPOINT` (or their flags).
    Setting,
    /// `HUAWEICLOUD_SDK_REGION_{SERVICE}_{REGION_ID}`.
    Environment,
    /// The regions file.
    RegionsFile,
    /// The SDKs' table (or CSBS beside CBR).
    BuiltIn,
}

impl Source {
    /// Short name, for `cbr-gateway regions`.
    pub fn name(self) -> &'static str {
        match self {
            Source::Setting => "setting",
            Source::Environment => "environment",
            Source::RegionsFile => "regions-file",
            Source::BuiltIn => "built-in",
        }
    }
}

/// One endpoint and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The base URL.
    pub url: Url,
    /// Its source.
    pub source: Source,
}

/// One region's endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionEndpoints {
    /// CBR v3.
    pub cbr: Endpoint,
    /// CSBS v1.
    pub csbs: Endpoint,
    /// IAM v3.
    pub iam: Endpoint,
}

/// What the table is resolved from.
#[derive(Debug, Default)]
pub struct RegionInputs<'a> {
    /// `HUAWEICLOUD_SDK_REGION`.
    pub default_region: Option<&'a str>,
    /// `CBR_ENDPOINT`.
    pub cbr_endpoint: Option<&'a Url>,
    /// `CSBS_ENDPOINT`.
    pub csbs_endpoint: Option<&'a Url>,
    /// `IAM_ENDPOINT`.
    pub iam_endpoint: Option<&'a Url>,
    /// The regions file: its path (for messages) and text.
    pub regions_file: Option<(&'a Path, &'a str)>,
    /// The process' environment variables (those not about regions are
    /// ignored).
    pub environment: Vec<(String, String)>,
}

/// Why the regions cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionError {
    /// The regions file is not the SDKs' YAML shape.
    #[error("regions file {path}: {reason}")]
    File {
        /// Its path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// An override is not an absolute http(s) URL.
    #[error("{name}: {value:?} is not an http(s) URL")]
    BadEndpoint {
        /// The variable or file entry.
        name: String,
        /// Its value.
        value: String,
    },
    /// `HUAWEICLOUD_SDK_REGION` names a region nothing knows.
    #[error("HUAWEICLOUD_SDK_REGION={0} is not a known region")]
    UnknownDefault(String),
}

/// Every known region with its endpoints, and the default one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionTable {
    /// None only when no cloud is configured at all.
    default: Option<String>,
    regions: BTreeMap<String, RegionEndpoints>,
}

/// `HUAWEICLOUD_SDK_REGION_{SERVICE}_{ID}`'s prefix.
const ENV_PREFIX: &str = "HUAWEICLOUD_SDK_REGION_";

/// The SDKs' regions file: service → list of `{id, endpoint | endpoints}`.
type RegionsFile = BTreeMap<String, Vec<FileRegion>>;

#[derive(Debug, serde::Deserialize)]
struct FileRegion {
    id: String,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    endpoints: Vec<String>,
}

fn endpoint_url(name: &str, raw: &str) -> Result<Url, RegionError> {
    // Several endpoints (the SDKs fail over between them): the first here.
    let first = raw.split(',').next().unwrap_or("").trim();
    Url::parse(first)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| RegionError::BadEndpoint {
            name: name.to_owned(),
            value: raw.to_owned(),
        })
}

/// The region a `cbr.{region}.…` host names.
pub fn region_of(url: &Url) -> Option<&str> {
    let rest = url.host_str()?.strip_prefix("cbr.")?;
    let region = rest.split('.').next()?;
    (!region.is_empty() && rest.len() > region.len()).then_some(region)
}

impl RegionTable {
    /// Resolves the table from `inputs` (the module's order of precedence).
    pub fn resolve(inputs: &RegionInputs<'_>) -> Result<Self, RegionError> {
        // (service, region) → endpoint, highest precedence last applied.
        let mut found: BTreeMap<(String, &'static str), Endpoint> = BTreeMap::new();
        let mut ids: Vec<String> = BUILT_IN.iter().map(|s| (*s).to_owned()).collect();
        for id in BUILT_IN {
            let cbr = format!("https://cbr.{id}.myhuaweicloud.com");
            let iam = IAM_EXCEPTIONS.iter().find(|(r, _)| r == id).map_or_else(
                || format!("https://iam.{id}.myhuaweicloud.com"),
                |(_, u)| (*u).to_owned(),
            );
            for (service, url) in [(RegionService::Cbr, cbr), (RegionService::Iam, iam)] {
                found.insert(
                    ((*id).to_owned(), service.name()),
                    Endpoint {
                        url: Url::parse(&url).expect("static URL"),
                        source: Source::BuiltIn,
                    },
                );
            }
        }
        if let Some((path, text)) = inputs.regions_file {
            let file_error = |reason: String| RegionError::File {
                path: path.display().to_string(),
                reason,
            };
            let file: RegionsFile = if text.trim().is_empty() {
                RegionsFile::new()
            } else {
                serde_yaml_ng::from_str(text).map_err(|e| file_error(e.to_string()))?
            };
            for (service, regions) in file {
                let Some(service) = RegionService::ALL
                    .into_iter()
                    .find(|s| s.name().eq_ignore_ascii_case(&service))
                else {
                    // Other services' regions: the SDKs' file may list them.
                    continue;
                };
                for r in regions {
                    let Some(raw) = r.endpoints.first().cloned().or(r.endpoint) else {
                        return Err(file_error(format!(
                            "{} region {} has no endpoint",
                            service.name(),
                            r.id
                        )));
                    };
                    let url = endpoint_url(&format!("{} {}", service.name(), r.id), &raw)?;
                    ids.push(r.id.clone());
                    found.insert(
                        (r.id, service.name()),
                        Endpoint {
                            url,
                            source: Source::RegionsFile,
                        },
                    );
                }
            }
        }
        for (name, value) in &inputs.environment {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let Some((service, id)) = RegionService::ALL.into_iter().find_map(|s| {
                rest.strip_prefix(s.name())
                    .and_then(|r| r.strip_prefix('_'))
                    .map(|id| (s, id))
            }) else {
                continue;
            };
            if id.is_empty() {
                continue;
            }
            // The variable's spelling of the ID (upper case, `_` for `-`).
            let id = id.to_ascii_lowercase().replace('_', "-");
            let url = endpoint_url(name, value)?;
            ids.push(id.clone());
            found.insert(
                (id, service.name()),
                Endpoint {
                    url,
                    source: Source::Environment,
                },
            );
        }
        let default = match (
            inputs.default_region,
            inputs.cbr_endpoint.and_then(region_of),
        ) {
            (Some(r), _) => Some(r.to_owned()),
            (None, Some(r)) => Some(r.to_owned()),
            (None, None) => inputs.cbr_endpoint.map(|_| UNNAMED_REGION.to_owned()),
        };
        for (service, setting) in [
            (RegionService::Cbr, inputs.cbr_endpoint),
            (RegionService::Csbs, inputs.csbs_endpoint),
            (RegionService::Iam, inputs.iam_endpoint),
        ] {
            if let (Some(url), Some(default)) = (setting, &default) {
                ids.push(default.clone());
                found.insert(
                    (default.clone(), service.name()),
                    Endpoint {
                        url: url.clone(),
                        source: Source::Setting,
                    },
                );
            }
        }
        ids.sort();
        ids.dedup();
        let mut regions = BTreeMap::new();
        for id in ids {
            let get = |s: RegionService| found.get(&(id.clone(), s.name())).cloned();
            // A region needs a CBR endpoint to be served.
            let Some(cbr) = get(RegionService::Cbr) else {
                continue;
            };
            let csbs = get(RegionService::Csbs).unwrap_or_else(|| beside(&cbr, "csbs"));
            let iam = get(RegionService::Iam).unwrap_or_else(|| beside(&cbr, "iam"));
            regions.insert(id, RegionEndpoints { cbr, csbs, iam });
        }
        if let Some(d) = &default
            && !regions.contains_key(d)
        {
            return Err(RegionError::UnknownDefault(d.clone()));
        }
        Ok(Self { default, regions })
    }

    /// The region used when a call names none (none when neither
    /// `HUAWEICLOUD_SDK_REGION` nor `CBR_ENDPOINT` is set).
    pub fn default_region(&self) -> Option<&str> {
        self.default.as_deref()
    }

    /// A region's endpoints.
    pub fn get(&self, region: &str) -> Option<&RegionEndpoints> {
        self.regions.get(region)
    }

    /// Every region, sorted, with its endpoints.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &RegionEndpoints)> {
        self.regions.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The table with only the regions in `ids` (the default one kept).
    pub fn only<'a>(mut self, ids: impl IntoIterator<Item = &'a str>) -> Self {
        let keep: Vec<&str> = ids.into_iter().collect();
        let default = self.default.clone();
        self.regions
            .retain(|id, _| keep.contains(&id.as_str()) || Some(id) == default.as_ref());
        self
    }

    /// The known region IDs, sorted and comma-separated (for messages).
    pub fn known(&self) -> String {
        self.regions.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// `service`'s endpoint beside CBR's: `cbr.` replaced by `service.` in the
/// host (an endpoint without that label is used as it is: one server for
/// all, as the simulator is).
fn beside(cbr: &Endpoint, service: &str) -> Endpoint {
    let mut url = cbr.url.clone();
    if let Some(rest) = cbr.url.host_str().and_then(|h| h.strip_prefix("cbr.")) {
        let _ = url.set_host(Some(&format!("{service}.{rest}")));
    }
    Endpoint {
        url,
        source: cbr.source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn built_in_regions_follow_the_sdks() {
        let t = RegionTable::resolve(&RegionInputs {
            default_region: Some("ap-southeast-1"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(t.default_region(), Some("ap-southeast-1"));
        assert_eq!(t.iter().count(), BUILT_IN.len());
        let r = t.get("cn-north-4").unwrap();
        assert_eq!(
            r.cbr.url.as_str(),
            "https://cbr.cn-north-4.myhuaweicloud.com/"
        );
        assert_eq!(
            r.csbs.url.as_str(),
            "https://csbs.cn-north-4.myhuaweicloud.com/"
        );
        assert_eq!(
            r.iam.url.as_str(),
            "https://iam.cn-north-4.myhuaweicloud.com/"
        );
        assert_eq!(
            t.get("eu-west-101").unwrap().iam.url.as_str(),
            "https://iam.eu-west-101.myhuaweicloud.eu/"
        );
        assert!(t.known().starts_with("ae-ad-1, af-north-1"));
    }

    #[test]
    fn environment_beats_the_file_which_beats_the_table() {
        let file = "CBR:\n  - id: cn-north-4\n    endpoint: https://cbr.file.example\n  - id: my-private-1\n    endpoints: [https://cbr.private.example, https://backup.example]\nIAM:\n  - id: cn-north-4\n    endpoint: https://iam.file.example\nECS:\n  - id: cn-north-4\n    endpoint: https://ecs.example\n";
        let t = RegionTable::resolve(&RegionInputs {
            default_region: Some("my-private-1"),
            regions_file: Some((Path::new("regions.yaml"), file)),
            environment: vec![
                (
                    "HUAWEICLOUD_SDK_REGION_CBR_CN_NORTH_4".into(),
                    "https://cbr.env.example".into(),
                ),
                (
                    "HUAWEICLOUD_SDK_REGION_CSBS_AP_SOUTHEAST_1".into(),
                    "https://csbs.env.example,https://x.example".into(),
                ),
                ("PATH".into(), "/bin".into()),
            ],
            ..Default::default()
        })
        .unwrap();
        let r = t.get("cn-north-4").unwrap();
        assert_eq!(
            (r.cbr.url.as_str(), r.cbr.source),
            ("https://cbr.env.example/", Source::Environment)
        );
        assert_eq!(
            (r.iam.url.as_str(), r.iam.source),
            ("https://iam.file.example/", Source::RegionsFile)
        );
        let p = t.get("my-private-1").unwrap();
        assert_eq!(p.cbr.url.as_str(), "https://cbr.private.example/");
        assert_eq!(p.csbs.url.as_str(), "https://csbs.private.example/");
        assert_eq!(
            t.get("ap-southeast-1").unwrap().csbs.url.as_str(),
            "https://csbs.env.example/"
        );
        assert_eq!(t.default_region(), Some("my-private-1"));
    }

    #[test]
    fn cbr_endpoint_is_the_default_regions_and_names_it() {
        let cbr = url("https://cbr.ap-southeast-3.myhuaweicloud.com");
        let t = RegionTable::resolve(&RegionInputs {
            cbr_endpoint: Some(&cbr),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(t.default_region(), Some("ap-southeast-3"));
        assert_eq!(t.get("ap-southeast-3").unwrap().cbr.source, Source::Setting);
        // A host that names no region (the simulator): the unnamed default.
        let local = url("http://127.0.0.1:8930");
        let t = RegionTable::resolve(&RegionInputs {
            cbr_endpoint: Some(&local),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(t.default_region(), Some(UNNAMED_REGION));
        let r = t.get(UNNAMED_REGION).unwrap();
        assert_eq!(r.csbs.url, local, "one server for all");
    }

    #[test]
    fn an_iam_override_of_a_built_in_region() {
        let t = RegionTable::resolve(&RegionInputs {
            default_region: Some("ap-southeast-1"),
            environment: vec![
                (
                    "HUAWEICLOUD_SDK_REGION_CBR_AP_SOUTHEAST_3".into(),
                    "http://127.0.0.1:9".into(),
                ),
                (
                    "HUAWEICLOUD_SDK_REGION_IAM_AP_SOUTHEAST_3".into(),
                    "http://127.0.0.1:9".into(),
                ),
            ],
            ..Default::default()
        })
        .unwrap();
        let r = t.get("ap-southeast-3").unwrap();
        assert_eq!(r.iam.url.as_str(), "http://127.0.0.1:9/");
        assert_eq!(r.iam.source, Source::Environment);
    }

    #[test]
    fn bad_inputs_are_named() {
        let err = RegionTable::resolve(&RegionInputs {
            default_region: Some("xx-nowhere-1"),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(err, RegionError::UnknownDefault("xx-nowhere-1".into()));
        let err = RegionTable::resolve(&RegionInputs {
            regions_file: Some((Path::new("r.yaml"), "CBR: [oops")),
            ..Default::default()
        })
        .unwrap_err();
        assert!(matches!(err, RegionError::File { .. }), "{err}");
        let err = RegionTable::resolve(&RegionInputs {
            environment: vec![(
                "HUAWEICLOUD_SDK_REGION_CBR_CN_NORTH_4".into(),
                "ftp://x".into(),
            )],
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "HUAWEICLOUD_SDK_REGION_CBR_CN_NORTH_4: \"ftp://x\" is not an http(s) URL"
        );
    }
}
