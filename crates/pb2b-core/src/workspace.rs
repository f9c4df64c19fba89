//! The open workspace: where the app and the CLI start, the same way.
//!
//! A [`DataFolder`] is the folder the app and every `pb2b` process share: the profiles file, the
//! keychain entries, the SQLite store. [`Workspace::open`] turns a [`Credentials`] (a profile, or
//! `PB2B_API_KEY`/`PB2B_BASE_URL`) into a client whose every exchange lands in the request log,
//! verifies it with `/me`, and from then on hands out the jobs already scoped to that workspace:
//! the mirror, imports, exports. A job records its [`Owner`] (workspace id and key prefix) when
//! it is created, and a workspace refuses to touch another workspace's job.
//!
//! | question | the one rule |
//! | --- | --- |
//! | where the data folder is | `--data-dir`/`PB2B_DATA_DIR`, else the platform's data folder + [`crate::APP_IDENTIFIER`] ([`DataFolder::default_dir`]) |
//! | which key | `PB2B_API_KEY` (+ `PB2B_BASE_URL`) when set, else the named profile, else the active one ([`DataFolder::credentials`]) |
//! | how many calls the request log keeps | [`crate::store::DEFAULT_RETENTION`] |
//! | which mirror | the verified workspace's id ([`Workspace::mirror`]); offline, the mirror last synced under the profile ([`DataFolder::offline_mirror`]) |
//! | is this the local sandbox | the embedded sandbox's profile, or a base URL on this computer ([`Credentials::is_sandbox`]) |

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::api::{Client, RequestObserver};
use crate::error::{codes, Code, ErrorReport};
use crate::profiles::{JsonFileSettings, OnExisting, Profile, Profiles, PROFILE_NOT_FOUND};
use crate::secret::{KeyStore, SecretString};
use crate::session::{self, KeyCheck};
use crate::store::{RequestLog, Store, DEFAULT_RETENTION};
use crate::sync::Mirror;

/// The profile label of a key taken from the environment.
pub const ENVIRONMENT_PROFILE: &str = "(environment)";

/// The profile name of the app's embedded sandbox.
pub const SANDBOX_PROFILE: &str = "Local sandbox";

/// The folder the app and the CLI share, with the keychain its profiles' keys live in.
pub struct DataFolder {
    dir: PathBuf,
    database: PathBuf,
    settings: JsonFileSettings,
    keychain: Arc<dyn KeyStore>,
    store: OnceLock<Store>,
}

impl std::fmt::Debug for DataFolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataFolder")
            .field("dir", &self.dir)
            .finish()
    }
}

impl DataFolder {
    /// The data folder at `dir`, keys in `keychain`.
    pub fn new(dir: impl Into<PathBuf>, keychain: Arc<dyn KeyStore>) -> Self {
        let dir = dir.into();
        DataFolder {
            settings: JsonFileSettings::new(dir.join(crate::SETTINGS_FILE)),
            database: dir.join(crate::DATABASE_FILE),
            keychain,
            store: OnceLock::new(),
            dir,
        }
    }

    /// The platform's data folder for the app (`~/.local/share/com.prospectb2b.desktop` on
    /// Linux): the app's, so `pb2b` and the app share it without being told.
    pub fn default_dir() -> Result<PathBuf, ErrorReport> {
        dirs::data_dir()
            .map(|d| d.join(crate::APP_IDENTIFIER))
            .ok_or_else(|| {
                ErrorReport::local(
                    codes::INTERNAL,
                    "No data folder on this platform; pass --data-dir.",
                    false,
                )
            })
    }

    /// The same folder (profiles, keychain) with the local database at `path` instead of
    /// `pb2b.sqlite` in the folder (`pb2b sync --db FILE`).
    pub fn with_database(&self, path: impl Into<PathBuf>) -> Self {
        DataFolder {
            dir: self.dir.clone(),
            database: path.into(),
            settings: self.settings.clone(),
            keychain: self.keychain.clone(),
            store: OnceLock::new(),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The keychain.
    pub fn keychain(&self) -> &dyn KeyStore {
        self.keychain.as_ref()
    }

    /// The profiles (file + keychain), read afresh at every call.
    pub fn profiles(&self) -> Profiles<'_> {
        Profiles::new(&self.settings, self.keychain.as_ref())
    }

    /// The local database, opened (and migrated) once per data folder.
    pub fn store(&self) -> Result<Store, ErrorReport> {
        if let Some(store) = self.store.get() {
            return Ok(store.clone());
        }
        if let Some(dir) = self.database.parent() {
            crate::private_fs::create_dir_all(dir).map_err(|err| {
                ErrorReport::local(
                    codes::INTERNAL,
                    format!("Could not create {}: {err}", dir.display()),
                    true,
                )
            })?;
        }
        let store = Store::open(&self.database).map_err(ErrorReport::from)?;
        Ok(self.store.get_or_init(|| store).clone())
    }

    /// The request log, recording under `profile`.
    pub fn request_log(&self, profile: &str) -> Result<RequestLog, ErrorReport> {
        Ok(RequestLog::new(self.store()?, profile, DEFAULT_RETENTION))
    }

    /// A client for `credentials` whose exchanges land in the request log (not verified).
    pub fn client(&self, credentials: &Credentials) -> Result<Client, ErrorReport> {
        let observer: Arc<dyn RequestObserver> =
            Arc::new(self.request_log(&credentials.profile.name)?);
        session::client(
            &credentials.profile.base_url,
            credentials.key.clone(),
            observer,
        )
    }

    /// Verifies `key` for `base_url` with `/me` (the exchange logged under `label`); saves
    /// nothing.
    pub async fn verify_key(
        &self,
        label: &str,
        base_url: &str,
        key: &SecretString,
    ) -> Result<KeyCheck, ErrorReport> {
        let credentials = Credentials {
            profile: Profile {
                name: label.to_owned(),
                base_url: base_url.to_owned(),
                key_hint: crate::secret::mask_key(key),
                sandbox: false,
            },
            key: key.clone(),
        };
        session::verify(&self.client(&credentials)?, key).await
    }

    /// Saves a profile the way the Connect screen and `pb2b login` both do: the key is verified
    /// with `/me` first (nothing is saved for a key that does not work), then the profile is
    /// saved (key to the keychain; a taken name as `existing` says) and made active. Returns the
    /// open workspace. The keychain and the profiles file are written synchronously.
    pub async fn login(
        &self,
        name: &str,
        base_url: &str,
        key: &SecretString,
        existing: OnExisting,
    ) -> Result<Workspace, ErrorReport> {
        let check = self.verify_key(name, base_url, key).await?;
        let profile = self.profiles().save(name, base_url, key, false, existing)?;
        let credentials = Credentials {
            profile,
            key: key.clone(),
        };
        let client = self.client(&credentials)?;
        Ok(Workspace::verified(
            self.store()?,
            credentials,
            client,
            check,
        ))
    }

    /// The key to use: `PB2B_API_KEY` (+ `PB2B_BASE_URL`, default the production URL) when set,
    /// else the profile named `profile`, else the active profile.
    pub fn credentials(&self, profile: Option<&str>) -> Result<Credentials, ErrorReport> {
        if let Ok(key) = std::env::var("PB2B_API_KEY") {
            let base_url = std::env::var("PB2B_BASE_URL")
                .unwrap_or_else(|_| crate::DEFAULT_BASE_URL.to_owned());
            let key = SecretString::new(key.trim().to_owned());
            return Ok(Credentials {
                profile: Profile {
                    name: ENVIRONMENT_PROFILE.to_owned(),
                    key_hint: crate::secret::mask_key(&key),
                    base_url,
                    sandbox: false,
                },
                key,
            });
        }
        let profiles = self.profiles();
        let profile = match profile {
            Some(name) => profiles
                .load()?
                .profiles
                .into_iter()
                .find(|p| p.name == name)
                .ok_or_else(|| {
                    ErrorReport::local(
                        PROFILE_NOT_FOUND,
                        format!("There is no profile named “{name}”; see `pb2b profiles`."),
                        false,
                    )
                })?,
            None => profiles.active()?.ok_or_else(|| {
                ErrorReport::local(
                    Code::NoProfile,
                    "No profile is active: connect a workspace (`pb2b login`, or the app's Connect screen), or set PB2B_API_KEY (and PB2B_BASE_URL).",
                    false,
                )
            })?,
        };
        let key = profiles.key(&profile.name)?;
        Ok(Credentials { profile, key })
    }

    /// The name the request log and the mirror file work under, without reading the keychain
    /// (offline commands): the environment's label when `PB2B_API_KEY` is set, else `profile`,
    /// else the active profile's name.
    pub fn profile_label(&self, profile: Option<&str>) -> String {
        if std::env::var_os("PB2B_API_KEY").is_some() {
            return ENVIRONMENT_PROFILE.to_owned();
        }
        if let Some(p) = profile {
            return p.to_owned();
        }
        self.profiles()
            .active()
            .ok()
            .flatten()
            .map(|p| p.name)
            .unwrap_or_default()
    }

    /// The mirror to read offline for `profile` (no `/me`): the one last synced under that
    /// profile, else the only mirror there is. `workspace` names one explicitly.
    pub fn offline_mirror(
        &self,
        profile: &str,
        workspace: Option<&str>,
    ) -> Result<Mirror, ErrorReport> {
        let store = self.store()?;
        let mirrors = Mirror::list(&store)?;
        if let Some(ws) = workspace {
            if !mirrors.iter().any(|m| m == ws) {
                return Err(ErrorReport::local(
                    codes::INVALID_INPUT,
                    format!("There is no mirror of workspace {ws}; sync it first."),
                    false,
                ));
            }
            return Mirror::open(store, ws, profile);
        }
        if let Some(m) = Mirror::for_profile(store.clone(), profile)? {
            return Ok(m);
        }
        match mirrors.as_slice() {
            [only] => {
                // One mirror, filed under another profile: read it, keeping its label.
                let label = store
                    .with_conn(|c| {
                        c.query_row(
                            "SELECT coalesce(profile, '') FROM sync_state WHERE mirror = ?1",
                            [only],
                            |r| r.get::<_, String>(0),
                        )
                    })
                    .unwrap_or_default();
                Mirror::open(store, only, &label)
            }
            [] => Err(ErrorReport::local(
                codes::INVALID_INPUT,
                "There is no local mirror yet; sync first (`pb2b sync`, or Sync now in the app).",
                false,
            )),
            many => Err(ErrorReport::local(
                codes::INVALID_INPUT,
                format!(
                    "Several mirrors are stored ({}); choose one with --workspace.",
                    many.join(", ")
                ),
                false,
            )),
        }
    }
}

/// A profile and its key: what opens a workspace.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The profile (for a key from the environment, a label and the environment's base URL).
    pub profile: Profile,
    /// The key.
    pub key: SecretString,
}

impl Credentials {
    /// Whether these credentials talk to a sandbox on this computer (the embedded one, or a base
    /// URL on loopback): the test receiver and demo affordances apply.
    pub fn is_sandbox(&self) -> bool {
        self.profile.sandbox || crate::webhooks::is_sandbox_base_url(&self.profile.base_url)
    }
}

/// Who a durable job belongs to: recorded when the job is created, checked whenever it is
/// resumed, retried or listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export_to = "Owner.ts")]
pub struct Owner {
    /// The workspace id from `/me`.
    pub workspace_id: String,
    /// The workspace's name, to name it in errors.
    pub workspace_name: String,
    /// The prefix of the key that created the job (`pb2b_live_ab12cd34`): another prefix of the
    /// same workspace means the key was rotated.
    pub key_prefix: String,
}

/// Error code: a job of another workspace was asked to run here.
pub const WRONG_WORKSPACE: Code = Code::WrongWorkspace;

impl Owner {
    /// Refuses a job recorded under `recorded` when this owner is another workspace; the error
    /// names both. `what` is the job in words ("Import imp_ab12 (leads.csv)").
    pub fn check(&self, recorded: &Owner, what: &str) -> Result<(), ErrorReport> {
        if recorded.workspace_id.is_empty() || recorded.workspace_id == self.workspace_id {
            return Ok(());
        }
        Err(ErrorReport::local(
            WRONG_WORKSPACE,
            format!(
                "{what} belongs to workspace “{}” ({}), but the open workspace is “{}” ({}). Nothing was sent. Switch to a profile of “{}” to continue it.",
                recorded.workspace_name,
                recorded.workspace_id,
                self.workspace_name,
                self.workspace_id,
                recorded.workspace_name
            ),
            false,
        ))
    }
}

/// A verified workspace: the store, a client with its request log, and what `/me` said. Cheap to
/// clone.
#[derive(Clone)]
pub struct Workspace {
    inner: Arc<Inner>,
}

struct Inner {
    credentials: Credentials,
    client: Client,
    store: Store,
    check: KeyCheck,
    mirror: OnceLock<Mirror>,
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspace")
            .field("id", &self.id())
            .field("profile", &self.inner.credentials.profile.name)
            .finish()
    }
}

impl Workspace {
    /// Opens the workspace `credentials` give: builds the client and verifies it with `/me`.
    pub async fn open(folder: &DataFolder, credentials: Credentials) -> Result<Self, ErrorReport> {
        let client = folder.client(&credentials)?;
        let check = session::verify(&client, &credentials.key).await?;
        Ok(Self::verified(folder.store()?, credentials, client, check))
    }

    /// A workspace from an already verified client (the Connect screen verified before saving).
    pub fn verified(
        store: Store,
        credentials: Credentials,
        client: Client,
        check: KeyCheck,
    ) -> Self {
        Workspace {
            inner: Arc::new(Inner {
                credentials,
                client,
                store,
                check,
                mirror: OnceLock::new(),
            }),
        }
    }

    /// The workspace id.
    pub fn id(&self) -> &str {
        &self.inner.check.me.workspace.id
    }

    /// Who jobs created here belong to.
    pub fn owner(&self) -> Owner {
        let me = &self.inner.check.me;
        Owner {
            workspace_id: me.workspace.id.clone(),
            workspace_name: me.workspace.name.clone(),
            key_prefix: me.key_prefix.clone(),
        }
    }

    /// The profile.
    pub fn profile(&self) -> &Profile {
        &self.inner.credentials.profile
    }

    /// The credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.inner.credentials
    }

    /// What `/me` said.
    pub fn check(&self) -> &KeyCheck {
        &self.inner.check
    }

    /// The client (every exchange in the request log).
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The local database.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// See [`Credentials::is_sandbox`].
    pub fn is_sandbox(&self) -> bool {
        self.inner.credentials.is_sandbox()
    }

    /// This workspace's export jobs.
    pub fn exports(&self) -> Result<crate::exports::Exports, ErrorReport> {
        crate::exports::Exports::open(
            self.store().clone(),
            self.owner(),
            &self.inner.credentials.profile.name,
        )
    }

    /// This workspace's imports.
    pub fn imports(&self) -> crate::import::Imports {
        crate::import::Imports::new(self.store().clone(), self.client().clone(), self.owner())
    }

    /// Why the mirror must be synced before an import's review ([`crate::import::review::mirror_needs_sync`]),
    /// or `None` when it is fresh enough. The fronts run that sync their own way.
    pub fn mirror_stale_for_review(&self) -> Result<Option<&'static str>, ErrorReport> {
        let status = self.mirror()?.status()?;
        let now = crate::time::parse_timestamp(&crate::api::observer::now_utc_ms()).unwrap_or(0);
        let sent = crate::import::review::last_import_sent_at(self.store(), self.id())?;
        Ok(crate::import::review::mirror_needs_sync(
            &status,
            now,
            sent.as_deref(),
        ))
    }

    /// This workspace's mirror (one per open workspace, so its one-sync-at-a-time guard is
    /// shared by every caller).
    pub fn mirror(&self) -> Result<Mirror, ErrorReport> {
        if let Some(m) = self.inner.mirror.get() {
            return Ok(m.clone());
        }
        let m = Mirror::open_for(
            self.inner.store.clone(),
            &self.owner(),
            &self.inner.credentials.profile.name,
        )?;
        Ok(self.inner.mirror.get_or_init(|| m).clone())
    }
}
