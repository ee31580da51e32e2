//! A fresh directory of its own for one test, removed when the test is
//! done with it (tempfile's, not hand-made: unique names without our own
//! counter, and no directories left in /tmp).

// Not every including binary needs every helper.
#![allow(dead_code)]

use std::path::Path;

/// A directory that lasts as long as this value; derefs to its path.
pub struct TempDir(tempfile::TempDir);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        self.0.path()
    }
}

/// A new directory named after the test (`name`), for what it shows in
/// messages.
pub fn temp_dir(name: &str) -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix(&format!("filter-jsonlog-{name}-"))
        .tempdir()
        .expect("a temporary directory");
    TempDir(dir)
}
