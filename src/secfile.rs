//! Files that hold secrets (captures, exports, the CA key): created readable by their owner only
//! (mode 0600), never through a symbolic link, never into a file that another user owns.
//!
//! A capture or an export holds cookies, bearer tokens and message contents. A shared directory
//! such as `/tmp` lets another user plant a symbolic link or a file of their own under the name
//! the user is about to write: writing through the link would overwrite the link's target, and
//! writing into their file would hand them the secrets. Both are refused with an error naming
//! the file. Special files (`/dev/stdout`, a FIFO, a terminal) are written as they are: they
//! keep nothing at rest.

use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::path::Path;

/// The effective user id of this process (`None` off Unix).
pub fn euid() -> Option<u32> {
    #[cfg(unix)]
    {
        // SAFETY: geteuid has no preconditions and cannot fail.
        Some(unsafe { libc::geteuid() })
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The owner of a file (`None` off Unix).
pub fn owner(m: &Metadata) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(m.uid())
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        None
    }
}

/// The permission bits of a file (0 off Unix).
pub fn mode(m: &Metadata) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode() & 0o7777
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        0
    }
}

fn refused(path: &Path, why: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("refusing to write {}: {why}", path.display()),
    )
}

/// Checks that `path` may be written with secrets: it does not exist, or it is a regular file
/// owned by this user, or a special file (device, FIFO) reached directly or through a link. A
/// symbolic link to a regular file (or a dangling one) is refused, and so is a file that
/// another user owns. Returns whether `path` is a special file.
pub fn check_target(path: &Path) -> io::Result<bool> {
    let lm = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if lm.file_type().is_symlink() {
        return match std::fs::metadata(path) {
            Ok(m) if !m.is_file() && !m.is_dir() => Ok(true),
            Ok(_) => Err(refused(
                path,
                "it is a symbolic link (sockscope does not write secrets through links; remove it or choose another name)".into(),
            )),
            Err(_) => Err(refused(
                path,
                "it is a dangling symbolic link (remove it or choose another name)".into(),
            )),
        };
    }
    if !lm.is_file() {
        return Ok(!lm.is_dir());
    }
    if let (Some(me), Some(them)) = (euid(), owner(&lm))
        && me != them
    {
        return Err(refused(
            path,
            format!("it belongs to another user (uid {them}); remove it or choose another name"),
        ));
    }
    Ok(false)
}

fn private_options(opts: &mut OpenOptions, follow: bool) {
    mode_options(opts, 0o600, follow);
}

fn mode_options(opts: &mut OpenOptions, mode: u32, follow: bool) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
        if !follow {
            opts.custom_flags(libc::O_NOFOLLOW);
        }
    }
    let _ = (opts, mode, follow);
}

/// Opens `path` for appending (created 0600 when new) after [`check_target`]. An existing
/// regular file of ours is narrowed to 0600: it is about to receive secrets.
pub fn open_private_append(path: &Path) -> io::Result<File> {
    let special = check_target(path)?;
    let mut opts = OpenOptions::new();
    opts.append(true).create(true);
    private_options(&mut opts, special);
    let f = opts.open(path).map_err(|e| nofollow_error(path, e))?;
    let m = f.metadata()?;
    if m.is_file() {
        if let (Some(me), Some(them)) = (euid(), owner(&m))
            && me != them
        {
            return Err(refused(
                path,
                format!("it belongs to another user (uid {them})"),
            ));
        }
        narrow(&f, &m)?;
    }
    Ok(f)
}

/// Creates a new file at `path` (it must not exist) with mode 0600, not following links.
pub fn create_private_new(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    private_options(&mut opts, false);
    opts.open(path)
}

/// Writes `data` to `path` as a private file (0600), replacing an existing file of ours (after
/// [`check_target`]): written under a temporary name and renamed into place.
pub fn write_private(path: &Path, data: &[u8]) -> Result<(), String> {
    write_with_mode(path, data, 0o600)
}

/// [`write_private`] with another mode (a certificate is public: 0644).
pub fn write_with_mode(path: &Path, data: &[u8], mode: u32) -> Result<(), String> {
    use std::io::Write;
    check_target(path).map_err(|e| one_line(path, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("invalid output path {}", path.display()))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    mode_options(&mut opts, mode, false);
    let res = opts
        .open(&tmp)
        .and_then(|mut f| f.write_all(data).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    Ok(())
}

fn one_line(path: &Path, e: io::Error) -> String {
    if e.kind() == io::ErrorKind::PermissionDenied && e.to_string().starts_with("refusing") {
        e.to_string()
    } else {
        format!("cannot write {}: {e}", path.display())
    }
}

/// Sets mode 0600 on an open file whose mode is wider.
fn narrow(f: &File, m: &Metadata) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if mode(m) & 0o077 != 0 {
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    let _ = (f, m);
    Ok(())
}

/// `O_NOFOLLOW` reports a link planted between the check and the open as `ELOOP`.
fn nofollow_error(path: &Path, e: io::Error) -> io::Error {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::ELOOP) {
        return refused(path, "it is a symbolic link".into());
    }
    let _ = path;
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("sockscope-secfile-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }

    #[cfg(unix)]
    #[test]
    fn new_files_are_private_and_links_refused() {
        use std::io::Write;
        let d = dir("links");
        let p = d.join("cap.ndjson");
        let mut f = open_private_append(&p).expect("create");
        f.write_all(b"x").expect("write");
        assert_eq!(mode(&std::fs::metadata(&p).expect("meta")), 0o600);
        // An existing wide file of ours is narrowed.
        let wide = d.join("wide");
        std::fs::write(&wide, "old").expect("write");
        std::fs::set_permissions(&wide, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .expect("chmod");
        open_private_append(&wide).expect("open");
        assert_eq!(mode(&std::fs::metadata(&wide).expect("meta")), 0o600);
        // Links to regular files and dangling links are refused; the target is untouched.
        let victim = d.join("victim");
        std::fs::write(&victim, "keep").expect("write");
        let link = d.join("link");
        std::os::unix::fs::symlink(&victim, &link).expect("symlink");
        let e = open_private_append(&link).expect_err("link");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let dangling = d.join("dangling");
        std::os::unix::fs::symlink(d.join("nowhere"), &dangling).expect("symlink");
        assert!(open_private_append(&dangling).is_err());
        assert!(!d.join("nowhere").exists());
        assert!(write_private(&link, b"x").is_err());
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "keep");
        // Special files through a link are fine (/dev/stdout is one).
        let null = d.join("null");
        std::os::unix::fs::symlink("/dev/null", &null).expect("symlink");
        assert!(check_target(&null).expect("device"));
        let _ = std::fs::remove_dir_all(&d);
    }
}
