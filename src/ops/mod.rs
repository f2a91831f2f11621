//! Machinery the commands share: handing leadership over and waiting for it (`handover`), the
//! write probe through HAProxy (`probe`), the continuous test writer (`writer`), and cluster
//! health waits and connection targets (`health`), and the archiver on the leader (`archive`).

pub mod archive;
pub mod handover;
pub mod health;
pub mod monitor;
pub mod probe;
pub mod writer;
