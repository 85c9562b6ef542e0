//! Strategy errors, with file:line:column wherever the script is at fault.

use std::path::{Path, PathBuf};

use rhai::{EvalAltResult, ParseError, Position};

/// Why a strategy could not be loaded or a callback failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StrategyError {
    /// The script file could not be read.
    #[error("cannot read strategy file {}: {message}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        message: String,
    },
    /// Syntax error.
    #[error("{}:{line}:{column}: syntax error: {message}", file.display())]
    Compile {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A callback is unknown or has the wrong arity.
    #[error("{}: {message}", file.display())]
    Callback {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A static check failed: unknown callback, wrong callback arity, unknown function or
    /// wrong number of arguments.
    #[error("{}:{line}:{column}: {message}", file.display())]
    Check {
        /// The file.
        file: PathBuf,
        /// 1-based line (0 if unknown).
        line: usize,
        /// 1-based column (0 if unknown).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The strategy's configuration is unusable.
    #[error("strategy {strategy}: {message}")]
    Config {
        /// Strategy name.
        strategy: String,
        /// What is wrong.
        message: String,
    },
    /// A callback threw or hit a sandbox limit; it was abandoned.
    #[error("{}:{line}:{column}: strategy {strategy}: {callback} failed: {message}", file.display())]
    Runtime {
        /// Strategy name.
        strategy: String,
        /// The file.
        file: PathBuf,
        /// The callback that failed.
        callback: String,
        /// 1-based line (0 if unknown).
        line: usize,
        /// 1-based column (0 if unknown).
        column: usize,
        /// What went wrong.
        message: String,
    },
}

fn line_col(pos: Position) -> (usize, usize) {
    (pos.line().unwrap_or(0), pos.position().unwrap_or(0))
}

pub(super) fn compile(file: &Path, e: &ParseError) -> StrategyError {
    let (line, column) = line_col(e.position());
    StrategyError::Compile {
        file: file.to_path_buf(),
        line,
        column,
        message: e.err_type().to_string(),
    }
}

/// True if `e` (or the error it wraps) is the per-callback operation limit.
pub(super) fn is_operation_limit(e: &EvalAltResult) -> bool {
    match e {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => is_operation_limit(inner),
        EvalAltResult::ErrorTooManyOperations(_) => true,
        _ => false,
    }
}

pub(super) fn runtime(
    strategy: &str,
    file: &Path,
    callback: &str,
    e: &EvalAltResult,
) -> StrategyError {
    // Errors inside script functions are wrapped once per call level; the innermost one has
    // the position of the faulting statement.
    let mut inner = e;
    let mut pos = e.position();
    while let EvalAltResult::ErrorInFunctionCall(_, _, err, p) = inner {
        if !p.is_none() {
            pos = *p;
        }
        inner = err;
        if !inner.position().is_none() {
            pos = inner.position();
        }
    }
    let message = match inner {
        EvalAltResult::ErrorTooManyOperations(_) => {
            "exceeded the operation limit for one callback (an endless loop?)".to_string()
        }
        EvalAltResult::ErrorStackOverflow(_) => {
            "exceeded the call depth limit (runaway recursion?)".to_string()
        }
        other => {
            let mut s = other.to_string();
            // Rhai appends " (line L, position C)"; we print the position in front instead.
            if let Some(i) = s.rfind(" (line ") {
                s.truncate(i);
            }
            s
        }
    };
    let (line, column) = line_col(pos);
    StrategyError::Runtime {
        strategy: strategy.to_string(),
        file: file.to_path_buf(),
        callback: callback.to_string(),
        line,
        column,
        message,
    }
}
