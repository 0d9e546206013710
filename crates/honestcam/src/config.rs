//! Where honestcam keeps its data, and the zone the portal shows times in: resolved
//! once from flags and the environment.

use std::path::{Path, PathBuf};

use crate::property::{PropertyPaths, Slug};

/// Environment variable naming the data dir.
pub const DATA_DIR_ENV: &str = "HONESTCAM_DATA_DIR";
/// File name of the global study database inside the data dir.
pub const STUDY_DB: &str = "honestcam-study.db";

/// The data dir: one folder per property plus the global study database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir(PathBuf);

impl DataDir {
    /// `flag` if given and non-empty, else `./data`. (The CLI feeds `HONESTCAM_DATA_DIR`
    /// into `flag`, so an unset or empty variable means `./data`.)
    pub fn resolve(flag: Option<&Path>) -> DataDir {
        match flag {
            Some(p) if !p.as_os_str().is_empty() => DataDir(p.to_path_buf()),
            _ => DataDir(PathBuf::from("data")),
        }
    }

    /// A data dir at exactly `path`.
    pub fn new(path: impl Into<PathBuf>) -> DataDir {
        DataDir(path.into())
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `{data}/honestcam-study.db`.
    pub fn study_db(&self) -> PathBuf {
        self.0.join(STUDY_DB)
    }

    /// The paths of one property.
    pub fn property(&self, slug: &Slug) -> PropertyPaths {
        PropertyPaths::new(&self.0, slug.clone())
    }

    /// Every folder in the data dir whose name is a valid slug and that holds
    /// property data (a baseline, a database or a legacy log), sorted.
    pub fn properties(&self) -> std::io::Result<Vec<Slug>> {
        let entries = match std::fs::read_dir(&self.0) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut slugs = Vec::new();
        for entry in entries {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                continue;
            }
            let Ok(slug) = Slug::parse(&entry.file_name().to_string_lossy()) else {
                continue;
            };
            if self.property(&slug).holds_data() {
                slugs.push(slug);
            }
        }
        slugs.sort();
        Ok(slugs)
    }
}

/// Why `--auth none` (everyone an admin) must not run with this address and public
/// URL: it is only for a loopback address without a public URL (behind a tunnel,
/// everyone on the internet would be an admin). `None` when it may.
pub fn refuse_auth_none(addr: std::net::SocketAddr, public_url: Option<&str>) -> Option<String> {
    let public = public_url.filter(|u| !u.is_empty());
    let public_is_local = public.is_none_or(|u| {
        url::Url::parse(u).is_ok_and(|u| {
            matches!(u.host(), Some(url::Host::Domain("localhost")))
                || matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
                || matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
        })
    });
    if !public_is_local {
        return Some(
            "--auth none serves everyone as an admin: not with a public URL (behind a tunnel, everyone on the internet would be one)".into(),
        );
    }
    if !addr.ip().is_loopback() {
        return Some(format!(
            "--auth none serves everyone as an admin: only on a loopback address, not {addr}"
        ));
    }
    None
}

/// A time zone named on the command line that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown time zone {0:?}: expected an IANA name such as Europe/London, America/New_York or UTC"
)]
pub struct TimeZoneError(pub String);

/// The time zone with this IANA name (from the system's tzdb, else the copy built in).
pub fn time_zone(name: &str) -> Result<jiff::tz::TimeZone, TimeZoneError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(TimeZoneError(name.to_string()));
    }
    jiff::tz::db()
        .get(name)
        .map_err(|_| TimeZoneError(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_or_empty_means_data() {
        assert_eq!(DataDir::resolve(None).path(), Path::new("data"));
        assert_eq!(
            DataDir::resolve(Some(Path::new(""))).path(),
            Path::new("data")
        );
        assert_eq!(
            DataDir::resolve(Some(Path::new("/srv/x"))).path(),
            Path::new("/srv/x")
        );
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert!(time_zone("America/New_York").is_ok());
        assert!(time_zone("UTC").is_ok());
        for bad in ["", "Mars/Olympus_Mons", "EST5EDT/../x", "../etc/passwd"] {
            let err = time_zone(bad).unwrap_err();
            assert!(err.to_string().contains("IANA"), "{err}");
        }
    }

    #[test]
    fn lists_only_property_folders_with_valid_slugs() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["alpha", "beta", "Not-A-Slug", "_legacy", "empty"] {
            std::fs::create_dir_all(dir.path().join(name)).unwrap();
        }
        std::fs::write(dir.path().join("alpha/compliance.json"), "{}").unwrap();
        std::fs::write(dir.path().join("beta/honestcam.db"), "").unwrap();
        std::fs::write(dir.path().join("Not-A-Slug/compliance.json"), "{}").unwrap();
        let data = DataDir::new(dir.path());
        let names: Vec<_> = data
            .properties()
            .unwrap()
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(names, ["alpha", "beta"]);
    }
}
