//! Machinery the commands share: handing leadership over and waiting for it (`handover`), the
//! write probe through HAProxy (`probe`), the continuous test writer (`writer`), and cluster
//! health waits and connection targets (`health`).

pub mod handover;
pub mod health;
pub mod probe;
pub mod writer;
