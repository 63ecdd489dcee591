//! Huawei's published definitions of the CBR API: API Explorer's Swagger 2.0
//! documents, one per operation, as the `huawei-cloud-api-definitions-CBR`
//! dev-dependency ships them (`src/{Operation}.json`).
//!
//! The crate is found where cargo unpacked it (`cargo metadata`), so
//! the version read is exactly the one Cargo.toml pins and Cargo.lock locks.
//! Only the JSON documents are read: the crate's generated types would need
//! one cargo feature per operation and say nothing the documents do not.
//!
//! Besides finding an operation by method and path, this module walks a
//! document's schemas ([`Schema`]) and checks a JSON value against one
//! ([`validate`]): the subset of JSON Schema Swagger 2.0 uses here (`$ref`
//! to `#/definitions`, `type`, `properties`, `items`, `required`, `enum`,
//! `format` `int32`/`int64`/`date-time`/`date`). A crate validator would
//! answer in its own terms; the findings here name the definition and
//! property they are about (`BackupResp.resource_size`), which is what the
//! named quirks in `exceptions.rs` are written against.

use std::{collections::BTreeMap, path::PathBuf, process::Command, sync::OnceLock};

use serde_json::Value;

/// The definitions crate's package name.
const CRATE: &str = "huawei-cloud-api-definitions-CBR";

/// Every operation document of the pinned definitions crate.
pub struct Definitions {
    /// The crate's version, e.g. `0.1.20261030`.
    pub version: String,
    /// Documents by operation name (`ShowBackup`).
    pub documents: BTreeMap<String, Value>,
}

/// The definitions, read once per test binary.
pub fn definitions() -> &'static Definitions {
    static DEFINITIONS: OnceLock<Definitions> = OnceLock::new();
    DEFINITIONS.get_or_init(load)
}

/// The host's target triple, from `rustc -vV`.
fn host() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).arg("-vV").output().expect("rustc runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_owned()
}

fn load() -> Definitions {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // For the host only: the build downloaded exactly those packages, so
    // this reads what is on disk (all platforms would fetch Windows crates).
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .args(["--filter-platform", &host()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata is JSON");
    let package = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == CRATE)
        .unwrap_or_else(|| panic!("{CRATE} is a dev-dependency"));
    let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap());
    let dir = manifest.parent().unwrap().join("src");
    let mut documents = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            let doc: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            documents.insert(name, doc);
        }
    }
    assert!(!documents.is_empty(), "no documents in {}", dir.display());
    Definitions {
        version: package["version"].as_str().unwrap().to_owned(),
        documents,
    }
}

/// One operation of one document.
#[derive(Clone, Copy)]
pub struct Operation<'a> {
    /// Its name (`ShowBackup`).
    pub name: &'a str,
    doc: &'a Value,
    op: &'a Value,
}

impl Definitions {
    /// The operation answering `method` on the path template `template`
    /// (`/v3/{project_id}/backups`), as `cbr_wire` spells both.
    pub fn operation(&self, method: &str, template: &str) -> Option<Operation<'_>> {
        self.documents.iter().find_map(|(name, doc)| {
            let op = doc["paths"]
                .get(template)?
                .get(method.to_ascii_lowercase())?;
            Some(Operation { name, doc, op })
        })
    }
}

impl<'a> Operation<'a> {
    /// Its parameters in `location` (`query`, `path`, `body`, `header`).
    pub fn parameters(&self, location: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(move |p| p["in"] == location)
    }

    /// The success answer: its status and its body's schema, if it has one.
    pub fn success(&self) -> (u16, Option<Schema<'a>>) {
        let responses = self.op["responses"].as_object().expect("responses");
        let (status, response) = responses
            .iter()
            .find(|(code, _)| code.starts_with('2'))
            .expect("a 2xx answer");
        let schema = response.get("schema").map(|s| self.schema(s));
        (status.parse().unwrap(), schema)
    }

    /// The request body's schema, if the operation takes one.
    pub fn body(&self) -> Option<Schema<'a>> {
        self.parameters("body")
            .next()
            .map(|p| self.schema(&p["schema"]))
    }

    /// A schema node of this operation's document.
    pub fn schema(&self, node: &'a Value) -> Schema<'a> {
        Schema {
            doc: self.doc,
            node,
            name: None,
        }
        .resolved()
    }
}

/// What a schema node describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Has `properties` (or says `object`).
    Object,
    /// Has `items` (or says `array`).
    Array,
    /// A string, number, integer or boolean.
    Scalar,
}

/// A schema node, `$ref`s followed, with the name of the definition it is
/// (if it is one).
#[derive(Clone, Copy)]
pub struct Schema<'a> {
    doc: &'a Value,
    node: &'a Value,
    /// The definition's name (`BackupResp`); `None` for inline schemas.
    pub name: Option<&'a str>,
}

impl<'a> Schema<'a> {
    fn resolved(self) -> Schema<'a> {
        match self.node["$ref"].as_str() {
            Some(r) => {
                let name = r.trim_start_matches("#/definitions/");
                let node = &self.doc["definitions"][name];
                assert!(node.is_object(), "dangling $ref {r}");
                Schema {
                    doc: self.doc,
                    node,
                    name: Some(name),
                }
                .resolved()
            }
            None => self,
        }
    }

    fn child(&self, node: &'a Value) -> Schema<'a> {
        Schema {
            doc: self.doc,
            node,
            name: None,
        }
        .resolved()
    }

    /// Object, array or scalar.
    pub fn kind(&self) -> Kind {
        match self.node["type"].as_str() {
            Some("array") => Kind::Array,
            Some("object") => Kind::Object,
            Some(_) => Kind::Scalar,
            None if self.node.get("items").is_some() => Kind::Array,
            None => Kind::Object,
        }
    }

    /// `type`, if it says one.
    pub fn json_type(&self) -> Option<&'a str> {
        self.node["type"].as_str()
    }

    /// `format`, if it says one.
    pub fn format(&self) -> Option<&'a str> {
        self.node["format"].as_str()
    }

    /// The properties of an object, in the document's order.
    pub fn properties(&self) -> Vec<(&'a str, Schema<'a>)> {
        self.node["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), self.child(v)))
            .collect()
    }

    /// The items of an array.
    pub fn items(&self) -> Option<Schema<'a>> {
        self.node.get("items").map(|i| self.child(i))
    }

    /// Whether `property` is required.
    pub fn requires(&self, property: &str) -> bool {
        self.node["required"]
            .as_array()
            .is_some_and(|r| r.iter().any(|p| p == property))
    }

    /// The allowed values, if it is an enum.
    pub fn allowed(&self) -> Option<&'a Vec<Value>> {
        self.node["enum"].as_array()
    }
}

/// One way a JSON value differs from its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// The definition says `expected`; the value is a `found`.
    Type {
        expected: &'static str,
        found: &'static str,
    },
    /// A required property is absent.
    Missing,
    /// A required property is `null`.
    Null,
    /// A value outside the enum.
    NotInEnum(String),
    /// A string (the second) that is not the `format` (the first) it should be.
    Format(&'static str, String),
    /// An integer outside its `format`'s range.
    Range(&'static str),
    /// A request property the definition does not have.
    Unknown,
    /// A body where the definition's answer has none.
    Body,
}

/// A difference between a value and its schema.
#[derive(Debug, Clone)]
pub struct Finding {
    /// Where in the value: `$.backups[3].extend_info.supported_restore_mode`.
    pub at: String,
    /// Which property of which definition: `BackupExtendInfo.supported_restore_mode`
    /// (an inline object is named after its parent: `OpExtraInfo.backup.incremental`).
    pub key: String,
    /// What differs.
    pub violation: Violation,
}

/// How strict [`validate`] is about properties the schema does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    /// Answers: upstream adds fields before documenting them, and a client
    /// must ignore them.
    Allowed,
    /// Requests: a property upstream does not define is a malformed request.
    Refused,
}

/// Every difference between `value` and `schema`.
///
/// `null` stands for "absent" where a property is optional: Swagger 2.0 has
/// no `nullable`, Huawei's answers write `null` for what they do not have,
/// and Huawei's SDKs read it as absent. Where a property is required, a
/// `null` is a [`Violation::Null`].
pub fn validate(schema: Schema<'_>, value: &Value, extra: Extra) -> Vec<Finding> {
    let mut out = Vec::new();
    let key = schema.name.unwrap_or("$").to_owned();
    check(schema, value, "$", &key, extra, &mut out);
    out
}

fn found(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check(
    schema: Schema<'_>,
    value: &Value,
    at: &str,
    key: &str,
    extra: Extra,
    out: &mut Vec<Finding>,
) {
    let mut report = |violation| {
        out.push(Finding {
            at: at.to_owned(),
            key: key.to_owned(),
            violation,
        })
    };
    let expected: &'static str = match (schema.kind(), schema.json_type()) {
        (Kind::Object, _) => "object",
        (Kind::Array, _) => "array",
        (Kind::Scalar, Some("string")) => "string",
        (Kind::Scalar, Some("integer")) => "integer",
        (Kind::Scalar, Some("number")) => "number",
        (Kind::Scalar, Some("boolean")) => "boolean",
        (Kind::Scalar, other) => panic!("{key}: unknown type {other:?}"),
    };
    let actual = found(value);
    let fits = actual == expected || (expected == "number" && actual == "integer");
    if !fits {
        report(Violation::Type {
            expected,
            found: actual,
        });
        return;
    }
    match value {
        Value::Object(fields) => {
            let properties = schema.properties();
            for (name, property) in &properties {
                let (child_at, child_key) = (format!("{at}.{name}"), format!("{key}.{name}"));
                let violation = match fields.get(*name) {
                    None | Some(Value::Null) if !schema.requires(name) => continue,
                    None => Violation::Missing,
                    Some(Value::Null) => Violation::Null,
                    Some(v) => {
                        // A named definition starts a key of its own.
                        let next = property.name.map_or(child_key, str::to_owned);
                        check(*property, v, &child_at, &next, extra, out);
                        continue;
                    }
                };
                out.push(Finding {
                    at: child_at,
                    key: child_key,
                    violation,
                });
            }
            if extra == Extra::Refused {
                for name in fields.keys() {
                    if !properties.iter().any(|(p, _)| p == name) {
                        out.push(Finding {
                            at: format!("{at}.{name}"),
                            key: format!("{key}.{name}"),
                            violation: Violation::Unknown,
                        });
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.items() {
                let next = item.name.map_or_else(|| format!("{key}[]"), str::to_owned);
                for (i, v) in items.iter().enumerate() {
                    check(item, v, &format!("{at}[{i}]"), &next, extra, out);
                }
            }
        }
        Value::String(s) => {
            if let Some(allowed) = schema.allowed()
                && !allowed.iter().any(|a| a == value)
            {
                report(Violation::NotInEnum(s.clone()));
            }
            match schema.format() {
                Some("date-time") if chrono::DateTime::parse_from_rfc3339(s).is_err() => {
                    report(Violation::Format("date-time", s.clone()))
                }
                Some("date") if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_err() => {
                    report(Violation::Format("date", s.clone()))
                }
                _ => {}
            }
        }
        Value::Number(n) => {
            if let Some(allowed) = schema.allowed()
                && !allowed.iter().any(|a| a == value)
            {
                report(Violation::NotInEnum(n.to_string()));
            }
            if expected == "integer" {
                let fits = match schema.format() {
                    Some("int32") => n.as_i64().is_some_and(|v| i32::try_from(v).is_ok()),
                    _ => n.as_i64().is_some(),
                };
                if !fits {
                    let format = if schema.format() == Some("int32") {
                        "int32"
                    } else {
                        "int64"
                    };
                    report(Violation::Range(format));
                }
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
}
