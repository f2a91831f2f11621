//! Errors callers branch on, and the exit code each gives: 2 for bad usage or input (nothing was
//! changed), 1 for any other failure.

use crate::spec::SpecError;

/// Bad usage or input, found before anything was changed.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Returns early with a usage error (exit code 2).
#[macro_export]
macro_rules! usage {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::error::UsageError(format!($($arg)*))))
    };
}

pub fn exit_code(e: &anyhow::Error) -> i32 {
    let usage = e
        .chain()
        .any(|c| c.is::<UsageError>() || c.is::<SpecError>());
    if usage {
        2
    } else {
        1
    }
}

/// The message printed on stderr: the whole chain, once, one problem per line.
pub fn render(e: &anyhow::Error) -> String {
    if let Some(spec) = e.chain().find_map(|c| c.downcast_ref::<SpecError>()) {
        return spec
            .to_string()
            .lines()
            .map(|l| format!("error: {l}"))
            .collect::<Vec<_>>()
            .join("\n");
    }
    format!("error: {e:#}")
}
