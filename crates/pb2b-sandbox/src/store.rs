//! The sandbox's state: records, the in-memory store and its optional SQLite mirror.

use crate::util::{fmt_ts, new_id, now_ms, sha256_hex, SplitMix};
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::Path;
use std::time::Instant;

pub const ALL_SCOPES: [&str; 12] = [
    "me.read",
    "leads.read",
    "leads.write",
    "leads.import",
    "leads.export",
    "lead-fields.read",
    "messages.read",
    "inbox.read",
    "webhooks.write",
    "billing.read",
    "campaigns.read",
    "prospector.read",
];

pub const KEY_NAMES: [&str; 6] = [
    "full",
    "read_only",
    "leads_read",
    "revoked",
    "expired",
    "full_2",
];

/// The workspace the sandbox serves: its id and name in `/me`, and the seed of its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// `ws_sandbox` for the default workspace, `ws_<slug>` for another.
    pub id: String,
    pub name: String,
    /// Empty for the default workspace.
    slug: String,
    /// The secret the keys are derived from: `None` for the documented keys (the same on every
    /// start, published in the docs), `Some` for keys no one else knows (the default).
    key_secret: Option<String>,
}

impl Workspace {
    /// The workspace named `slug` (`sandbox` is the default, documented one).
    pub fn new(slug: &str) -> Self {
        if slug.is_empty() || slug == "sandbox" {
            return Workspace {
                id: "ws_sandbox".into(),
                name: "Sandbox workspace".into(),
                slug: String::new(),
                key_secret: None,
            };
        }
        Workspace {
            id: format!("ws_{slug}"),
            name: format!("Sandbox workspace {slug}"),
            slug: slug.to_owned(),
            key_secret: None,
        }
    }

    /// The same workspace with keys derived from `secret` instead of the documented ones.
    pub fn with_key_secret(mut self, secret: String) -> Self {
        self.key_secret = Some(secret);
        self
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRec {
    pub name: String,
    pub id: String,
    pub token: String,
    pub scopes: Vec<String>,
    pub read_only: bool,
    pub revoked: bool,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl KeyRec {
    pub fn prefix(&self) -> &str {
        // pb2b_test_<prefix>_<secret>: everything before the secret.
        match self.token.rfind('_') {
            Some(i) => &self.token[..i],
            None => &self.token,
        }
    }
}

/// The keys of `ws`, derived from its key secret: without one, the documented keys (the same on
/// every start; another workspace's keys differ, so two sandboxes are two workspaces); with one,
/// keys only the holder of that secret can know.
pub fn default_keys(ws: &Workspace) -> Vec<KeyRec> {
    let created = 1_767_225_600_000; // 2026-01-01T00:00:00.000Z
    KEY_NAMES
        .iter()
        .map(|name| {
            let seed = match (&ws.key_secret, ws.slug.is_empty()) {
                (None, true) => format!("pb2b-sandbox-key:{name}"),
                (None, false) => format!("pb2b-sandbox-key:{}:{name}", ws.slug),
                (Some(secret), _) => format!("pb2b-sandbox-key:{secret}:{}:{name}", ws.slug),
            };
            let h = sha256_hex(seed.as_bytes());
            let token = format!("pb2b_test_{}_{}", &h[..8], &h[8..40]);
            let scopes: Vec<String> = match *name {
                "leads_read" => vec!["me.read".into(), "leads.read".into()],
                _ => ALL_SCOPES.iter().map(|s| s.to_string()).collect(),
            };
            KeyRec {
                name: name.to_string(),
                id: format!("key_{}", &h[40..56]),
                token,
                scopes,
                read_only: *name == "read_only",
                revoked: *name == "revoked",
                expires_at: (*name == "expired").then_some(1_767_312_000_000), // 2026-01-02
                created_at: created,
                updated_at: created,
            }
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Lead {
    pub id: String,
    pub object: String,
    pub full_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: String,
    pub phone: Option<String>,
    pub job_title: Option<String>,
    pub company_name: Option<String>,
    pub company_domain: Option<String>,
    pub linkedin_url: Option<String>,
    pub status: String,
    pub source: String,
    /// Kept as compact JSON text: a parsed map costs ~600 bytes per lead (1M leads = 600 MB).
    pub custom_fields: Box<RawValue>,
    #[serde(with = "ts")]
    pub created_at: i64,
    #[serde(with = "ts")]
    pub updated_at: i64,
}

/// Timestamps as strings on the wire and in the SQLite mirror.
pub mod ts {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::util::fmt_ts(*v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let s = String::deserialize(d)?;
        crate::util::parse_ts(&s).ok_or_else(|| serde::de::Error::custom("bad timestamp"))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportRec {
    pub id: String,
    pub status: String,
    pub format: String,
    pub updated_after: Option<i64>,
    pub fields: Vec<String>,
    pub row_count: Option<u64>,
    pub file_name: Option<String>,
    pub byte_size: Option<u64>,
    pub error_message: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub completed_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub fail: bool,
}

impl ExportRec {
    pub fn public(&self) -> Value {
        let opt = |v: Option<i64>| v.map(fmt_ts);
        serde_json::json!({
            "id": self.id,
            "object": "export",
            "status": self.status,
            "format": self.format,
            "filters": {"updated_after": opt(self.updated_after)},
            "fields": self.fields,
            "row_count": self.row_count,
            "file_name": self.file_name,
            "error_message": self.error_message,
            "created_at": fmt_ts(self.created_at),
            "updated_at": fmt_ts(self.updated_at),
            "completed_at": opt(self.completed_at),
            "expires_at": opt(self.expires_at),
        })
    }
}

/// The key of [`Store::by_email`]: addresses are ASCII (the `email` pattern), compared without case.
pub fn email_key(email: &str) -> String {
    email.to_ascii_lowercase()
}

/// A bulk import job (POST /imports) and, once processed, its rows' results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportRec {
    pub id: String,
    pub status: String,
    pub mode: String,
    pub client_reference: Option<String>,
    pub total: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: u64,
    /// The rows still to process (emptied once the job ends).
    pub rows: Vec<Value>,
    /// One per processed row, in order.
    pub results: Vec<ImportRow>,
    pub fail: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub completed_at: Option<i64>,
}

/// One row of an import job's results, serialized as `GET /imports/{id}/results` lists it (and
/// as a job saved with `--data` keeps it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportRow {
    pub index: u64,
    pub result: String,
    pub lead_id: Option<String>,
    pub error: Option<Value>,
}

impl ImportRec {
    pub fn public(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "object": "import",
            "status": self.status,
            "mode": self.mode,
            "client_reference": self.client_reference,
            "total": self.total,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "created_at": fmt_ts(self.created_at),
            "updated_at": fmt_ts(self.updated_at),
            "completed_at": self.completed_at.map(fmt_ts),
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookRec {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub enabled: bool,
    pub description: Option<String>,
    pub secret: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl WebhookRec {
    pub fn public(&self, with_secret: bool) -> Value {
        let mut v = serde_json::json!({
            "id": self.id,
            "object": "webhook",
            "url": self.url,
            "events": self.events,
            "enabled": self.enabled,
            "description": self.description,
            "signing_secret_prefix": self.secret.chars().take(12).collect::<String>(),
            "created_at": fmt_ts(self.created_at),
            "updated_at": fmt_ts(self.updated_at),
        });
        if with_secret {
            v["signing_secret"] = Value::String(self.secret.clone());
        }
        v
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryRec {
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    /// The raw body that is signed and sent.
    pub payload: String,
    pub status: String,
    pub attempt_count: u32,
    pub response_status_code: Option<u16>,
    pub response_body_snippet: Option<String>,
    pub error_message: Option<String>,
    pub next_attempt_at: Option<i64>,
    pub last_attempt_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl DeliveryRec {
    pub fn public(&self) -> Value {
        let opt = |v: Option<i64>| v.map(fmt_ts);
        serde_json::json!({
            "id": self.id,
            "object": "webhook_delivery",
            "webhook_id": self.webhook_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "status": self.status,
            "attempt_count": self.attempt_count,
            "response_status_code": self.response_status_code,
            "response_body_snippet": self.response_body_snippet,
            "error_message": self.error_message,
            "next_attempt_at": opt(self.next_attempt_at),
            "last_attempt_at": opt(self.last_attempt_at),
            "created_at": fmt_ts(self.created_at),
            "updated_at": fmt_ts(self.updated_at),
        })
    }
}

/// What makes two requests under one Idempotency-Key "the same request": the method, the path
/// and the body as JSON (so the order of its members and its spacing do not count), as the
/// SHA-256 of `{"body":…,"method":…,"path":…}` written by `serde_json` (an object's members
/// sorted). A digest rather than the request: a bulk import's body is up to 1,000 leads, and
/// copying it for every key kept was an eighth of the sandbox's work on such a job.
pub fn fingerprint(method: &str, path: &str, body: &Map<String, Value>) -> String {
    #[derive(Serialize)]
    struct Request<'a> {
        body: &'a Map<String, Value>,
        method: &'a str,
        path: &'a str,
    }
    sha256_of_json(&Request { body, method, path })
}

/// SHA-256 (hex) of `v` written by `serde_json`.
fn sha256_of_json<T: Serialize>(v: &T) -> String {
    use sha2::Digest;
    struct W(sha2::Sha256);
    impl std::io::Write for W {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.update(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    // serde_json writes a token at a time; hashed unbuffered, the per-call overhead of
    // `update` cost more than the hashing on a 1,000-row import body.
    let mut w = std::io::BufWriter::with_capacity(16 * 1024, W(sha2::Sha256::new()));
    // Writing JSON into a hasher cannot fail.
    let _ = serde_json::to_writer(&mut w, v);
    match w.into_inner() {
        Ok(w) => hex::encode(w.0.finalize()),
        Err(_) => unreachable!("flushing into a hasher cannot fail"),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdemDone {
    pub status: u16,
    pub body: String,
    pub request_id: String,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub enum IdemState {
    InFlight,
    Done(IdemDone),
}

#[derive(Debug, Clone)]
pub struct IdemEntry {
    /// [`fingerprint`] of the request that reserved the key.
    pub fingerprint: String,
    pub state: IdemState,
}

/// Everything the sandbox knows. Guarded by one mutex, never held across an await.
pub struct Store {
    pub workspace: Workspace,
    pub keys: Vec<KeyRec>,
    /// Boxed: a lead is ~350 bytes, and growing the map moved every one of them into a freshly
    /// faulted table, 17.7% of all samples in a profile of a 200,000-row bulk import
    /// (`docs/PERFORMANCE.md`, issue 12, seventh round). Boxed, a rehash moves 32-byte entries.
    ///
    /// This map and `by_email` hash with foldhash, not the standard library's SipHash: SipHash
    /// of the ids and addresses was ~7% of the sandbox's samples on a bulk import (issue 12,
    /// eighth round), and a local sandbox needs no defence against hash flooding beyond
    /// foldhash's per-process seed.
    pub leads: FastMap<String, Box<Lead>>,
    pub order: BTreeSet<(i64, String)>,
    /// Lead ids by e-mail address in lower case (the upsert's match).
    pub by_email: FastMap<String, Vec<String>>,
    pub imports: HashMap<String, ImportRec>,
    pub exports: HashMap<String, ExportRec>,
    pub export_files: HashMap<String, bytes_like::Bytes>,
    pub webhooks: HashMap<String, WebhookRec>,
    pub deliveries: HashMap<String, DeliveryRec>,
    pub idem: HashMap<(String, String), IdemEntry>,
    pub rate: HashMap<String, VecDeque<Instant>>,
    pub burst: HashMap<String, u32>,
    pub fault_rng: SplitMix,
    pub db: Option<Db>,
}

/// A hash map with foldhash's per-process seeded hasher (see [`Store::leads`]).
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

pub mod bytes_like {
    pub type Bytes = std::sync::Arc<Vec<u8>>;
}

impl Store {
    pub fn new(workspace: Workspace, fault_seed: u64, db: Option<Db>) -> Self {
        Store {
            keys: default_keys(&workspace),
            workspace,
            leads: FastMap::default(),
            order: BTreeSet::new(),
            by_email: FastMap::default(),
            imports: HashMap::new(),
            exports: HashMap::new(),
            export_files: HashMap::new(),
            webhooks: HashMap::new(),
            deliveries: HashMap::new(),
            idem: HashMap::new(),
            rate: HashMap::new(),
            burst: HashMap::new(),
            fault_rng: SplitMix::new(fault_seed),
            db,
        }
    }

    pub fn insert_lead(&mut self, lead: Lead) {
        self.index(&lead);
        if let Some(db) = &self.db {
            db.put("lead", &lead.id, &lead);
        }
        self.leads.insert(lead.id.clone(), Box::new(lead));
    }

    /// Keeps `order` and `by_email` in step with `lead` (before it replaces its old version).
    fn index(&mut self, lead: &Lead) {
        if let Some(old) = self.leads.get(&lead.id) {
            self.order.remove(&(old.updated_at, old.id.clone()));
            if !old.email.eq_ignore_ascii_case(&lead.email) {
                let key = email_key(&old.email);
                if let Some(ids) = self.by_email.get_mut(&key) {
                    ids.retain(|i| i != &old.id);
                    if ids.is_empty() {
                        self.by_email.remove(&key);
                    }
                }
            }
        }
        self.order.insert((lead.updated_at, lead.id.clone()));
        let ids = self.by_email.entry(email_key(&lead.email)).or_default();
        if !ids.contains(&lead.id) {
            ids.push(lead.id.clone());
        }
    }

    /// The ids of the leads whose e-mail address is `email` (case-insensitive).
    pub fn ids_by_email(&self, email: &str) -> Vec<String> {
        let mut ids = self
            .by_email
            .get(&email_key(email))
            .cloned()
            .unwrap_or_default();
        ids.sort();
        ids
    }

    pub fn put<T: Serialize>(&self, kind: &str, id: &str, v: &T) {
        if let Some(db) = &self.db {
            db.put(kind, id, v);
        }
    }

    pub fn del(&self, kind: &str, id: &str) {
        if let Some(db) = &self.db {
            db.del(kind, id);
        }
    }

    /// Wipes everything but the keys' identities (scopes are restored to their defaults).
    pub fn reset(&mut self) {
        self.keys = default_keys(&self.workspace);
        self.leads.clear();
        self.order.clear();
        self.by_email.clear();
        self.imports.clear();
        self.exports.clear();
        self.export_files.clear();
        self.webhooks.clear();
        self.deliveries.clear();
        self.idem.clear();
        self.rate.clear();
        self.burst.clear();
        if let Some(db) = &self.db {
            db.clear();
            for k in &self.keys {
                db.put("key", &k.name, k);
            }
        }
    }

    /// Loads the SQLite mirror (if any) into memory.
    pub fn load(&mut self) -> Result<bool, rusqlite::Error> {
        let Some(db) = &self.db else {
            return Ok(false);
        };
        let rows = db.all()?;
        let had_data = !rows.is_empty();
        let mut keys: HashMap<String, KeyRec> = HashMap::new();
        for (kind, id, json) in rows {
            match kind.as_str() {
                "key" => {
                    if let Ok(k) = serde_json::from_str::<KeyRec>(&json) {
                        keys.insert(k.name.clone(), k);
                    }
                }
                "lead" => {
                    if let Ok(l) = serde_json::from_str::<Lead>(&json) {
                        self.order.insert((l.updated_at, l.id.clone()));
                        self.leads.insert(l.id.clone(), Box::new(l));
                    }
                }
                "import" => {
                    if let Ok(i) = serde_json::from_str::<ImportRec>(&json) {
                        self.imports.insert(i.id.clone(), i);
                    }
                }
                "export" => {
                    if let Ok(e) = serde_json::from_str::<ExportRec>(&json) {
                        self.exports.insert(e.id.clone(), e);
                    }
                }
                "export_file" => {
                    if let Ok(s) = serde_json::from_str::<String>(&json) {
                        self.export_files
                            .insert(id.clone(), std::sync::Arc::new(s.into_bytes()));
                    }
                }
                "webhook" => {
                    if let Ok(w) = serde_json::from_str::<WebhookRec>(&json) {
                        self.webhooks.insert(w.id.clone(), w);
                    }
                }
                "delivery" => {
                    if let Ok(d) = serde_json::from_str::<DeliveryRec>(&json) {
                        self.deliveries.insert(d.id.clone(), d);
                    }
                }
                "idem" => {
                    #[derive(Deserialize)]
                    struct Stored {
                        api_key: String,
                        key: String,
                        fingerprint: Value,
                        done: IdemDone,
                    }
                    if let Ok(s) = serde_json::from_str::<Stored>(&json) {
                        let fingerprint = match s.fingerprint {
                            Value::String(f) => f,
                            // Saved by a version that kept the request itself.
                            old => sha256_of_json(&old),
                        };
                        self.idem.insert(
                            (s.api_key, s.key),
                            IdemEntry {
                                fingerprint,
                                state: IdemState::Done(s.done),
                            },
                        );
                    }
                }
                _ => {}
            }
        }
        for k in self.keys.iter_mut() {
            if let Some(stored) = keys.remove(&k.name) {
                if stored.token == k.token {
                    *k = stored;
                } else {
                    // Saved under other keys (an older version's documented keys, or the other
                    // key mode): the key's settings stay, its token is this start's.
                    k.scopes = stored.scopes;
                    k.read_only = stored.read_only;
                    k.updated_at = stored.updated_at;
                    db.put("key", &k.name, k);
                }
            }
        }
        if !had_data {
            for k in &self.keys {
                db.put("key", &k.name, k);
            }
        }
        for l in self.leads.values() {
            self.by_email
                .entry(email_key(&l.email))
                .or_default()
                .push(l.id.clone());
        }
        Ok(had_data)
    }
}

/// The optional SQLite mirror: one key-value table of JSON documents.
pub struct Db {
    conn: std::sync::Mutex<Connection>,
}

impl Db {
    pub fn open(path: &Path) -> Result<Db, rusqlite::Error> {
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS docs (kind TEXT NOT NULL, id TEXT NOT NULL, json TEXT NOT NULL,
               PRIMARY KEY (kind, id));
             CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);",
        )?;
        Ok(Db {
            conn: std::sync::Mutex::new(conn),
        })
    }

    fn with<R>(&self, f: impl FnOnce(&Connection) -> R) -> R {
        let guard = match self.conn.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&guard)
    }

    pub fn put<T: Serialize>(&self, kind: &str, id: &str, v: &T) {
        let Ok(json) = serde_json::to_string(v) else {
            return;
        };
        let r = self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO docs (kind, id, json) VALUES (?1, ?2, ?3)",
                params![kind, id, json],
            )
        });
        if let Err(e) = r {
            tracing::error!(error = %e, kind, "sqlite write failed");
        }
    }

    pub fn put_many(&self, kind: &str, items: &[(String, String)]) {
        let r = self.with(|c| -> Result<(), rusqlite::Error> {
            c.execute_batch("BEGIN")?;
            {
                let mut st = c.prepare_cached(
                    "INSERT OR REPLACE INTO docs (kind, id, json) VALUES (?1, ?2, ?3)",
                )?;
                for (id, json) in items {
                    st.execute(params![kind, id, json])?;
                }
            }
            c.execute_batch("COMMIT")
        });
        if let Err(e) = r {
            tracing::error!(error = %e, kind, "sqlite batch write failed");
        }
    }

    pub fn del(&self, kind: &str, id: &str) {
        let r = self.with(|c| {
            c.execute(
                "DELETE FROM docs WHERE kind=?1 AND id=?2",
                params![kind, id],
            )
        });
        if let Err(e) = r {
            tracing::error!(error = %e, kind, "sqlite delete failed");
        }
    }

    pub fn clear(&self) {
        let r = self.with(|c| c.execute("DELETE FROM docs", []));
        if let Err(e) = r {
            tracing::error!(error = %e, "sqlite clear failed");
        }
    }

    pub fn all(&self) -> Result<Vec<(String, String, String)>, rusqlite::Error> {
        self.with(|c| {
            let mut st = c.prepare("SELECT kind, id, json FROM docs ORDER BY kind, id")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })
    }

    pub fn meta_get_or_set(&self, k: &str, default: String) -> String {
        self.with(|c| {
            let existing: Option<String> = c
                .query_row("SELECT v FROM meta WHERE k=?1", params![k], |r| r.get(0))
                .ok();
            match existing {
                Some(v) => v,
                None => {
                    let _ = c.execute(
                        "INSERT INTO meta (k, v) VALUES (?1, ?2)",
                        params![k, default],
                    );
                    default
                }
            }
        })
    }
}

const FIRST: [&str; 24] = [
    "Ada",
    "Grace",
    "Alan",
    "Katherine",
    "Linus",
    "Margaret",
    "Dennis",
    "Barbara",
    "Ken",
    "Radia",
    "Tim",
    "Frances",
    "John",
    "Hedy",
    "Edsger",
    "Annie",
    "Donald",
    "Sophie",
    "Claude",
    "Joan",
    "Niklaus",
    "Lynn",
    "Bjarne",
    "Shafi",
];
const LAST: [&str; 24] = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Johnson",
    "Torvalds",
    "Hamilton",
    "Ritchie",
    "Liskov",
    "Thompson",
    "Perlman",
    "Berners-Lee",
    "Allen",
    "Backus",
    "Lamarr",
    "Dijkstra",
    "Easley",
    "Knuth",
    "Wilson",
    "Shannon",
    "Clarke",
    "Wirth",
    "Conway",
    "Stroustrup",
    "Goldwasser",
];
const COMPANIES: [(&str, &str); 12] = [
    ("Analytical Engine Inc.", "analytical-engine.example"),
    ("Northwind Traders", "northwind.example"),
    ("Contoso Ltd", "contoso.example"),
    ("Fabrikam GmbH", "fabrikam.example"),
    ("Initech", "initech.example"),
    ("Globex Corporation", "globex.example"),
    ("Umbrella Logistics", "umbrella-logistics.example"),
    ("Stark Components", "stark-components.example"),
    ("Wayne Analytics", "wayne-analytics.example"),
    ("Tyrell Robotics", "tyrell.example"),
    ("Soylent Foods", "soylent.example"),
    ("Hooli", "hooli.example"),
];
const TITLES: [&str; 8] = [
    "Head of Sales",
    "CTO",
    "Procurement Manager",
    "VP Marketing",
    "Operations Lead",
    "Founder & CEO",
    "Data Engineer",
    "Account Executive",
];
const STATUSES: [&str; 6] = [
    "new",
    "contacted",
    "qualified",
    "unqualified",
    "customer",
    "lost",
];

/// A plausible lead for demos, bulk inserts and benchmarks.
pub fn generated_lead(rng: &mut SplitMix, n: u64, ts: i64, source: &str) -> Lead {
    let first = FIRST[rng.below(FIRST.len())];
    let last = LAST[rng.below(LAST.len())];
    let (company, domain) = COMPANIES[rng.below(COMPANIES.len())];
    let slug = |s: &str| s.to_ascii_lowercase().replace(' ', "-");
    let mut custom = Map::new();
    custom.insert("score".into(), Value::from(rng.below(100) as u64));
    Lead {
        id: new_id("lead_", 20),
        object: "lead".into(),
        full_name: Some(format!("{first} {last}")),
        first_name: Some(first.into()),
        last_name: Some(last.into()),
        email: format!("{}.{}{}@{}", slug(first), slug(last), n, domain),
        phone: Some(format!("+1 555 01{:02}", rng.below(100))),
        job_title: Some(TITLES[rng.below(TITLES.len())].into()),
        company_name: Some(company.into()),
        company_domain: Some(domain.into()),
        linkedin_url: Some(format!(
            "https://www.linkedin.com/in/{}-{}-{n}",
            slug(first),
            slug(last)
        )),
        status: STATUSES[rng.below(STATUSES.len())].into(),
        source: source.into(),
        custom_fields: raw_object(&custom),
        created_at: ts,
        updated_at: ts,
    }
}

/// 40 demo leads spread over the last 30 days (deterministic content, fresh ids).
pub fn seed_demo(store: &mut Store) {
    let mut rng = SplitMix::new(42);
    let now = now_ms();
    let mut leads = Vec::new();
    for n in 0..40u64 {
        let ts = now - (40 - n as i64) * 18 * 3_600_000 - rng.below(3_600_000) as i64;
        leads.push(generated_lead(&mut rng, n + 1, ts, "demo"));
    }
    insert_many(store, leads);
}

pub fn insert_many(store: &mut Store, leads: Vec<Lead>) {
    if let Some(db) = &store.db {
        let items: Vec<(String, String)> = leads
            .iter()
            .filter_map(|l| serde_json::to_string(l).ok().map(|j| (l.id.clone(), j)))
            .collect();
        db.put_many("lead", &items);
    }
    for l in leads {
        store.index(&l);
        store.leads.insert(l.id.clone(), Box::new(l));
    }
}

/// A JSON object as compact raw text.
pub fn raw_object(m: &Map<String, Value>) -> Box<RawValue> {
    match serde_json::value::to_raw_value(m) {
        Ok(v) => v,
        // Serializing a Map of JSON values cannot fail; fall back to an empty object anyway.
        Err(_) => empty_object(),
    }
}

pub fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_string()).unwrap_or_else(|_| Box::<RawValue>::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key saved by a version that kept the request itself (`{"method", "path", "body"}` as a
    /// `Value`) gets, when loaded, the digest the same request gets now: a replay after an
    /// upgrade is still a replay, and another request under that key still a conflict.
    #[test]
    fn a_fingerprint_saved_as_the_request_loads_as_its_digest() {
        let body: Map<String, Value> = serde_json::from_str(
            r#"{"leads":[{"email":"a@example.com","custom_fields":{"z":1,"a":[true,null]}}],"mode":"create"}"#,
        )
        .unwrap();
        let old = serde_json::json!({"method": "POST", "path": "/imports", "body": body.clone()});
        assert_eq!(sha256_of_json(&old), fingerprint("POST", "/imports", &body));
        assert_ne!(
            fingerprint("POST", "/imports", &body),
            fingerprint("POST", "/leads", &body)
        );
        let reordered: Map<String, Value> = serde_json::from_str(
            r#"{ "mode": "create", "leads": [ {"custom_fields":{"a":[true,null],"z":1},"email":"a@example.com"} ] }"#,
        )
        .unwrap();
        assert_eq!(
            fingerprint("POST", "/imports", &body),
            fingerprint("POST", "/imports", &reordered)
        );
    }
}
