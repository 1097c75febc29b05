//! What can go wrong in the store.

use std::path::PathBuf;

use crate::{chunk, layout};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "data directory {path} is in use by another process (a running swarm-hub holds its lock)"
    )]
    Locked { path: PathBuf },
    #[error("cannot open data directory {path}: {source}")]
    Open { path: PathBuf, source: sled::Error },
    #[error(
        "data directory {path} was written in another storage layout than this swarm-hub's (v{layout}); use a new --data directory",
        layout = layout::LAYOUT
    )]
    Layout { path: PathBuf },
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("cannot use {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("corrupt chunk for agent {agent} series {series}: {source}")]
    Chunk {
        agent: String,
        series: String,
        source: chunk::ChunkError,
    },
    #[error("corrupt record in {tree}: {reason}")]
    Corrupt { tree: &'static str, reason: String },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
