//! What several commands share, over the pure core and the adapters: a command's `session` (its
//! spec, engine, etcd connection and `access` to the members, each made once), converging a
//! cluster to its spec (`converge`, with its TLS switch, and the rolling replacements `roll`),
//! the node image (`image`), handing leadership over (`handover`), restarting PostgreSQL
//! (`restart`) and members' containers (`member`), writing Patroni's config key and following it
//! (`config`), new certificates in running containers (`certs`), the pgBackRest repository
//! (`repo`), the write probe through HAProxy (`probe`), the continuous test writer (`writer`),
//! cluster health waits and connection targets (`health`), the archiver on the leader
//! (`archive`), the monitoring checks (`monitor`) and how a plan's steps are printed
//! (`plan_report`).

pub mod access;
pub mod archive;
pub mod backup;
pub mod ca;
pub mod certs;
pub mod config;
pub mod converge;
pub mod handover;
pub mod health;
pub mod image;
pub mod lock;
pub mod member;
pub mod monitor;
pub mod passwords;
pub mod plan_report;
pub mod probe;
pub mod repo;
pub mod restart;
pub mod roles;
pub mod roll;
pub mod session;
pub mod silence;
pub mod writer;
