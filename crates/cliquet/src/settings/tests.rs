use std::path::Path;

use serde::Deserialize;

use super::*;

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn core_names() -> &'static [&'static str] {
    field_names::<CoreSettings>()
}

#[test]
fn field_names_are_read_from_deserialize() {
    let names = core_names();
    assert!(names.contains(&"storage_backend"));
    assert!(names.contains(&"multiauth.policies"));
    assert!(!names.contains(&"multiauth_policies"));
}

#[test]
fn defaults_are_the_toolkits() {
    let (core, unused) = RawSettings::new().extract::<CoreSettings>().unwrap();
    assert_eq!(core, CoreSettings::default());
    assert!(unused.is_empty());
    assert_eq!(core.retry_after_seconds, 30);
    assert_eq!(core.storage_max_fetch_size, 10_000);
    assert_eq!(core.version_prefix(), "/v1");
}

#[test]
fn toml_file_with_tables() {
    let mut raw = RawSettings::new();
    raw.merge_toml_str(
        r#"
        project_name = "kinto"
        http_api_version = "1.23"
        storage_pool_size = 10
        storage_pool_timeout = 2.5
        explicit_permissions = false
        includes = ["kinto.plugins.history", "kinto.plugins.flush"]
        [multiauth]
        policies = "account basicauth"
        policy.account.use = "kinto.plugins.accounts.AccountsPolicy"
        "#,
        Path::new("server.toml"),
    )
    .unwrap();
    let (core, unused) = raw.extract::<CoreSettings>().unwrap();
    assert_eq!(core.project_name, "kinto");
    assert_eq!(core.version_prefix(), "/v1");
    assert_eq!(core.storage_pool_size, 10);
    assert_eq!(core.storage_pool_timeout, 2.5);
    assert!(!core.explicit_permissions);
    assert_eq!(
        core.includes,
        ["kinto.plugins.history", "kinto.plugins.flush"]
    );
    assert_eq!(core.multiauth_policies, ["account", "basicauth"]);
    assert_eq!(
        raw.get_text("multiauth.policy.account.use").as_deref(),
        Some("kinto.plugins.accounts.AccountsPolicy")
    );
    assert!(check_unknown(&raw, &[unused]).unwrap().is_empty());
}

#[test]
fn environment_overrides_the_file_prefixed_name_winning() {
    let mut raw = RawSettings::new();
    raw.merge_toml_str(
        "storage_backend = \"memory\"\nstorage_url = \"\"\n",
        Path::new("a.toml"),
    )
    .unwrap();
    raw.merge_env(
        env(&[
            ("STORAGE_BACKEND", "kinto.core.storage.postgresql"),
            ("KINTO_STORAGE_URL", "postgresql://db/kinto"),
            ("STORAGE_URL", "postgresql://loser/kinto"),
            ("KINTO_MULTIAUTH_POLICIES", "basicauth"),
            ("KINTO_READONLY", "yes"),
            ("KINTO_RECORD_CACHE_EXPIRES_SECONDS", "60"),
            ("HOME", "/root"),
        ]),
        "kinto",
        core_names(),
        is_pattern_setting,
    );
    let (core, _) = raw.extract::<CoreSettings>().unwrap();
    assert_eq!(core.storage_backend, "kinto.core.storage.postgresql");
    assert_eq!(core.storage_url, "postgresql://db/kinto");
    assert_eq!(core.multiauth_policies, ["basicauth"]);
    assert_eq!(
        raw.source("storage_url"),
        Some(&Source::Env("KINTO_STORAGE_URL".into()))
    );
    // Pattern settings come in through the prefixed form.
    assert_eq!(
        raw.get_text("record_cache_expires_seconds").as_deref(),
        Some("60")
    );
    // Unrelated variables are not settings, and `readonly` is not one of
    // the names given here.
    assert!(raw.get("home").is_none());
    assert!(raw.get("readonly").is_none());
}

#[test]
fn kinto_ini_file() {
    let ini = "\
[server:main]
use = egg:waitress#main
port = 8888

[app:main]
use = egg:kinto
kinto.includes = kinto.plugins.default_bucket
                 kinto.plugins.history
kinto.storage_backend = kinto.core.storage.postgresql
kinto.storage_url = postgresql://postgres@localhost/postgres
kinto.storage_pool_size = 25
kinto.paginate_by = None
kinto.explicit_permissions = off
kinto.version_json_path = %(here)s/version.json
kinto.attachment.base_path = /tmp
multiauth.policies = account basicauth
multiauth.policy.account.use = kinto.plugins.accounts.AccountsPolicy
";
    let mut raw = RawSettings::new();
    raw.merge_ini_str(
        ini,
        Path::new("/etc/kinto/kinto.ini"),
        Path::new("/etc/kinto"),
        "kinto",
    )
    .unwrap();
    let (core, unused) = raw.extract::<CoreSettings>().unwrap();
    assert_eq!(
        core.includes,
        ["kinto.plugins.default_bucket", "kinto.plugins.history"]
    );
    assert_eq!(core.storage_pool_size, 25);
    assert_eq!(core.paginate_by, None);
    assert!(!core.explicit_permissions);
    assert_eq!(core.multiauth_policies, ["account", "basicauth"]);
    assert_eq!(
        raw.get_text("version_json_path").as_deref(),
        Some("/etc/kinto/version.json")
    );
    // Unknown keys of a Kinto file are warnings, not errors.
    let warnings = check_unknown(&raw, &[unused]).unwrap();
    assert_eq!(warnings, ["attachment.base_path", "version_json_path"]);
}

#[test]
fn ini_prefixed_and_plain_keys_in_conflict() {
    let ini = "[app:main]\nkinto.project_name = a\nproject_name = b\n";
    let error = RawSettings::new()
        .merge_ini_str(ini, Path::new("k.ini"), Path::new("."), "kinto")
        .unwrap_err();
    assert_eq!(error.key(), Some("project_name"));
    assert!(error.to_string().contains("in conflict"), "{error}");
    // The same value twice is fine.
    let ini = "[app:main]\nkinto.project_name = a\nproject_name = a\n";
    RawSettings::new()
        .merge_ini_str(ini, Path::new("k.ini"), Path::new("."), "kinto")
        .unwrap();
}

#[test]
fn ini_without_app_main_is_an_error() {
    let error = RawSettings::new()
        .merge_ini_str(
            "[server:main]\nport = 1\n",
            Path::new("k.ini"),
            Path::new("."),
            "kinto",
        )
        .unwrap_err();
    assert!(error.to_string().contains("[app:main]"), "{error}");
}

#[test]
fn wrong_types_name_the_key_and_source() {
    let mut raw = RawSettings::new();
    raw.merge_toml_str("storage_pool_size = \"many\"\n", Path::new("conf.toml"))
        .unwrap();
    let error = raw.extract::<CoreSettings>().unwrap_err();
    assert_eq!(error.key(), Some("storage_pool_size"));
    let message = error.to_string();
    assert!(
        message.starts_with("setting `storage_pool_size` (from conf.toml)"),
        "{message}"
    );

    let mut raw = RawSettings::new();
    raw.merge_env(
        env(&[("KINTO_EXPLICIT_PERMISSIONS", "perhaps")]),
        "kinto",
        core_names(),
        is_pattern_setting,
    );
    let error = raw.extract::<CoreSettings>().unwrap_err();
    assert_eq!(error.key(), Some("explicit_permissions"));
    assert!(
        error
            .to_string()
            .contains("environment variable KINTO_EXPLICIT_PERMISSIONS"),
        "{error}"
    );
}

#[test]
fn unknown_toml_keys_are_errors() {
    let mut raw = RawSettings::new();
    raw.merge_toml_str(
        "storage_backnd = \"memory\"\nrecord_read_principals = \"system.Everyone\"\n",
        Path::new("conf.toml"),
    )
    .unwrap();
    let (_, unused) = raw.extract::<CoreSettings>().unwrap();
    let error = check_unknown(&raw, &[unused]).unwrap_err();
    assert_eq!(error.key(), Some("storage_backnd"));
    assert_eq!(
        error.to_string(),
        "setting `storage_backnd` (from conf.toml): unknown setting"
    );
}

#[test]
fn a_key_used_by_any_struct_is_known() {
    #[derive(Debug, Deserialize, Default)]
    #[serde(default)]
    struct Batch {
        batch_max_requests: Option<u32>,
    }
    let mut raw = RawSettings::new();
    raw.merge_toml_str(
        "batch_max_requests = 10\nproject_name = \"x\"\n",
        Path::new("c.toml"),
    )
    .unwrap();
    let (_, core_unused) = raw.extract::<CoreSettings>().unwrap();
    let (batch, batch_unused) = raw.extract::<Batch>().unwrap();
    assert_eq!(batch.batch_max_requests, Some(10));
    assert!(
        check_unknown(&raw, &[core_unused, batch_unused])
            .unwrap()
            .is_empty()
    );
}

#[test]
fn lenient_conversions() {
    #[derive(Debug, Deserialize, PartialEq)]
    struct Values {
        a: bool,
        b: bool,
        c: Option<u64>,
        d: Option<u64>,
        e: Vec<String>,
        f: String,
        g: f64,
        h: Vec<String>,
        i: i64,
    }
    let mut raw = RawSettings::new();
    raw.merge_ini_str(
        "[app:main]\na = on\nb = 0\nc = 25\nd =\ne = http://a.org\n  http://b.org\nf = 1.23\ng = 0.5\nh = [\"x y\", \"z\"]\ni = -1\n",
        Path::new("v.ini"),
        Path::new("."),
        "kinto",
    )
    .unwrap();
    let (values, _) = raw.extract::<Values>().unwrap();
    assert_eq!(
        values,
        Values {
            a: true,
            b: false,
            c: Some(25),
            d: None,
            e: vec!["http://a.org".into(), "http://b.org".into()],
            f: "1.23".into(),
            g: 0.5,
            h: vec!["x y".into(), "z".into()],
            i: -1,
        }
    );
}

#[test]
fn env_names() {
    assert_eq!(env_name("multiauth.policies"), "MULTIAUTH_POLICIES");
    assert_eq!(
        env_name("user-data_delete_principals"),
        "USER_DATA_DELETE_PRINCIPALS"
    );
}

#[test]
fn every_crates_settings_from_one_file_and_the_environment() {
    #[derive(Debug, Deserialize, Default)]
    #[serde(default)]
    struct Recipe {
        experimental_permissions_endpoint: bool,
    }
    let dir = std::env::temp_dir().join(format!("cliquet-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("kinto.ini");
    std::fs::write(
        &file,
        "[app:main]\nkinto.backoff = 10\nkinto.cors_origins = https://a.org https://b.org\n\
         kinto.experimental_permissions_endpoint = true\nkinto.signer.resources = x\n",
    )
    .unwrap();
    let mut defaults = RawSettings::new();
    defaults.set("http_api_version", "1.23");
    let settings = Settings::<Recipe>::load(Sources {
        file: Some(&file),
        prefix: "kinto",
        env: env(&[
            ("KINTO_READONLY", "true"),
            ("KINTO_HEARTBEAT_TIMEOUT_SECONDS", "2.5"),
        ]),
        defaults,
    })
    .unwrap();
    assert_eq!(settings.backoff.backoff, Some(10));
    assert!(settings.backoff.readonly);
    assert_eq!(
        settings.cors.cors_origins,
        ["https://a.org", "https://b.org"]
    );
    assert_eq!(settings.heartbeat.heartbeat_timeout_seconds, 2.5);
    assert_eq!(settings.version.prefix().as_deref(), Ok("/v1"));
    assert!(settings.extra.experimental_permissions_endpoint);
    assert_eq!(settings.core.batch_max_requests, Some(25));
    assert_eq!(settings.ignored, ["signer.resources"]);
}
